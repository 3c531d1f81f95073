/**
 * The one registry of error codes (PROTOCOL.md §3–§4). `docs/reference/errors.md` documents every
 * code here; `errors.test.ts` keeps the two in step.
 */

export const ERROR_CODES = {
  INVALID_REQUEST: { status: 400, message: 'The request is malformed.' },
  VALIDATION_FAILED: { status: 400, message: 'The parameters are invalid.' },
  IDEMPOTENCY_KEY_INVALID: { status: 400, message: 'The idempotency key must be 1 to 255 printable ASCII characters.' },
  IDEMPOTENCY_KEY_REQUIRED: { status: 400, message: 'This action requires an idempotency key.' },
  UNAUTHENTICATED: { status: 401, message: 'You must be signed in to do this.' },
  INVALID_CREDENTIALS: { status: 401, message: 'The email or password is incorrect.' },
  INVALID_TOKEN: { status: 401, message: 'The access token is missing, invalid or expired.' },
  REFRESH_TOKEN_INVALID: { status: 401, message: 'The refresh token is missing, invalid or expired.' },
  RESET_TOKEN_INVALID: { status: 400, message: 'This password reset link is invalid, expired or already used. Ask for a new one.' },
  CSRF_TOKEN_INVALID: { status: 403, message: 'Invalid security token. Please refresh the page.' },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do this.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  COMPONENT_NOT_FOUND: { status: 404, message: 'This component does not exist in this session.' },
  ACTION_NOT_FOUND: { status: 404, message: 'This action does not exist.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed here.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive.' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, message: 'A request with this idempotency key is still being processed.' },
  STATE_INVALID: { status: 409, message: 'The component state could not be verified. Reload the component.' },
  EMAIL_TAKEN: { status: 409, message: 'An account with this email already exists.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  URI_TOO_LONG: { status: 414, message: 'The request URL is too long.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be JSON (application/json).' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This idempotency key was already used for a different request.' },
  RATE_LIMIT_EXCEEDED: { status: 429, message: 'Too many requests. Please wait and try again.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large (too many or too long cookies?).' },
  INTERNAL_ERROR: { status: 500, message: 'Something went wrong on our side.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'The service is temporarily unavailable. Please try again.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Extra JSON fields an error may carry to the client (PROTOCOL §3). */
export interface ErrorFields {
  errors?: Record<string, string[]>;
  retry_after?: number;
  limit?: number;
  window?: number;
}

/**
 * Base of every error the framework answers with. `expose` says whether `message` may reach the
 * client; when false the client gets the registry's generic message and the detail stays in the log.
 */
export class LiveError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly expose: boolean;
  readonly fields: ErrorFields | undefined;
  /** Response headers that belong to this error (for example `Retry-After`). */
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    options: { message?: string; expose?: boolean; fields?: ErrorFields; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.message ?? registered(code).message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LiveError';
    this.code = code;
    this.statusCode = registered(code).status;
    // Server errors never expose their message; client errors do unless told otherwise.
    this.expose = this.statusCode < 500 && (options.expose ?? true);
    this.fields = options.fields;
    this.headers = options.headers;
  }

  /** The sentence the client sees. */
  get publicMessage(): string {
    return this.expose ? this.message : ERROR_CODES[this.code].message;
  }
}

/**
 * The registry's entry for `code`. An own key only: a code of the app's own (`OUT_OF_STOCK`) failed
 * with "Cannot read properties of undefined", and an inherited name (`constructor`, `toString`) made
 * an error without a status, which Fastify refused while answering (a second error, no CSRF token).
 */
function registered(code: ErrorCode): { status: number; message: string } {
  if (typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)) return ERROR_CODES[code];
  throw new TypeError(
    `LiveError: unknown error code ${JSON.stringify(code)}; the codes are those of docs/reference/errors.md (for a business rule of your own, VALIDATION_FAILED with fields: { errors: { field: [message] } })`,
  );
}

/** A store (or another dependency) is down or too slow: answered as 503 `SERVICE_UNAVAILABLE`. */
export class StoreUnavailableError extends LiveError {
  constructor(detail: string, cause?: unknown) {
    super('SERVICE_UNAVAILABLE', { message: detail, expose: false, cause });
    this.name = 'StoreUnavailableError';
  }
}

/**
 * An action that did not settle within the runtime's `actionTimeoutMs`: answered as 500
 * `INTERNAL_ERROR` (the detail is logged). The action itself cannot be stopped and may still finish.
 */
export class ActionTimeoutError extends LiveError {
  constructor(detail: string) {
    super('INTERNAL_ERROR', { message: detail, expose: false });
    this.name = 'ActionTimeoutError';
  }
}

/** The text of anything thrown, for a log line or a report: an Error's message (else its name), or the value as text. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  try {
    return String(error);
  } catch {
    // An object without a prototype (`Object.create(null)`) has no toString: String() throws.
    return Object.prototype.toString.call(error);
  }
}

export function isLiveError(value: unknown): value is LiveError {
  return value instanceof LiveError;
}
