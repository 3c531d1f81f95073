/**
 * CORS for `/api/*` (PROTOCOL §4) with `@fastify/cors`: only exact configured origins are echoed,
 * always with `Access-Control-Allow-Credentials: true`; every `/api/*` answer carries
 * `Vary: Origin`; preflights of allowed origins are answered (204) before any other hook, those of
 * other origins get no CORS headers (and a 405 naming the path's methods, or a 404). An `Origin` that is not allowed — `null`, a
 * look-alike such as `https://app.example.com.evil.test` or `https://evilapp.example.com`, another
 * scheme or port — is logged as `malicious_cors` (an action that its CSRF stage refuses is the
 * exception: that stage logs `malicious_csrf`, one event per request). Matching is by exact string on serialised
 * origins: no suffix, prefix or pattern ever matches.
 *
 * The app's own origin is always allowed (browsers send `Origin` on same-origin POSTs too).
 * `*` cannot be configured: with credentials it would hand every site the user's session.
 */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LiveError } from '../core/errors.js';
import { HEADERS, ROUTES } from '../core/wire.js';
import { sendError } from '../http/error-mapping.js';
import { routedPath } from '../http/routed-path.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { isSameOriginNull, normaliseOrigin } from '../pipeline/csrf/origins.js';

export interface ApiCorsOptions {
  /** From `resolveApiOrigins`. */
  origins: ReadonlySet<string>;
  events: SecurityEventSink;
  /** Paths that get CORS. @default '/api/' */
  pathPrefix?: string;
  /** `Access-Control-Max-Age` of preflights, seconds. @default 600 */
  maxAgeSeconds?: number;
}

/** Thrown for a CORS configuration that must not start. */
export class CorsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorsConfigError';
  }
}

/**
 * The exact origins allowed to call `/api/*` with credentials: the app's own and every listed one
 * (`CORS_ALLOWED_ORIGINS`, `FRONTEND_URL`, `APP_URL`), serialised as browsers send them.
 * @throws CorsConfigError for `*` (credentials are on) or anything that is not an http(s) origin
 * @example resolveApiOrigins('https://app.example.com', ['https://admin.example.com'])
 */
export function resolveApiOrigins(appOrigin: string, listed: readonly string[]): ReadonlySet<string> {
  const origins = new Set<string>();
  for (const entry of [appOrigin, ...listed]) {
    const text = entry.trim();
    if (text === '*' || text.includes('*')) {
      throw new CorsConfigError('CORS: `*` cannot be combined with credentials; list exact origins such as https://app.example.com');
    }
    try {
      origins.add(normaliseOrigin(text));
    } catch (error) {
      throw new CorsConfigError(`CORS: ${(error as Error).message.replace(/^CSRF origin/, 'origin')}`);
    }
  }
  return origins;
}

const ALLOWED_HEADERS = ['content-type', 'authorization', HEADERS.csrfToken, HEADERS.idempotencyKey, HEADERS.requestId];
const EXPOSED_HEADERS = [
  HEADERS.requestId,
  HEADERS.retryAfter,
  HEADERS.rateLimitLimit,
  HEADERS.rateLimitRemaining,
  HEADERS.rateLimitReset,
  HEADERS.rateLimitPolicy,
  HEADERS.rateLimit,
  HEADERS.idempotentReplayed,
];

const INVALID_PREFLIGHT = 'A CORS preflight needs an Access-Control-Request-Method header.';

/** Registers CORS on `app` (root level, so the action route is covered too). */
export async function registerApiCors(app: FastifyInstance, options: ApiCorsOptions): Promise<void> {
  const { origins, events } = options;
  const prefix = options.pathPrefix ?? '/api/';
  const allowed = {
    credentials: true,
    methods: ['GET', 'POST'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: options.maxAgeSeconds ?? 600,
    // Checked by the hook below instead: the plugin's own check answers text/plain
    // "Invalid Preflight Request", outside PROTOCOL's error shape.
    strictPreflight: false,
  };
  const refused = { origin: false } as const;

  // A preflight of an allowed origin that names no method (browsers always send one) is no
  // preflight: 400 INVALID_REQUEST in PROTOCOL's shape, before the plugin's hook would answer it 204.
  // An OPTIONS request of an origin not allowed still gets no CORS handling at all (the delegator).
  /** One `malicious_cors` event for `request`. */
  const logRefused = (request: FastifyRequest): void =>
    events.emit({
      event: 'malicious_cors',
      level: 'WARN',
      description: `Cross-origin request from a disallowed origin ${JSON.stringify(String(request.headers.origin).slice(0, 100))}`,
      request: { ip: request.ip, method: request.method, url: request.url, headers: request.headers, requestId: String(request.id) },
    });

  app.addHook('onRequest', (request, reply, done) => {
    // An action from an origin the CSRF source check does not trust is refused as CSRF (403, by the
    // plugin or the pipeline, whatever its body), which logs `malicious_csrf` naming the check: logged
    // here too, it would be two events. These origins are the app's to configure apart from the CSRF
    // stage's (`registerAuth` and the runtime each take `allowedOrigins`): an origin the stage trusts
    // but CORS does not gets another answer, and is logged here. So the decision waits for the answer.
    if (isAction(request) && typeof request.headers.origin === 'string' && !origins.has(request.headers.origin) && !isSameOriginNull(request.headers)) {
      // 'close' comes for every response, also one the client gave up on.
      reply.raw.once('close', () => {
        if (reply.statusCode !== 403) logRefused(request);
      });
    }
    if (
      request.method === 'OPTIONS' &&
      request.headers['access-control-request-method'] === undefined &&
      typeof request.headers.origin === 'string' &&
      origins.has(request.headers.origin) &&
      isUnder(request.url, prefix)
    ) {
      sendError(new LiveError('INVALID_REQUEST', { message: INVALID_PREFLIGHT }), request, reply);
      return;
    }
    done();
  });

  await app.register(cors, {
    hook: 'onRequest',
    delegator(request: FastifyRequest, callback) {
      if (!isUnder(request.url, prefix)) return callback(null, refused);
      const origin = request.headers.origin;
      // The app's own page under `Referrer-Policy: no-referrer`: same-origin, so no CORS and no event.
      if (origin === undefined || isSameOriginNull(request.headers)) return callback(null, refused);
      if (typeof origin === 'string' && origins.has(origin)) return callback(null, { ...allowed, origin });
      // An action is logged once it is answered (the hook above), by whichever layer refused it.
      if (!isAction(request)) logRefused(request);
      return callback(null, refused);
    },
  });
}

/**
 * A POST the router sends to the component action route: its route, not the raw target, which
 * `/api/livecomponents/%61ction` spells otherwise (the router decodes it; the CSRF stage refused it and
 * CORS, comparing text, logged it too: two events for one request).
 */
const isAction = (request: FastifyRequest): boolean => request.method === 'POST' && request.routeOptions.url === ROUTES.action;

/**
 * Whether a request's `Origin` (when it has one) is one of `origins`. Requests without `Origin` pass,
 * and so does the app's own page under `Referrer-Policy: no-referrer` (`isSameOriginNull`).
 */
export function originAllowed(headers: FastifyRequest['headers'], origins: ReadonlySet<string>): boolean {
  const origin = headers.origin;
  return origin === undefined || (typeof origin === 'string' && origins.has(origin)) || isSameOriginNull(headers);
}

/** Whether `url` is under `prefix` as the router reads it (`/%61pi/…` is routed to the API too; an undecodable path, which the router refuses first, as its text). */
const isUnder = (url: string, prefix: string): boolean => (routedPath(url) ?? url).startsWith(prefix);
