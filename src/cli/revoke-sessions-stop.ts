/**
 * `livecomponents revoke-sessions`: stopping at a safe point. The run asks a `StopCheck` between two
 * pieces of work (a transaction, a Redis page) and throws `Interrupted` there once SIGINT or SIGTERM
 * came, so nothing is left half-written.
 */

/** The signal a run was asked to stop by (SIGINT, SIGTERM), once it was; asked at each safe point. */
export type StopCheck = () => NodeJS.Signals | undefined;

export const NEVER: StopCheck = () => undefined;

/** Thrown at a safe point (between two pieces, nothing half-written) of a run asked to stop. */
export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/** Throws `Interrupted` when the run was asked to stop. */
export function stopIfAsked(stop: StopCheck): void {
  const signal = stop();
  if (signal !== undefined) throw new Interrupted(signal);
}
