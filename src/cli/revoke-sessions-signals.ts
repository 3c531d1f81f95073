/**
 * `livecomponents revoke-sessions`: SIGINT and SIGTERM while it runs. The first signal asks the run to
 * stop at its next safe point (the transaction or Redis page under way finishes first); a second one
 * is only said. Killed where it stood instead (Node's default), the tokens it had revoked were in no log.
 */
import type { StopCheck } from './revoke-sessions-stop.js';

/** The part of `process` the run listens to for SIGINT and SIGTERM. */
export interface SignalSource {
  on(signal: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
}

/** The exit code of a run stopped by `signal`: 128 and the signal's number, as a shell reports it. */
export const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Listens to `signals` until `stopListening`; `stop` answers the first signal that came. Each signal
 * is said on `err` as it comes.
 */
export function listenForStop(signals: SignalSource, err: (line: string) => void): { stop: StopCheck; stopListening: () => void } {
  let stopping: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping === undefined) {
      stopping = signal;
      err(`revoke-sessions: ${signal}: stopping after the transaction under way (at most seconds), then printing and logging what was done`);
    } else err(`revoke-sessions: ${signal}: already stopping, after the transaction under way`);
  };
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  return {
    stop: () => stopping,
    stopListening: () => {
      signals.off('SIGINT', onSignal);
      signals.off('SIGTERM', onSignal);
    },
  };
}
