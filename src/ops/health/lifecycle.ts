/**
 * The two flags the probes answer from, shared by the health routes and graceful shutdown: one
 * object written by start-up (`startupDone`) and by the signal handler (`shuttingDown`), read on
 * every probe. Plain fields rather than events, so a probe costs one property read.
 */
export interface LifecycleState {
  /** Set once start-up (migrations, key load, plugins) has finished: `/health/startup` turns 200. */
  startupDone: boolean;
  /** Set the moment shutdown begins: `/health/ready` and `/health` turn 503 at once. */
  shuttingDown: boolean;
}

/** A fresh state: not started, not shutting down. */
export function createLifecycleState(): LifecycleState {
  return { startupDone: false, shuttingDown: false };
}
