import { describe, expect, it } from 'vitest';
import { CHECK_NAMES } from '../ops/config-rules.js';
import { REDACT_PATHS } from '../ops/logging/redact.js';
import { parseStateKeys } from '../pipeline/state/keyring.js';
import { runDoctor } from './doctor.js';

/** Fixed, high-entropy values so the expected lines are exact. */
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) % 256)).toString('base64');
const TOKEN = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 71 + 3) % 256)).toString('base64');
const KEY_ID = parseStateKeys(KEY)[0]?.id;

const GOOD = {
  NODE_ENV: 'production',
  LC_STATE_KEYS: KEY,
  LC_SESSION_SECRET: SECRET,
  APP_URL: 'https://app.example.com',
  CORS_ALLOWED_ORIGINS: 'https://admin.example.com',
  BEHIND_PROXY: 'true',
  TRUST_PROXY: '10.0.0.0/8',
  INSTANCES: '2',
  REDIS_URL: 'redis://redis:6379',
  METRICS_TOKEN: TOKEN,
  SMTP_URL: 'smtps://relay:relay-password@smtp.example.com:465',
};

describe('runDoctor', () => {
  it('passes a complete production environment with one ok line per check', () => {
    const report = runDoctor(GOOD);
    expect(report.ok).toBe(true);
    expect(report.production).toBe(true);
    expect(report.lines).toEqual([
      'ok  config: 35 variables read; NODE_ENV=production',
      `ok  keys: 1 state key(s), ids ${KEY_ID}; the first seals`,
      'ok  secrets: LC_SESSION_SECRET is strong; so is METRICS_TOKEN',
      'ok  https: public address https://app.example.com',
      'ok  cookies: __Host-lc_session, refresh_token and its companion __Host-lc_refresh_binding_token are Secure, HttpOnly and SameSite',
      'ok  cors: exact origins with credentials: https://admin.example.com',
      'ok  trust-proxy: behind a proxy; trusting 10.0.0.0/8',
      'ok  redis: 2 instance(s) share Redis',
      'ok  metrics: /metrics requires METRICS_TOKEN',
      'ok  mail: smtps://smtp.example.com:465, TLS from the start; sender no-reply@app.example.com',
      'ok  logging: json to stdout, level info',
      `ok  redaction: ${REDACT_PATHS.length} redacted fields; tokens, cookies and passwords in text are censored`,
    ]);
    expect(report.checks.map((c) => c.name)).toEqual([...CHECK_NAMES]);
  });

  it('fails a bad production environment with one FAIL line per problem', () => {
    const report = runDoctor({
      NODE_ENV: 'production',
      PORT: 'x',
      LC_STATE_KEYS: Buffer.alloc(32, 7).toString('base64'),
      LC_SESSION_SECRET: 'changeme-changeme-changeme-changeme',
      APP_URL: 'http://app.example.com',
      FRONTEND_URL: 'http://app.example.com',
      BEHIND_PROXY: '1',
      INSTANCES: '2',
      DATABASE_URL: 'postgres://app@db.example.com:5432/app',
      LOG_FORMAT: 'pretty',
      LOG_LEVEL: 'debug',
    });
    expect(report.ok).toBe(false);
    expect(report.lines).toEqual([
      'FAIL config: PORT: must be a port number from 0 to 65535 (got "x")',
      'FAIL keys: LC_STATE_KEYS: entry at index 0 is weak (one value repeated); `npx livecomponents keygen` prints one',
      'FAIL secrets: LC_SESSION_SECRET is weak (it looks like a placeholder such as "changeme" or "secret"); `npx livecomponents keygen` prints one',
      'FAIL https: APP_URL must start with https:// in production',
      'FAIL cookies: APP_URL is not https, so cookies could not be Secure (the session cookie needs its __Host- prefix)',
      'FAIL cors: FRONTEND_URL: http://app.example.com is not https; production origins must be https',
      'FAIL trust-proxy: TRUST_PROXY is unset or false but BEHIND_PROXY=true: every client would share the proxy address (rate limits, logs); set the hop count or the proxy CIDR',
      'FAIL redis: REDIS_URL is not set but INSTANCES=2: sessions, state, idempotency records and rate limits would not be shared (with PostgreSQL they stay in the embedded SQLite file sqlite:./data/livecomponents.db of each instance, which instances on other hosts do not share)',
      'FAIL metrics: METRICS_TOKEN and METRICS_PORT are both unset: /metrics would be open to anyone (its counters tell the traffic and failures of every route, sign-in failures and the other security events); set one of them',
      'ok  mail: SMTP_URL unset: no reset mail is sent (a warning is logged instead)',
      'FAIL logging: LOG_FORMAT=pretty in production; use json so collectors can parse each line',
      'FAIL redaction: LOG_LEVEL=debug in production: use info or higher so request details stay out of the logs',
    ]);
  });

  it('prints every problem of a check on its own line', () => {
    const report = runDoctor({ ...GOOD, HEALTH_TOKEN: 'short-token-of-18c', METRICS_TOKEN: SECRET });
    expect(report.lines.filter((l) => l.startsWith('FAIL'))).toEqual([
      'FAIL secrets: HEALTH_TOKEN is weak (18 bytes; at least 32 are needed); `npx livecomponents keygen` prints one',
      'FAIL secrets: METRICS_TOKEN has the same value as LC_SESSION_SECRET; give each its own secret',
    ]);
    expect(report.lines).toHaveLength(13);
  });

  it('shows a format problem under the check that owns the variable, once', () => {
    const report = runDoctor({ ...GOOD, LC_STATE_KEYS: 'not base64!', CORS_ALLOWED_ORIGINS: '*' });
    expect(report.lines.filter((l) => l.startsWith('FAIL'))).toEqual([
      'FAIL keys: LC_STATE_KEYS: entry at index 0 is not base64 (standard or url alphabet)',
      'FAIL cors: CORS_ALLOWED_ORIGINS: `*` is not allowed: credentials are sent, so list exact origins such as https://app.example.com',
    ]);
  });

  it('applies the production rules with the production option whatever NODE_ENV says', () => {
    const env = { ...GOOD, NODE_ENV: 'development', LOG_FORMAT: 'pretty' };
    expect(runDoctor(env).ok).toBe(true);
    const report = runDoctor(env, { production: true });
    expect([report.ok, report.production, report.lines.filter((l) => l.startsWith('FAIL')).length]).toEqual([false, true, 1]);
  });

  it('with the production option still checks the NODE_ENV the app will get (PRODUCTION passed and stopped start-up)', () => {
    for (const value of ['PRODUCTION', 'prod']) {
      const report = runDoctor({ ...GOOD, NODE_ENV: value }, { production: true });
      expect(report.lines.filter((l) => l.startsWith('FAIL')), value).toEqual([
        `FAIL config: NODE_ENV: must be one of development, production, test (got "${value}")`,
      ]);
    }
    expect(runDoctor({ ...GOOD, NODE_ENV: ' production ' }, { production: true }).ok).toBe(true);
  });

  it('passes an empty development environment and says the production rules are off', () => {
    const report = runDoctor({});
    expect([report.ok, report.production, report.lines.length]).toEqual([true, false, 12]);
    expect(report.lines[0]).toBe(
      'ok  config: 35 variables read; NODE_ENV=development (production rules off: run with --production to apply them)',
    );
  });

  it('mail: in production flags an opt-out of TLS for a remote relay and a localhost sender; a loopback relay is fine', () => {
    const fails = (env: Record<string, string>) => runDoctor({ ...GOOD, ...env }).lines.filter((l) => l.startsWith('FAIL'));
    expect(fails({ SMTP_URL: 'smtp://relay:relay-password@smtp.example.com:587?requireTLS=false' })).toEqual([
      'FAIL mail: SMTP_URL sets requireTLS=false for a remote relay: STARTTLS can be stripped on the way, so a man in the middle could read the relay password and the reset links; drop the opt-out (or use smtps://)',
    ]);
    expect(fails({ SMTP_URL: 'smtps://smtp.example.com?tls.rejectUnauthorized=false' })).toEqual([
      'FAIL mail: SMTP_URL sets tls.rejectUnauthorized=false: the relay certificate is not checked, so a man in the middle could read the relay password and the reset links; drop the opt-out (or use smtps://)',
    ]);
    expect(fails({ MAIL_FROM: 'Shop <no-reply@localhost>' })).toEqual([
      'FAIL mail: MAIL_FROM is Shop <no-reply@localhost>: relays refuse or spam-folder a localhost sender; set an address of your domain (or APP_URL)',
    ]);
    expect(fails({ SMTP_URL: 'smtp://smtp.example.com:587', MAIL_FROM: 'Shop <no-reply@shop.example>' })).toEqual([]);
    const loopback = runDoctor({ ...GOOD, SMTP_URL: 'smtp://127.0.0.1:25?requireTLS=false' });
    expect(loopback.lines).toContain('ok  mail: smtp://127.0.0.1:25, a relay on this machine, STARTTLS if offered; sender no-reply@app.example.com');
    // Outside production the same opt-out is only shown.
    const dev = runDoctor({ SMTP_URL: 'smtp://smtp.example.com:587?requireTLS=false' });
    expect(dev.lines).toContain('ok  mail: smtp://smtp.example.com:587, TLS not required; sender no-reply@localhost');
  });

  it('warns, without failing, on TRUST_PROXY=true (each spoofed X-Forwarded-For address its own client), with or without BEHIND_PROXY; a hop count or CIDR passes quietly', () => {
    const warning =
      'ok  trust-proxy: warning: TRUST_PROXY=true believes every X-Forwarded-For entry, so behind a proxy that appends to the header a client picks its own address, a new one per request: rate limits, new-session limits and log flood limits then count per spoofed address; set TRUST_PROXY to the number of proxies in front (e.g. 1) or to the proxy addresses or CIDR (e.g. 10.0.0.0/8)';
    for (const env of [{ ...GOOD, TRUST_PROXY: 'true' }, { ...GOOD, TRUST_PROXY: 'true', BEHIND_PROXY: 'false' }, { TRUST_PROXY: 'true' }]) {
      const report = runDoctor(env);
      expect(report.lines.filter((l) => l.includes('trust-proxy'))).toEqual([warning]);
      expect(report.checks.find((c) => c.name === 'trust-proxy')?.ok).toBe(true);
    }
    expect(runDoctor({ ...GOOD, TRUST_PROXY: 'true' }).ok).toBe(true);
    expect(runDoctor({ ...GOOD, TRUST_PROXY: '1' }).lines).toContain('ok  trust-proxy: behind a proxy; trusting 1');
    expect(runDoctor({ ...GOOD, TRUST_PROXY: '10.0.0.0/8,fd00::/8' }).lines.filter((l) => l.includes('trust-proxy'))).toEqual(['ok  trust-proxy: behind a proxy; trusting 10.0.0.0/8,fd00::/8']);
  });

  it('checks a declared proxy and the instance count in development too', () => {
    const report = runDoctor({ BEHIND_PROXY: 'true', INSTANCES: '3', DATABASE_URL: 'postgres://app@db.example.com:5432/app' });
    expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['trust-proxy', 'redis']);
  });
});
