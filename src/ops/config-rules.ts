/**
 * The production checklist as code: one named check per concern, listed once, in the order the
 * doctor prints them. Checks marked `startup` also stop `loadConfig` under `NODE_ENV=production`
 * (PROTOCOL §6); the others are reported by `livecomponents doctor` only. A check returns problems
 * that each start with the variable to change, and a summary line for when there are none.
 */
import { isAbsolute } from 'node:path';
import type { AppConfig, ConfigIssue, EnvVariable } from './config.js';
import { DEFAULT_DATABASE_URL, parseDatabaseUrl } from '../sql/url.js';
import { parseStateKeys } from '../pipeline/state/keyring.js';
import { isLoopbackHost, lowEntropyReason, MIN_SECRET_BYTES, parseMailbox, placeholderReason, smtpSecurityOf, urlForMessage } from './config-fields.js';
import { logDestinationForMessage } from './logging/destination.js';
import { decodeSecret } from '../runtime/dev-files.js';
import { censorLine, REDACT_PATHS } from './logging/redact.js';

export const CHECK_NAMES = [
  'config',
  'keys',
  'secrets',
  'https',
  'cookies',
  'cors',
  'trust-proxy',
  'redis',
  'metrics',
  'mail',
  'logging',
  'redaction',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface ConfigCheck {
  readonly name: CheckName;
  /** Variables whose format problems the doctor shows under this check (the rest go under `config`). */
  readonly variables: readonly EnvVariable[];
  /** In production a problem here stops start-up, not only the doctor. */
  readonly startup: boolean;
  run(config: AppConfig): { problems: ConfigIssue[]; summary: string };
}

const KEYGEN = '`npx livecomponents keygen` prints one';
const problem = (variable: EnvVariable, message: string): ConfigIssue => ({ variable, message });

const keys: ConfigCheck = {
  name: 'keys',
  variables: ['LC_STATE_KEYS'],
  startup: true,
  run(c) {
    if (c.LC_STATE_KEYS === undefined) {
      if (!c.production) return { problems: [], summary: 'LC_STATE_KEYS unset: development keys are generated under ./data' };
      return { problems: [problem('LC_STATE_KEYS', `LC_STATE_KEYS is not set; production needs at least one 32-byte key (${KEYGEN})`)], summary: '' };
    }
    const ring = parseStateKeys(c.LC_STATE_KEYS);
    const problems = c.production
      ? ring.flatMap((key, index) => {
          const reason = lowEntropyReason(key.material, 16);
          return reason ? [problem('LC_STATE_KEYS', `LC_STATE_KEYS: entry at index ${index} is weak (${reason}); ${KEYGEN}`)] : [];
        })
      : [];
    return { problems, summary: `${ring.length} state key(s), ids ${ring.map((k) => k.id).join(', ')}; the first seals` };
  },
};

const TOKENS = ['HEALTH_TOKEN', 'METRICS_TOKEN'] as const;
/** The tokens accepted beside them while they change, checked as they are. */
const PREVIOUS_TOKENS = ['HEALTH_TOKEN_PREVIOUS', 'METRICS_TOKEN_PREVIOUS'] as const;
const FALLBACKS = 'LC_SESSION_SECRET_FALLBACKS';

const secrets: ConfigCheck = {
  name: 'secrets',
  variables: ['LC_SESSION_SECRET', FALLBACKS, ...TOKENS, ...PREVIOUS_TOKENS],
  startup: true,
  run(c) {
    if (!c.production) return { problems: [], summary: 'development: secret strength is checked in production only' };
    const problems: ConfigIssue[] = [];
    const secret = c.LC_SESSION_SECRET;
    if (secret === undefined) {
      problems.push(problem('LC_SESSION_SECRET', `LC_SESSION_SECRET is not set; production needs at least ${MIN_SECRET_BYTES} random bytes (${KEYGEN})`));
    } else {
      const reason = weakness(secret);
      if (reason) problems.push(problem('LC_SESSION_SECRET', `LC_SESSION_SECRET is weak (${reason}); ${KEYGEN}`));
    }
    // Which setting holds each value: no token may be a session secret, current or fallback, nor another
    // token. Compared as the secret bytes start-up reads (`secretBytes`), so a token that is a secret's
    // base64 written another way (without padding, base64url) is the same value, as it is to the HMACs.
    const seen = new Map<string, string>(secret === undefined ? [] : [[secretBytes(secret), 'LC_SESSION_SECRET']]);
    const fallbacks = c[FALLBACKS] ?? [];
    fallbacks.forEach((fallback, index) => {
      const reason = weakness(fallback);
      if (reason) problems.push(problem(FALLBACKS, `${FALLBACKS}: entry at index ${index} is weak (${reason}); ${KEYGEN}`));
      const bytes = secretBytes(fallback);
      if (!seen.has(bytes)) seen.set(bytes, `${FALLBACKS} (entry at index ${index})`);
    });
    for (const name of [...TOKENS, ...PREVIOUS_TOKENS]) {
      const token = c[name];
      if (token === undefined) continue;
      const length = Buffer.byteLength(token, 'utf8');
      const reason = length < MIN_SECRET_BYTES ? `${length} bytes; at least ${MIN_SECRET_BYTES} are needed` : weakness(token);
      if (reason) problems.push(problem(name, `${name} is weak (${reason}); ${KEYGEN}`));
      const bytes = secretBytes(token);
      const twin = seen.get(bytes);
      if (twin) problems.push(problem(name, `${name} has the same value as ${twin}; give each its own secret`));
      else seen.set(bytes, name);
    }
    const tokens = [...TOKENS, ...PREVIOUS_TOKENS].filter((n) => c[n] !== undefined);
    const also = tokens.length === 0 ? '' : `; so ${tokens.length === 1 ? 'is' : 'are'} ${tokens.join(' and ')}`;
    const rotating = fallbacks.length === 0 ? '' : ` (and its ${fallbacks.length} fallback(s), which verify but never sign)`;
    return { problems, summary: `LC_SESSION_SECRET is strong${rotating}${also}` };
  },
};

/** A secret's or token's bytes as start-up reads a session secret (`decodeSecret`: base64 of 32+ bytes, else the text), as hex. */
function secretBytes(text: string): string {
  try {
    return decodeSecret(text).toString('hex');
  } catch {
    // Shorter than a session secret can be: compared as its text.
    return Buffer.from(text.trim(), 'utf8').toString('hex');
  }
}

function weakness(text: string): string | undefined {
  return placeholderReason(text) ?? lowEntropyReason(Buffer.from(text, 'utf8'), 10);
}

const https: ConfigCheck = {
  name: 'https',
  variables: ['APP_URL'],
  startup: true,
  run(c) {
    const url = c.APP_URL;
    if (!c.production) return { problems: [], summary: `development: the app answers on ${c.appOrigin}` };
    if (url === undefined) {
      return { problems: [problem('APP_URL', 'APP_URL is not set; production needs the public https:// address of the app')], summary: '' };
    }
    if (!url.startsWith('https:')) return { problems: [problem('APP_URL', 'APP_URL must start with https:// in production')], summary: '' };
    return { problems: [], summary: `public address ${c.appOrigin}` };
  },
};

const cookies: ConfigCheck = {
  name: 'cookies',
  variables: [],
  startup: true,
  run(c) {
    if (c.secureCookies) return { problems: [], summary: '__Host-lc_session, refresh_token and its companion __Host-lc_refresh_binding_token are Secure, HttpOnly and SameSite' };
    if (!c.production) return { problems: [], summary: 'development over http: lc_session is HttpOnly and SameSite, not Secure' };
    // Unset (or not a URL, reported by the https check too): the https check asks for an https://
    // address already, so one problem, not two; a set http:// address still gets its own below.
    if (c.APP_URL === undefined) return { problems: [], summary: 'not checked until APP_URL is an https:// address (see https)' };
    return {
      problems: [problem('APP_URL', 'APP_URL is not https, so cookies could not be Secure (the session cookie needs its __Host- prefix)')],
      summary: '',
    };
  },
};

const cors: ConfigCheck = {
  name: 'cors',
  variables: ['CORS_ALLOWED_ORIGINS', 'FRONTEND_URL'],
  startup: false,
  run(c) {
    const problems = c.production
      ? (['CORS_ALLOWED_ORIGINS', 'FRONTEND_URL'] as const).flatMap((name) =>
          (c[name] ?? [])
            .filter((origin) => !origin.startsWith('https:'))
            .map((origin) => problem(name, `${name}: ${origin} is not https; production origins must be https`)),
        )
      : [];
    const list = c.allowedOrigins.length ? c.allowedOrigins.join(', ') : `none besides ${c.appOrigin}`;
    return { problems, summary: `exact origins with credentials: ${list}` };
  },
};

/**
 * `TRUST_PROXY=true` believes the first X-Forwarded-For entry, which the client writes: behind a
 * proxy that appends its peer to the header (nginx `$proxy_add_x_forwarded_for`, most load
 * balancers), every request may name a new address, and each counts as a client of its own.
 */
const TRUST_ALL_RISK =
  'TRUST_PROXY=true believes every X-Forwarded-For entry, so behind a proxy that appends to the header a client picks its own address, a new one per request: rate limits, new-session limits and log flood limits then count per spoofed address; set TRUST_PROXY to the number of proxies in front (e.g. 1) or to the proxy addresses or CIDR (e.g. 10.0.0.0/8)';

/** The doctor's `trust-proxy` line for `TRUST_PROXY=true`. */
export const TRUST_ALL_WARNING = `warning: ${TRUST_ALL_RISK}`;

/**
 * What the running app says once at start-up, at `warn`, of settings the doctor passes with a
 * warning (its `ok` line reads `warning: …`), in the doctor's words: `TRUST_PROXY=true`. Only the
 * doctor said so, and an app started without running it gave no sign that any client could buy a
 * fresh rate-limit budget with a forged `X-Forwarded-For`. Not in `startupWarnings`, which lists the
 * doctor's FAILs. A hop count, addresses or CIDRs, or no proxy trusted: none.
 */
export function startupCautions(config: AppConfig): { check: CheckName; message: string }[] {
  return config.TRUST_PROXY === true ? [{ check: 'trust-proxy', message: `configuration: ${TRUST_ALL_RISK} (doctor: warning trust-proxy)` }] : [];
}

const trustProxy: ConfigCheck = {
  name: 'trust-proxy',
  variables: ['TRUST_PROXY', 'BEHIND_PROXY'],
  startup: true,
  run(c) {
    const trust = c.TRUST_PROXY;
    // A warning, not a problem (the doctor has no level between ok and FAIL, so it is the ok line's
    // text): `true` is right when the proxy replaces X-Forwarded-For, and nothing here can tell.
    if (trust === true) return { problems: [], summary: TRUST_ALL_WARNING };
    if (!c.BEHIND_PROXY) {
      return { problems: [], summary: trust === false ? 'no proxy declared; X-Forwarded-For is ignored' : `TRUST_PROXY=${String(trust)}` };
    }
    if (trust === false) {
      return {
        problems: [
          problem(
            'TRUST_PROXY',
            'TRUST_PROXY is unset or false but BEHIND_PROXY=true: every client would share the proxy address (rate limits, logs); set the hop count or the proxy CIDR',
          ),
        ],
        summary: '',
      };
    }
    return { problems: [], summary: `behind a proxy; trusting ${String(trust)}` };
  },
};

const redis: ConfigCheck = {
  name: 'redis',
  variables: ['REDIS_URL', 'INSTANCES'],
  startup: false,
  run(c) {
    if (c.REDIS_URL !== undefined) return { problems: [], summary: `${c.INSTANCES} instance(s) share Redis` };
    // Without Redis, sessions, state, idempotency and rate limits live in an embedded SQLite file
    // (runtime/backends.ts): durable, but on this machine only.
    if (c.INSTANCES === 1) return { problems: [], summary: '1 instance; sessions and state in an embedded SQLite file (no REDIS_URL)' };
    const target = parseDatabaseUrl(c.DATABASE_URL);
    // Processes on one file share it exactly (BEGIN IMMEDIATE across processes; docs/scaling.md).
    if (target.engine === 'sqlite' && target.path !== ':memory:') return { problems: [], summary: sharedSqliteSummary(c) };
    const where =
      target.engine === 'postgres'
        ? // PostgreSQL holds users and tokens only: the key-value data stays in the embedded file.
          `with PostgreSQL they stay in the embedded SQLite file ${DEFAULT_DATABASE_URL} of each instance, which instances on other hosts do not share`
        : 'each instance would keep its own in memory';
    return {
      problems: [problem('REDIS_URL', `REDIS_URL is not set but INSTANCES=${c.INSTANCES}: sessions, state, idempotency records and rate limits would not be shared (${where})`)],
      summary: '',
    };
  },
};

/** Several processes on one SQLite file: sound on one machine (the file's locks), not across hosts. */
function sharedSqliteSummary(c: AppConfig): string {
  const relative = !isAbsolute(c.DATABASE_URL.trim().replace(/^sqlite:(\/\/)?/, ''));
  return (
    `${c.INSTANCES} instances share the SQLite file ${c.DATABASE_URL.trim()} (no REDIS_URL), so they must all run on this one machine` +
    `${relative ? ', from the same working directory' : ''}: writes take turns across the processes (a write blocked 2 s answers 503); several hosts need REDIS_URL`
  );
}

const metrics: ConfigCheck = {
  name: 'metrics',
  variables: ['METRICS_PORT', 'METRICS_ALLOWED_HOSTS'],
  startup: false,
  run(c) {
    // Said only when set: unset, the default Host check (loopback connections, no token) needs no word.
    const hosts = c.METRICS_ALLOWED_HOSTS === undefined ? '' : `; every scrape must name it by IP address, localhost or ${c.METRICS_ALLOWED_HOSTS.join(', ')} (METRICS_ALLOWED_HOSTS)`;
    const previous = c.METRICS_TOKEN_PREVIOUS === undefined ? '' : ' (or METRICS_TOKEN_PREVIOUS, until it is dropped)';
    if (c.METRICS_TOKEN !== undefined) return { problems: [], summary: `/metrics requires METRICS_TOKEN${previous}${hosts}` };
    if (c.METRICS_PORT !== undefined) return { problems: [], summary: `/metrics is served on METRICS_PORT=${c.METRICS_PORT}${hosts}` };
    if (!c.production) return { problems: [], summary: `development: /metrics is open${hosts}` };
    return {
      problems: [problem('METRICS_TOKEN', 'METRICS_TOKEN and METRICS_PORT are both unset: /metrics would be open to anyone (its counters tell the traffic and failures of every route, sign-in failures and the other security events); set one of them')],
      summary: '',
    };
  },
};

const SMTP_SECURITY = {
  tls: 'TLS from the start',
  starttls: 'STARTTLS required',
  loopback: 'a relay on this machine, STARTTLS if offered',
  'opted-out': 'TLS not required',
} as const;

/**
 * The reset mail: in production, an `SMTP_URL` that lets the relay password and the reset links
 * cross the network in clear (an explicit opt-out of TLS for a remote relay), and a sender at
 * `localhost`, which relays refuse or file as spam.
 */
const mail: ConfigCheck = {
  name: 'mail',
  variables: ['SMTP_URL', 'MAIL_FROM'],
  startup: false,
  run(c) {
    if (c.SMTP_URL === undefined) {
      const where = c.production ? 'no reset mail is sent (a warning is logged instead)' : 'development mail is printed to stderr';
      return { problems: [], summary: `SMTP_URL unset: ${where}` };
    }
    const url = new URL(c.SMTP_URL);
    const security = smtpSecurityOf(url);
    const sender = parseMailbox(c.MAIL_FROM).address;
    const summary = `${urlForMessage(c.SMTP_URL)}, ${SMTP_SECURITY[security]}; sender ${sender}`;
    if (!c.production) return { problems: [], summary };
    const problems: ConfigIssue[] = [];
    if (security === 'opted-out') {
      const how = url.searchParams.get('tls.rejectUnauthorized') === 'false'
        ? 'sets tls.rejectUnauthorized=false: the relay certificate is not checked'
        : 'sets requireTLS=false for a remote relay: STARTTLS can be stripped on the way';
      problems.push(problem('SMTP_URL', `SMTP_URL ${how}, so a man in the middle could read the relay password and the reset links; drop the opt-out (or use smtps://)`));
    }
    const domain = sender.slice(sender.lastIndexOf('@') + 1);
    if (isLoopbackHost(domain) || domain.toLowerCase().endsWith('.localhost')) {
      problems.push(problem('MAIL_FROM', `MAIL_FROM is ${c.MAIL_FROM}: relays refuse or spam-folder a localhost sender; set an address of your domain (or APP_URL)`));
    }
    return { problems, summary };
  },
};

const logging: ConfigCheck = {
  name: 'logging',
  variables: ['LOG_FORMAT', 'LOG_DESTINATION'],
  startup: false,
  run(c) {
    const summary = `${c.LOG_FORMAT} to ${logDestinationForMessage(c.LOG_DESTINATION)}, level ${c.LOG_LEVEL}`;
    if (c.production && c.LOG_FORMAT !== 'json') {
      return { problems: [problem('LOG_FORMAT', `LOG_FORMAT=${c.LOG_FORMAT} in production; use json so collectors can parse each line`)], summary };
    }
    return { problems: [], summary };
  },
};

/** Fields the redaction must cover, and a line that must come out without any of its secrets. */
const MUST_REDACT = ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'password', 'refresh_token'];
const CANARY = {
  secrets: ['canary-bearer-5f2c9a7e', 'canary-session-8d41b3', 'canary-password-2b7e'],
  line: '{"msg":"Authorization: Bearer canary-bearer-5f2c9a7e cookie lc_session=canary-session-8d41b3","password":"canary-password-2b7e"}',
};

