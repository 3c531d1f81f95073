/**
 * /metrics is no account-enumeration oracle: the reference app, its security events counted by its
 * own metrics as in production, is driven through the real auth routes with an email that has an
 * account and, in a twin app, with one that has none — forgot-password (a mail, then one withheld),
 * failed sign-ins up to authn_login_fail_max and the per-account 429 — and the two scrapes must be
 * byte-identical but for timings (histogram buckets and sums) and the process's own metrics. The
 * security log of the first still tells the operator everything. SQLite and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { capturedMailTransport } from '../../src/auth/index.js';
import { manualClock } from '../../src/core/clock.js';
import { parseEnv } from '../../src/ops/config.js';
import { eachEngine, FAST_ARGON2, PASSWORD, T0, testBackends, type Engine } from '../auth/harness.js';

const OWNER = 'alice@example.com';
const NOBODY = 'nobody@example.com';

const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

/**
 * The reference app on a fresh database of `engine`, without an `events` override: its own security
 * logger writes to `logs` and feeds its metrics. Tight limits, so a few requests reach each branch:
 * one reset mail per client, a failure run of 2, 3 sign-in attempts per account.
 */
async function app(engine: Engine) {
  const clock = manualClock(T0);
  const backends = await testBackends(engine, clock);
  const logs: string[] = [];
  const mail = capturedMailTransport();
  const { config, issues } = parseEnv({
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    TOKEN_CLEANUP_INTERVAL: '0',
  });
  if (issues.length > 0) throw new Error(issues.map((i) => i.message).join('; '));
  const built = await createDemoApp({
    config,
    backends,
    loggerInstance: pino({ level: 'trace' }, { write: (line: string) => void logs.push(line) }),
    framework: { clock, dataDir: mkdtempSync(join(tmpdir(), 'lc-enum-keys-')) },
    auth: {
      mail,
      password: FAST_ARGON2,
      resetMailMax: { perClient: 1, perAccount: 20, windowSeconds: 3600 },
      loginFailMax: { failures: 2, windowSeconds: 900 },
      limits: { 'login-account': { limit: 3, windowSeconds: 60 } },
    },
  });
  closing.push(() => built.close());
  await built.ready();
  const post = (url: string, body: unknown) =>
    built.inject({ method: 'POST', url: `/api/v1/auth${url}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  return { app: built, post, mail, logs, idle: () => built.livecomponentsAuth.service.idle() };
}

type App = Awaited<ReturnType<typeof app>>;

/** What an outsider does with `email`; resolves the statuses answered, in order. */
async function probe(a: App, email: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 2; i++) {
    statuses.push((await a.post('/forgot-password', { email })).statusCode);
    await a.idle();
  }
  for (let i = 0; i < 4; i++) statuses.push((await a.post('/login', { email, password: 'not the password at all' })).statusCode);
  return statuses;
}

/** The scrape without what measures time or the process: histogram buckets and sums, `process_*`, `nodejs_*`, the clock-skew gauge. */
async function scrape(a: App): Promise<string> {
  const res = await a.app.inject('/metrics');
  expect(res.statusCode).toBe(200);
  return res.body
    .split('\n')
    .filter((line) => !/^(# (HELP|TYPE) )?(process_|nodejs_|livecomponents_clock_skew_seconds)/.test(line))
    .filter((line) => !/^\w+_(bucket|sum)\{/.test(line))
    .join('\n');
}

/** The security-log lines (`event`, `event_level`, `description`) of `logs`. */
function securityLog(logs: readonly string[]): Array<{ event: string; event_level: string; description: string }> {
  return logs
    .map((l) => JSON.parse(l) as { security_event?: boolean; event: string; event_level: string; description: string })
    .filter((l) => l.security_event === true)
    .map(({ event, event_level, description }) => ({ event, event_level, description }));
}

eachEngine('/metrics tells no one whether an email has an account', (engine) => {
  it('answers forgot-password before any of the account’s work runs: no mail asked for yet when the answer arrives', async () => {
    // On SQLite every query runs on the event loop: a task started at once looked the account up,
    // stored its token and handed its mail over before the answer went out, for an existing account
    // only, so the answer and http_request_duration_seconds took longer for it.
    const a = await app(engine);
    expect((await a.post('/register', { email: OWNER, password: PASSWORD })).statusCode).toBe(201);
    const res = await a.post('/forgot-password', { email: OWNER });
    const mailsWhenAnswered = a.mail.messages.length;
    expect(res.statusCode).toBe(202);
    expect(mailsWhenAnswered).toBe(0);
    await a.idle();
    expect(a.mail.messages).toHaveLength(1);
  });

  it('gives byte-identical scrapes for an email with an account and one without, while the security log keeps every event', async () => {
    const [owner, stranger] = [await app(engine), await app(engine)];
    // The same history in both: the account exists in both apps; only the email probed differs.
    for (const a of [owner, stranger]) expect((await a.post('/register', { email: OWNER, password: PASSWORD })).statusCode).toBe(201);

    const answers = [await probe(owner, OWNER), await probe(stranger, NOBODY)];
    // The answers are alike (PROTOCOL §4), and so must the metrics be.
    expect(answers).toEqual([
      [202, 202, 401, 401, 401, 429],
      [202, 202, 401, 401, 401, 429],
    ]);
    // The branches did differ: the account got its mail, then one was withheld.
    expect([owner.mail.messages.length, stranger.mail.messages.length]).toEqual([1, 0]);

    const [ownerText, strangerText] = [await scrape(owner), await scrape(stranger)];
    expect(ownerText).toBe(strangerText);
    for (const line of [
      'livecomponents_auth_events_total{event="authn_token_created"} 0',
      'livecomponents_auth_events_total{event="authn_login_fail"} 3',
      'livecomponents_auth_events_total{event="authn_login_fail_max"} 1',
      'livecomponents_security_events_total{event="excess_rate_limit_exceeded"} 1',
      'livecomponents_security_events_total{event="user_created"} 1',
      'http_requests_total{method="POST",route="/api/v1/auth/forgot-password",status_code="202"} 2',
    ]) {
      expect(ownerText).toContain(`${line}\n`);
    }

    // Logs are the operator's: the reset token and the withheld mail are there, with the user and level.
    const owned = securityLog(owner.logs);
    expect(owned).toContainEqual({ event: 'authn_token_created', event_level: 'INFO', description: expect.stringMatching(/^Password reset token issued for user \S+$/) });
    expect(owned).toContainEqual({
      event: 'excess_rate_limit_exceeded',
      event_level: 'WARN',
      description: expect.stringMatching(/^Password reset mail for user \S+ withheld: 1 already requested at the requests of this client within 3600 s$/),
    });
    expect(owned.filter((e) => e.event === 'authn_login_fail_max').map((e) => e.description)).toEqual([expect.stringMatching(/^2 failed sign-ins in a row for user \S+ within 900 s$/)]);
    expect(securityLog(stranger.logs).filter((e) => e.event === 'authn_login_fail_max').map((e) => e.description)).toEqual([
      '2 failed sign-ins in a row for an email with no account within 900 s',
    ]);
  });
});
