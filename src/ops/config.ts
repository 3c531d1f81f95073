/**
 * The environment (PROTOCOL §1 plus the operations variables) parsed by one zod schema. A bad
 * value names its variable and says what is wrong; every problem is reported at once; secrets and
 * URLs that may carry passwords are never echoed back. With `NODE_ENV=production` the start-up
 * rules of `config-rules.ts` also apply (PROTOCOL §6). `docs/reference/config.md` documents each
 * variable.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { MAX_TIMER_MS } from '../core/deadline.js';
import { createKeyRing, parseStateKeys } from '../pipeline/state/keyring.js';
import { parseDatabaseUrl } from '../sql/url.js';
import { parseLogDestination, parseLogFormat } from './logging/destination.js';
import { decodeSecret, fallbackProblem } from '../runtime/dev-files.js';
import { startupProblems } from './config-rules.js';
import { allowedHostList } from './metrics/hosts.js';
import { DEFAULT_NEW_SESSIONS } from '../pipeline/rate-limit/new-sessions.js';
import { FLOOD_LIMIT_DEFAULTS, MAX_FLOOD_LINES, type FloodLimitOptions } from './log-flood.js';
import {
  bearerToken,
  httpUrl,
  oneOf,
  origins,
  port,
  secretList,
  secretText,
  schemeUrl,
  redisKeyPrefix,
  redisUrls,
  lifetimeMinutes,
  limitOrOff,
  listenHost,
  mailbox,
  timerMinutes,
  trustProxy,
  wholeNumber,
  yesNo,
} from './config-fields.js';

/** A variable read by `parse`; blank means unset. `parse` throws an Error saying what is wrong. */
function variable<T>(parse: (text: string) => T) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): T | undefined => {
      const text = raw?.trim();
      if (text === undefined || text === '') return undefined;
      try {
        return parse(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
        return z.NEVER;
      }
    });
}

/** `LC_STATE_KEYS` must parse as a key ring (32-byte base64 keys, no duplicates); kept as text. */
function stateKeys(text: string): string {
  createKeyRing(parseStateKeys(text));
  return text;
}

function databaseUrl(text: string): string {
  parseDatabaseUrl(text);
  return text;
}

/** Checked by the logging module's own parser; kept as text for it to read at start-up. */
function logDestination(text: string): string {
  parseLogDestination(text);
  return text;
}

/** `floodLimit.linesPerWindow` of the security logger: 0 (off) up to the option's own bound. */
function floodLines(text: string): number {
  const n = wholeNumber(0)(text);
  if (n > MAX_FLOOD_LINES) throw new Error(`must be at most ${MAX_FLOOD_LINES} (got "${text}")`);
  return n;
}

/** `floodLimit.windowMs`: ms, 1 up to a timer's limit (the window's sweep is a timer). */
function floodWindowMs(text: string): number {
  const n = wholeNumber(1)(text);
  if (n > MAX_TIMER_MS) throw new Error(`must be at most ${MAX_TIMER_MS} ms (got "${text}")`);
  return n;
}

