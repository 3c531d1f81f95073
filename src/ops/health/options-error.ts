import { MAX_TIMER_MS, MAX_TIMER_TEXT } from '../../core/deadline.js';

/**
 * A bad option given to an operations factory (health, metrics, shutdown). Thrown at start-up,
 * never per request, so a misconfigured app refuses to start instead of misbehaving later.
 */
export class InvalidOptionError extends TypeError {
  /** Stable code for programs that catch it. */
  readonly code = 'LC_INVALID_OPTION';

  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'InvalidOptionError';
  }
}

/**
 * A positive number of milliseconds a timer can wait, or the error naming the option. Every such
 * option (health `timeoutMs`/`warnMs`, shutdown `graceMs`/`drainMs`) becomes a timer's delay, and
 * Node fires one of over `MAX_TIMER_MS` after 1 ms: `timeoutMs: 2 ** 31` failed every check at once
 * (`/health/ready` 503 for good), `graceMs: 2 ** 31` exited 1 at once.
 */
export function positiveMs(where: string, name: string, value: number): number {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new InvalidOptionError(where, `${name} must be a positive number of milliseconds (got ${String(value)})`);
  }
  if (value > MAX_TIMER_MS) throw new InvalidOptionError(where, `${name} must be at most ${MAX_TIMER_TEXT} (got ${value})`);
  return value;
}

/** An optional secret token: absent, or at least 16 characters without whitespace. */
export function optionalToken(where: string, name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length < MIN_TOKEN_LENGTH || /\s/.test(value)) {
    throw new InvalidOptionError(where, `${name} must be at least ${MIN_TOKEN_LENGTH} characters without whitespace`);
  }
  return value;
}

const MIN_TOKEN_LENGTH = 16;
