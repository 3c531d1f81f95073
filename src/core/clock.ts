/** Injected time source (STYLE §9): production uses `systemClock`, tests pass their own. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * The clock as SQL columns hold time: whole milliseconds (BIGINT). A clock may give fractions
 * (`performance.timeOrigin + performance.now()`); PostgreSQL refuses them for a BIGINT where SQLite
 * stores them, so the auth module floors once here and both engines see the same numbers.
 */
export function wholeMsClock(clock: Clock): Clock {
  return clock === systemClock ? clock : { now: () => Math.floor(clock.now()) };
}

/** A clock tests move by hand. */
export function manualClock(start = Date.UTC(2026, 0, 15, 10, 30)): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}