/** `serverOptions({ maxEventLoopDelayMs })`: ms, 0 (no load shedding) up to a timer's limit. */
function eventLoopDelayMs(text: string): number {
  const n = wholeNumber(0)(text);
  if (n > MAX_TIMER_MS) throw new Error(`must be at most ${MAX_TIMER_MS} ms (got "${text}")`);
  return n;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every variable the app reads. Each field accepts `undefined` (unset), so defaults apply later. */
export const envSchema = z.object({
  PORT: variable(port),
  HOST: variable(listenHost),
  NODE_ENV: variable(oneOf(['development', 'production', 'test'] as const)),
  DATABASE_URL: variable(databaseUrl),
  REDIS_URL: variable(redisUrls),
  REDIS_KEY_PREFIX: variable(redisKeyPrefix),
  LC_STATE_KEYS: variable(stateKeys),
  LC_SESSION_SECRET: variable(secretText),
  LC_SESSION_SECRET_FALLBACKS: variable(secretList),
  CORS_ALLOWED_ORIGINS: variable(origins),
  FRONTEND_URL: variable(origins),
  APP_URL: variable(httpUrl),
  TRUST_PROXY: variable(trustProxy),
  BEHIND_PROXY: variable(yesNo),
  LOG_FORMAT: variable(parseLogFormat),
  LOG_DESTINATION: variable(logDestination),
  LOG_LEVEL: variable(oneOf(LOG_LEVELS)),
  HEALTH_TOKEN: variable(bearerToken),
  HEALTH_TOKEN_PREVIOUS: variable(bearerToken),
  METRICS_TOKEN: variable(bearerToken),
  METRICS_TOKEN_PREVIOUS: variable(bearerToken),
  METRICS_PORT: variable(port),
  METRICS_ALLOWED_HOSTS: variable(allowedHostList),
  MAX_CONNECTIONS: variable(wholeNumber(1)),
  MAX_EVENT_LOOP_DELAY_MS: variable(eventLoopDelayMs),
  INSTANCES: variable(wholeNumber(1)),
  SMTP_URL: variable(schemeUrl(['smtp:', 'smtps:'], 'smtp://user:pass@host:587 or smtps://…')),
  MAIL_FROM: variable(mailbox),
  SANCTUM_ACCESS_TOKEN_EXPIRATION: variable(lifetimeMinutes),
  SANCTUM_REFRESH_TOKEN_EXPIRATION: variable(lifetimeMinutes),
  TOKEN_CLEANUP_INTERVAL: variable(timerMinutes),
  SESSION_TTL: variable(lifetimeMinutes),
  NEW_SESSION_LIMIT: variable(limitOrOff),
  LOG_FLOOD_LIMIT: variable(floodLines),
  LOG_FLOOD_WINDOW_MS: variable(floodWindowMs),
});

/** The names of every variable the schema reads. */
export type EnvVariable = keyof typeof envSchema.shape;
export const ENV_VARIABLES = Object.keys(envSchema.shape) as EnvVariable[];

/** The parsed configuration. Times are in minutes, as in the variables. */
export interface AppConfig {
  /** Listen port. @default 3000 */
  PORT: number;
  /** Listen address. @default '127.0.0.1' */
  HOST: string;
  /** `production` turns on the strict checks. @default 'development' */
  NODE_ENV: 'development' | 'production' | 'test';
  /** `sqlite:PATH` or `postgres://…`. @default 'sqlite:./data/livecomponents.db' */
  DATABASE_URL: string;
  /** Shared store for several instances. @default undefined (the store is the embedded SQLite file) */
  REDIS_URL: string | undefined;
  /** Prepended to every Redis key, for two apps on one Redis (a Cluster has no database index). @default undefined */
  REDIS_KEY_PREFIX: string | undefined;
  /** Comma-separated base64 32-byte keys, newest first. @default undefined (development: generated) */
  LC_STATE_KEYS: string | undefined;
  /** Secret of at least 32 bytes for session/CSRF HMACs. @default undefined (development: generated) */
  LC_SESSION_SECRET: string | undefined;
  /**
   * Comma-separated secrets whose CSRF tokens still verify (none is issued with them): the previous
   * `LC_SESSION_SECRET` during a rotation, or the next one in its first step; at most 4.
   * @default undefined (none)
   */
  LC_SESSION_SECRET_FALLBACKS: string[] | undefined;
  /** Exact origins from `CORS_ALLOWED_ORIGINS`. @default undefined */
  CORS_ALLOWED_ORIGINS: string[] | undefined;
  /** Exact origins from `FRONTEND_URL` (seed name, same meaning). @default undefined */
  FRONTEND_URL: string[] | undefined;
  /** The public URL. @default undefined (then `http://HOST:PORT`) */
  APP_URL: string | undefined;
  /** Fastify `trustProxy`: off, every hop, a hop count, or addresses/CIDRs. @default false */
  TRUST_PROXY: boolean | number | string[];
  /** A reverse proxy is declared in front (then `TRUST_PROXY` must be set). @default false */
  BEHIND_PROXY: boolean;
  /** @default 'json' in production, else 'pretty' */
  LOG_FORMAT: 'pretty' | 'json';
  /** `stdout`, `file:PATH`, `syslog:URL` or `otlp:URL`. @default 'stdout' */
  LOG_DESTINATION: string;
  /** @default 'info' */
  LOG_LEVEL: (typeof LOG_LEVELS)[number];
  /** Bearer token for the detailed health report. @default undefined */
  HEALTH_TOKEN: string | undefined;
  /** A second token `GET /health` also accepts while `HEALTH_TOKEN` changes (needs `HEALTH_TOKEN`). @default undefined */
  HEALTH_TOKEN_PREVIOUS: string | undefined;
  /** Bearer token that `/metrics` requires. @default undefined */
  METRICS_TOKEN: string | undefined;
  /** A second token `/metrics` also accepts while `METRICS_TOKEN` changes (needs `METRICS_TOKEN`). @default undefined */
  METRICS_TOKEN_PREVIOUS: string | undefined;
  /** Serve `/metrics` on this separate port instead. @default undefined */
  METRICS_PORT: number | undefined;
  /**
   * Host names `/metrics` answers to besides IP addresses and `localhost` (`registerMetricsRoute`'s
   * `allowedHosts`); set, every scrape's `Host` is checked. @default undefined (only requests reaching a loopback address, without `METRICS_TOKEN`)
   */
  METRICS_ALLOWED_HOSTS: string[] | undefined;
  /** Most connections the server holds open (`serverOptions({ maxConnections })`). @default the open-files limit minus headroom */
  MAX_CONNECTIONS: number | undefined;
  /** Event-loop lag, ms, past which requests are shed with 503 (`serverOptions({ maxEventLoopDelayMs })`); 0 turns it off. @default undefined (1000) */
  MAX_EVENT_LOOP_DELAY_MS: number | undefined;
  /** Declared number of instances; more than 1 needs `REDIS_URL`. @default 1 */
  INSTANCES: number;
  /** Mail transport (password reset). @default undefined */
  SMTP_URL: string | undefined;
  /**
   * Sender of the reset mail: `Name <addr@host>` or `addr@host`.
   * @default `no-reply@<APP_URL's host name>`, or `LiveComponents <no-reply@localhost>` without `APP_URL` (or with an IP address in it)
   */
  MAIL_FROM: string;
  /** Access token lifetime, minutes, at most `MAX_LIFETIME_MINUTES` (100 years). @default 15 */
  SANCTUM_ACCESS_TOKEN_EXPIRATION: number;
  /** Refresh token lifetime, minutes, at most `MAX_LIFETIME_MINUTES` (100 years). @default 10080 */
  SANCTUM_REFRESH_TOKEN_EXPIRATION: number;
  /** Minutes between expired-token clean-ups, at most `MAX_TIMER_MINUTES` (35791); 0 turns the in-process timer off. @default 1440 */
  TOKEN_CLEANUP_INTERVAL: number;
  /** Session idle lifetime, minutes, at most `MAX_LIFETIME_MINUTES` (100 years). @default 1440 */
  SESSION_TTL: number;
  /**
   * New sessions a signed-out client (its IP under `TRUST_PROXY`, IPv6 by /56) may start per minute
   * (`newSessionLimit`: a burst of this many, then this many spread over the minute); past it a page
   * view without a session answers 429 and stores nothing. `0` turns the limit off. @default 300
   */
  NEW_SESSION_LIMIT: number;
  /**
   * Lines of one refusal security event (`malicious_csrf`, `excess_rate_limit_exceeded`, …) written
   * per client and window, with the request lines of those requests; the rest counted into one
   * summary line (`createSecurityLogger({ floodLimit })`, docs/logging.md "Floods"). `0` writes
   * every line. From 0 to 1000000. @default undefined (10)
   */
  LOG_FLOOD_LIMIT?: number | undefined;
  /** The window of `LOG_FLOOD_LIMIT`, ms from a client's first line of an event (`floodLimit.windowMs`). @default undefined (60000) */
  LOG_FLOOD_WINDOW_MS?: number | undefined;
  /** The app's own origin for CSRF origin checks: `APP_URL`'s origin, else `http://HOST:PORT`. */
  appOrigin: string;
  /** Exact origins allowed besides the app's own (CORS and CSRF): both lists, or the default. */
  allowedOrigins: string[];
  /** `NODE_ENV === 'production'`. */
  production: boolean;
  /** Cookies are `Secure` (`__Host-` session cookie): production with an https `APP_URL`. */
  secureCookies: boolean;
}

/**
 * One problem: the variable to change and a sentence that starts with its name. Only the
 * doctor's code-level checks (the redaction list) have no variable.
 */
export interface ConfigIssue {
  readonly variable?: EnvVariable;
  readonly message: string;
}

/** Thrown by `loadConfig`: `problems` holds every problem, one line each, each naming its variable. */
export class ConfigError extends Error {
  /** Stable code for programs and logs. */
  readonly code = 'CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(readonly issues: readonly ConfigIssue[]) {
    const problems = issues.map((i) => i.message);
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * The runtime's `newSessionLimit` for `NEW_SESSION_LIMIT` (per minute; `0`: off), for the app to pass
 * to `createLiveComponents`.
 */
export function newSessionLimitOf(config: Pick<AppConfig, 'NEW_SESSION_LIMIT'>): false | { limit: number; windowSeconds: number } {
  return config.NEW_SESSION_LIMIT === 0 ? false : { limit: config.NEW_SESSION_LIMIT, windowSeconds: DEFAULT_NEW_SESSIONS.windowSeconds };
}

/**
 * The security logger's `floodLimit` for `LOG_FLOOD_LIMIT` and `LOG_FLOOD_WINDOW_MS` (`0` lines:
 * `false`, every line written), for the app to pass to `createSecurityLogger`. Unset, the library's
 * defaults (`FLOOD_LIMIT_DEFAULTS`).
 */
export function floodLimitOf(config: Pick<AppConfig, 'LOG_FLOOD_LIMIT' | 'LOG_FLOOD_WINDOW_MS'>): false | FloodLimitOptions {
  if (config.LOG_FLOOD_LIMIT === 0) return false;
  return { linesPerWindow: config.LOG_FLOOD_LIMIT ?? FLOOD_LIMIT_DEFAULTS.linesPerWindow, windowMs: config.LOG_FLOOD_WINDOW_MS ?? FLOOD_LIMIT_DEFAULTS.windowMs };
}

/** The variables that have a format problem (their value fell back to the default). */
export function invalidVariables(issues: readonly ConfigIssue[]): Set<EnvVariable> {
  return new Set(issues.flatMap((i) => (i.variable === undefined ? [] : [i.variable])));
}

/** Prefixes `message` with `variable` unless it already starts with it. */
export function configIssue(variable: EnvVariable, message: string): ConfigIssue {
  return { variable, message: message.startsWith(variable) ? message : `${variable}: ${message}` };
}

/**
 * The default of `CORS_ALLOWED_ORIGINS` outside production (production allows only its own origin by
 * default): `http://localhost:3000`, and `http://localhost:PORT` too on another port — the app's own
 * origin is `http://127.0.0.1:PORT`, and a developer who opened `localhost` on `PORT=3001` saw the
 * page and every action refused (403), the page only saying it was refreshed.
 */
const developmentOrigins = (port: number): string[] => [...new Set(['http://localhost:3000', `http://localhost:${port}`])];

/**
 * Parses `env` without judging production readiness: the configuration (an invalid variable falls
 * back to its default) and the format problems. `runDoctor` and `loadConfig` build on it.
 */
export function parseEnv(env: Readonly<Record<string, string | undefined>>): { config: AppConfig; issues: ConfigIssue[] } {
  const input: Record<string, string | undefined> = {};
  for (const name of ENV_VARIABLES) input[name] = env[name];
  const first = envSchema.safeParse(input);
  const issues: ConfigIssue[] = [];
  if (!first.success) {
    for (const i of first.error.issues) {
      const name = i.path[0] as EnvVariable;
      issues.push(configIssue(name, i.message));
      input[name] = undefined; // every field accepts unset, so the second parse succeeds
    }
  }
  const e = first.success ? first.data : envSchema.parse(input);
  const NODE_ENV = e.NODE_ENV ?? 'development';
  const production = NODE_ENV === 'production';
  const PORT = e.PORT ?? 3000;
  const HOST = e.HOST ?? '127.0.0.1';
  const hostForUrl = HOST === '0.0.0.0' || HOST === '::' ? 'localhost' : HOST.includes(':') ? `[${HOST}]` : HOST;
  const listed = [...(e.CORS_ALLOWED_ORIGINS ?? []), ...(e.FRONTEND_URL ?? [])];
  const config: AppConfig = {
    ...e,
    PORT,
    HOST,
    NODE_ENV,
    DATABASE_URL: e.DATABASE_URL ?? 'sqlite:./data/livecomponents.db',
    TRUST_PROXY: e.TRUST_PROXY ?? false,
    BEHIND_PROXY: e.BEHIND_PROXY ?? false,
    LOG_FORMAT: e.LOG_FORMAT ?? (production ? 'json' : 'pretty'),
    LOG_DESTINATION: e.LOG_DESTINATION ?? 'stdout',
    LOG_LEVEL: e.LOG_LEVEL ?? 'info',
    INSTANCES: e.INSTANCES ?? 1,
    SANCTUM_ACCESS_TOKEN_EXPIRATION: e.SANCTUM_ACCESS_TOKEN_EXPIRATION ?? 15,
    SANCTUM_REFRESH_TOKEN_EXPIRATION: e.SANCTUM_REFRESH_TOKEN_EXPIRATION ?? 10_080,
    TOKEN_CLEANUP_INTERVAL: e.TOKEN_CLEANUP_INTERVAL ?? 1440,
    SESSION_TTL: e.SESSION_TTL ?? 1440,
    NEW_SESSION_LIMIT: e.NEW_SESSION_LIMIT ?? DEFAULT_NEW_SESSIONS.limit,
    MAIL_FROM: e.MAIL_FROM ?? defaultMailFrom(e.APP_URL),
    appOrigin: e.APP_URL ? new URL(e.APP_URL).origin : `http://${hostForUrl}:${PORT}`,
    allowedOrigins: listed.length > 0 ? [...new Set(listed)] : production ? [] : developmentOrigins(PORT),
    production,
    secureCookies: production && e.APP_URL?.startsWith('https:') === true,
  };
  issues.push(...crossFieldIssues(config));
  return { config, issues };
}

/** The sender when `MAIL_FROM` is unset: an address of the app's own domain where there is one. */
export const LOCAL_MAIL_FROM = 'LiveComponents <no-reply@localhost>';

function defaultMailFrom(appUrl: string | undefined): string {
  if (appUrl === undefined) return LOCAL_MAIL_FROM;
  const host = new URL(appUrl).hostname.replace(/\.$/, ''); // http(s) host names come lower-cased and in punycode
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) return LOCAL_MAIL_FROM;
  try {
    return mailbox(`no-reply@${host}`);
  } catch {
    return LOCAL_MAIL_FROM; // a host name a mail domain cannot be (`app_1.example.com`)
  }
}

/** Rules between two variables that hold in every environment. */
function crossFieldIssues(c: AppConfig): ConfigIssue[] {
  const found: ConfigIssue[] = [];
  if (c.METRICS_PORT !== undefined && c.METRICS_PORT !== 0 && c.METRICS_PORT === c.PORT) {
    found.push(configIssue('METRICS_PORT', `METRICS_PORT must differ from PORT (both are ${c.PORT})`));
  }
  found.push(...rotationIssues(c));
  if (c.SANCTUM_REFRESH_TOKEN_EXPIRATION < c.SANCTUM_ACCESS_TOKEN_EXPIRATION) {
    found.push(
      configIssue(
        'SANCTUM_REFRESH_TOKEN_EXPIRATION',
        `SANCTUM_REFRESH_TOKEN_EXPIRATION (${c.SANCTUM_REFRESH_TOKEN_EXPIRATION} min) must be at least SANCTUM_ACCESS_TOKEN_EXPIRATION (${c.SANCTUM_ACCESS_TOKEN_EXPIRATION} min)`,
      ),
    );
  }
  return found;
}

/**
 * The settings of a rotation under way, in every environment (start-up would refuse them, or they
 * would do nothing): a fallback that is the session secret itself or repeats another, and a previous
 * token without a current one (the route would be open) or equal to it.
 */
function rotationIssues(c: AppConfig): ConfigIssue[] {
  const found: ConfigIssue[] = [];
  if (c.LC_SESSION_SECRET_FALLBACKS !== undefined) {
    const current = c.LC_SESSION_SECRET === undefined ? undefined : decodeSecret(c.LC_SESSION_SECRET);
    const problem = fallbackProblem(current, c.LC_SESSION_SECRET_FALLBACKS.map(decodeSecret));
    if (problem !== undefined) found.push(configIssue('LC_SESSION_SECRET_FALLBACKS', problem));
  }
  for (const [previous, current] of [['HEALTH_TOKEN_PREVIOUS', 'HEALTH_TOKEN'], ['METRICS_TOKEN_PREVIOUS', 'METRICS_TOKEN']] as const) {
    const value = c[previous];
    if (value === undefined) continue;
    if (c[current] === undefined) {
      found.push(configIssue(previous, `${previous} is set but ${current} is not: set ${current} to the new token (${previous} is only accepted beside it)`));
    } else if (c[current] === value) {
      found.push(configIssue(previous, `${previous} has the same value as ${current}; leave it unset, or set it to the token being replaced`));
    }
  }
  return found;
}

/**
 * Reads the configuration. With `NODE_ENV=production`, also refuses keys or secrets that are
 * missing or weak, cookies that could not be `Secure`, and a declared proxy without `TRUST_PROXY`.
 * @param env the variables to read
 * @default env process.env
 * @throws {ConfigError} listing every problem at once
 * @example
 * const config = loadConfig(); // throws ConfigError with .problems when something is wrong
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): AppConfig {
  const { config, issues } = parseEnv(env);
  if (config.production) issues.push(...startupProblems(config, invalidVariables(issues)));
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}
