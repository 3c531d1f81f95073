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

/** A positive finite number of milliseconds, or the error naming the option. */
export function positiveMs(where: string, name: string, value: number): number {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new InvalidOptionError(where, `${name} must be a positive number of milliseconds (got ${String(value)})`);
  }
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