const redaction: ConfigCheck = {
  name: 'redaction',
  variables: ['LOG_LEVEL'],
  startup: false,
  run(c) {
    const problems: ConfigIssue[] = [];
    const missing = MUST_REDACT.filter((path) => !REDACT_PATHS.includes(path));
    if (missing.length) problems.push({ message: `the redaction list (src/ops/logging/redact.ts) misses ${missing.join(', ')}` });
    const censored = censorLine(CANARY.line);
    if (CANARY.secrets.some((s) => censored.includes(s))) {
      problems.push({ message: 'a test line with a bearer token, a session cookie and a password was not censored' });
    }
    if (c.production && (c.LOG_LEVEL === 'debug' || c.LOG_LEVEL === 'trace')) {
      problems.push(problem('LOG_LEVEL', `LOG_LEVEL=${c.LOG_LEVEL} in production: use info or higher so request details stay out of the logs`));
    }
    return { problems, summary: `${REDACT_PATHS.length} redacted fields; tokens, cookies and passwords in text are censored` };
  },
};

/** Every check, in the order the doctor prints them (`config` comes first, from the schema). */
export const CHECKS: readonly ConfigCheck[] = [keys, secrets, https, cookies, cors, trustProxy, redis, metrics, mail, logging, redaction];

/**
 * Problems that stop a production start: those of the `startup` checks, without the ones about a
 * variable that already has a format problem (its value was replaced by the default).
 */
export function startupProblems(config: AppConfig, invalid: ReadonlySet<EnvVariable>): ConfigIssue[] {
  return CHECKS.filter((check) => check.startup).flatMap((check) =>
    check.run(config).problems.filter((p) => p.variable === undefined || !invalid.has(p.variable)),
  );
}

/**
 * Problems of the checks that did not stop this start — those that never do (`startup: false`:
 * `cors`, `redis`, `metrics`, `mail`, `logging`, `redaction`), and outside production the start-up
 * rules too (`trust-proxy` holds in every environment) — each with its check's name: start-up logs
 * them as warnings, so a `FAIL` line of `livecomponents doctor` is never silent in the running app's
 * log (`LOG_FORMAT=pretty`, an open `/metrics` or `INSTANCES=2` without Redis in production, or
 * `BEHIND_PROXY=true` without `TRUST_PROXY` in development, started without a word).
 */
export function startupWarnings(config: AppConfig): { check: CheckName; message: string }[] {
  return CHECKS.filter((check) => !(check.startup && config.production)).flatMap((check) =>
    check.run(config).problems.map((p) => ({ check: check.name, message: p.message })),
  );
}
