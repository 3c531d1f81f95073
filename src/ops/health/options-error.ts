import { checkTimerDelay } from '../../core/deadline.js';

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
 * A number of milliseconds a timer can wait (1 to `MAX_TIMER_MS`), or the error naming the option.
 * Every such option (health `timeoutMs`/`warnMs`, shutdown `graceMs`/`drainMs`) is held to a
 * timer's delay, and Node waits 1 ms for one outside that range: `timeoutMs: 2 ** 31` failed every
 * check at once (`/health/ready` 503 for good), `graceMs: 2 ** 31` exited 1 at once, and a fraction
 * below 1 was taken for a wait of 1 ms.
 */
export function positiveMs(where: string, name: string, value: number): number {
  return checkTimerDelay(value, {}, (problem) => new InvalidOptionError(where, `${name} ${problem}`));
}

/** An optional secret token: absent, or at least 16 characters without whitespace. */
export function optionalToken(where: string, name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length < MIN_TOKEN_LENGTH || /\s/.test(value)) {
    throw new InvalidOptionError(where, `${name} must be at least ${MIN_TOKEN_LENGTH} characters without whitespace`);
  }
  return value;
}

/**
 * The `previousToken` option beside `token` (a token changing: both accepted): checked as a token,
 * and refused without `token` or equal to it. Shared by the health and metrics routes.
 */
export function optionalPreviousToken(where: string, token: string | undefined, value: string | undefined): string | undefined {
  const previous = optionalToken(where, 'previousToken', value);
  if (previous !== undefined && (token === undefined || previous === token)) {
    throw new InvalidOptionError(where, token === undefined ? 'previousToken needs token (it is only accepted beside it)' : 'previousToken must differ from token');
  }
  return previous;
}

const MIN_TOKEN_LENGTH = 16;
