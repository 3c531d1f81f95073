/**
 * The `err` serializer of `createLogger`: pino's own, except for the message of an error with causes.
 *
 * pino's serializer writes `message` as the error's message followed by every cause's (`A: B: C`).
 * Our errors often name their cause already (`PostgreSQL failed: connection refused`, whose cause is
 * `connection refused`), and a wrapper of that (`Migrations could not start: PostgreSQL failed: …`)
 * made the start-up line read `… PostgreSQL failed: X: PostgreSQL failed: X: X`. Here a cause's
 * message is appended only when the text so far does not contain it already.
 */
import pino from 'pino';

const MAX_CAUSES = 10;

export function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown;
  if (!(error instanceof Error) || typeof serialized !== 'object' || serialized === null) return serialized;
  let message = error.message;
  const seen = new Set<unknown>([error]);
  let cause: unknown = error.cause;
  for (let depth = 0; cause instanceof Error && !seen.has(cause) && depth < MAX_CAUSES; depth++) {
    seen.add(cause);
    if (cause.message !== '' && !message.includes(cause.message)) message = message === '' ? cause.message : `${message}: ${cause.message}`;
    cause = cause.cause;
  }
  (serialized as { message: string }).message = message;
  return serialized;
}
