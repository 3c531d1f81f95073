/**
 * Development only: the one log line that says why stored component state stopped opening after the
 * state key changed. Without it the developer saw only crypt_decrypt_fail lines (`unknown_key`, the
 * words of a key rotation rolling out across instances, or of tampering) while every component came
 * back at its initial state and the first click on each answered 409 STATE_INVALID.
 */
import type { Sealer } from '../pipeline/state/seal.js';

/**
 * `sealer`, telling `warn` once (the first blob sealed with a key the ring lacks; later ones say
 * nothing more) that the development state key most likely changed since the state was stored.
 * Only what `open` returns is looked at: the answer, the security events and the store's writes stay
 * as they were. Never used in production, whose sealer is the one `createSealer` built.
 * @param keyFile the development key file, named in the line (a path, no key material)
 */
export function withChangedKeyHint(sealer: Sealer, keyFile: string, warn: (message: string) => void): Sealer {
  let told = false;
  return {
    seal: (plaintext, binding) => sealer.seal(plaintext, binding),
    open(blob, binding) {
      const opened = sealer.open(blob, binding);
      if (!told && !opened.ok && opened.reason === 'unknown_key') {
        told = true;
        warn(changedKeyHint(keyFile));
      }
      return opened;
    },
  };
}

/** The line itself: the likely cause, what the developer sees meanwhile, and how to keep state next time. */
function changedKeyHint(keyFile: string): string {
  return (
    'Stored component state was sealed with a state key this process does not have. In development that most likely means the state key changed since ' +
    `(the key file ${keyFile} deleted or replaced, LC_STATE_KEYS changed, or a store kept from another checkout), not tampering: ` +
    'such components show their initial state, and the first action on each answers 409 STATE_INVALID and reloads it. ' +
    'Keep the key file, or set LC_STATE_KEYS, to keep state across restarts (said once per process).'
  );
}
