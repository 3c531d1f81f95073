/**
 * Wire names shared by the server and the browser runtime (PROTOCOL.md §2–§3).
 * Browsers, API clients and black-box tests depend on these strings: change one only together
 * with every client of it. The browser bundle imports this module, so keep it free of Node APIs.
 */

export const ROUTES = {
  action: '/api/livecomponents/action',
  clientScript: '/livecomponents/client.js',
} as const;

export const HEADERS = {
  csrfToken: 'x-csrf-token',
  idempotencyKey: 'idempotency-key',
  idempotentReplayed: 'idempotent-replayed',
  requestId: 'x-request-id',
  rateLimitLimit: 'x-ratelimit-limit',
  rateLimitRemaining: 'x-ratelimit-remaining',
  rateLimitReset: 'x-ratelimit-reset',
  rateLimitPolicy: 'ratelimit-policy',
  rateLimit: 'ratelimit',
  retryAfter: 'retry-after',
} as const;

/** Fields of the action request body. */
export const BODY = {
  componentId: 'component_id',
  action: 'action',
  params: 'params',
  csrfToken: '_csrf_token',
  idempotencyKey: 'idempotency_key',
} as const;

/** Attributes the browser runtime reads and writes. */
export const ATTR = {
  /** Root element of a component instance: `data-lc-id="counter:main"`. */
  id: 'data-lc-id',
  /** On a button or a form: the action to call. */
  action: 'data-lc-action',
  /** On a button: JSON object of params, merged over form fields. */
  params: 'data-lc-params',
  /** Set on the component root while a request is in flight. */
  loading: 'data-lc-loading',
  /** On an element inside a component: shows the messages of that field of a 400 `VALIDATION_FAILED`. */
  error: 'data-lc-error',
  /**
   * On a form with `data-lc-action`: after a successful answer its fields show what the server
   * rendered (the focused one too, which a morph otherwise leaves as typed), then the form is reset.
   */
  reset: 'data-lc-reset',
} as const;

/** `<meta name="csrf-token">` carries the page's CSRF token. */
export const CSRF_META_NAME = 'csrf-token';

/**
 * On that meta tag in strict mode (`csrf: { rotation: 'per-action' }`): each token works once, so the
 * runtime sends actions one at a time and takes a fresh token from the page before a retry.
 */
export const CSRF_SINGLE_USE_ATTR = 'data-lc-single-use';

/**
 * The Trusted Types policy through which the runtime parses the server's HTML; a page whose CSP has
 * `require-trusted-types-for 'script'` lists it: `trusted-types livecomponents`.
 */
export const TRUSTED_TYPES_POLICY = 'livecomponents';

/** DOM events dispatched (bubbling) on the component root. */
export const EVENTS = {
  success: 'lc:success',
  error: 'lc:error',
} as const;

/** Session cookie names (PROTOCOL §2): `__Host-` prefix only where the cookie is `Secure`. */
export const SESSION_COOKIE = {
  secure: '__Host-lc_session',
  plain: 'lc_session',
} as const;

/** Body of a successful action response. */
export interface ActionSuccessBody {
  html: string;
  state: Record<string, unknown>;
  csrf_token: string;
  idempotency?: IdempotencyMeta;
}

export interface IdempotencyMeta {
  key: string;
  cached: boolean;
  /** Seconds this result stays replayable. */
  ttl: number;
  /** ISO 8601 time the original response was produced. */
  created_at: string;
}

/** Body of every error response. */
export interface ErrorBody {
  error: string;
  code: string;
  request_id: string;
  errors?: Record<string, string[]>;
  retry_after?: number;
  limit?: number;
  window?: number;
  csrf_token?: string;
}
