/**
 * The model probe's sessions (test/helpers/model-probe.ts): the six it starts with, and sign-ins
 * and sign-outs mid-run through the `/login` and `/logout` forms, whose replaced session ids then
 * send actions that must be refused.
 */
import { ACTION_ROUTE, fail, forged, PASSWORD, sessionCookie, tokenOf, type Session } from './model-probe-model.js';
import type { Probe } from './model-probe.js';

/** Registers the two users and starts the six sessions, each with every component mounted. */
export async function setUpSessions(probe: Probe): Promise<void> {
  // Two sessions of one user (shared budget and idempotency scope), one of another user, three
  // anonymous sessions: two behind one address (one budget), one alone.
  const users = probe.emails;
  for (const [i, email] of users.entries()) {
    const res = await probe.send(0, {
      method: 'POST',
      url: '/api/v1/auth/register',
      remoteAddress: `10.1.${i}.1`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email, password: PASSWORD }),
    });
    if (res.statusCode !== 201) fail(`register ${email}: ${res.statusCode} ${res.body}`);
  }
  const plan: { name: string; ip: string; user: number | null }[] = [
    { name: 'ada-1', ip: '10.1.0.1', user: 0 },
    { name: 'ada-2', ip: '10.1.0.2', user: 0 },
    { name: 'bob', ip: '10.1.1.1', user: 1 },
    { name: 'anon-a', ip: '10.2.0.1', user: null },
    { name: 'anon-b', ip: '10.2.0.1', user: null },
    { name: 'anon-c', ip: '10.2.0.3', user: null },
  ];
  for (const p of plan) {
    const login = await probe.send(probe.instance(), { method: 'GET', url: '/login', remoteAddress: p.ip });
    if (login.statusCode !== 200) fail(`GET /login: ${login.statusCode}`);
    let cookie = sessionCookie(login) ?? fail('GET /login set no session cookie');
    const first = tokenOf(login.body);
    let staleToken = forged(first);
    if (p.user !== null) {
      const formToken = /action="\/login"[\s\S]*?name="_csrf_token" value="([^"]+)"/.exec(login.body)?.[1] ?? fail('no sign-in form token');
      const signIn = await probe.send(probe.instance(), {
        method: 'POST',
        url: '/login',
        remoteAddress: p.ip,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: probe.target.origin },
        payload: new URLSearchParams({ _csrf_token: formToken, email: users[p.user] as string, password: PASSWORD }).toString(),
      });
      if (signIn.statusCode !== 303) fail(`sign-in of ${p.name}: ${signIn.statusCode} ${signIn.body.slice(0, 300)}`);
      const next = sessionCookie(signIn) ?? fail('sign-in set no new session cookie');
      if (next === cookie) fail('sign-in kept the session id');
      cookie = next;
      staleToken = first;
    }
    const session: Session = {
      name: p.name,
      ip: p.ip,
      user: p.user === null ? null : `u${p.user}`,
      cookie,
      token: '',
      staleToken,
      counter: 0,
      orders: 0,
      balance: 1000,
      paid: [],
      mounted: new Set(),
      pool: [],
      spent: [],
      issued: 0,
    };
    probe.sessions.push(session);
    // Mount every component of the session (an action needs its instance mounted).
    for (const component of ['counter', 'order', 'payment'] as const) await probe.pageView(session, component, probe.instance());
  }
}

/**
 * Signs an anonymous session in (as one of the two users) or a signed-in one out, through the
 * `/login` and `/logout` forms: a new session id, the old one and its tokens dead, no component
 * state carried over (docs/auth.md, "Browser sign-in for components").
 */
export async function switchUser(probe: Probe, s: Session): Promise<void> {
  const instance = probe.instance();
  const login = await probe.send(instance, { method: 'GET', url: '/login', remoteAddress: s.ip, headers: { cookie: s.cookie } });
  if (login.statusCode !== 200) fail(`${s.name} GET /login: ${login.statusCode}`);
  const old = { cookie: s.cookie, token: tokenOf(login.body), ip: s.ip, user: s.user };
  const signingIn = s.user === null;
  // The login budget (5 a minute): a few sign-ins per run.
  if (signingIn && probe.signIns >= 3) {
    probe.current = `${s.name} GET /login (no more sign-ins this run)`;
    return;
  }
  const form = signingIn ? 'login' : 'logout';
  const formToken = new RegExp(`action="/${form}"[\\s\\S]*?name="_csrf_token" value="([^"]+)"`).exec(login.body)?.[1] ?? fail(`no /${form} form token`);
  const user = probe.int(2);
  probe.current = signingIn ? `${s.name} signs in as u${user}` : `${s.name} signs out`;
  const fields: Record<string, string> = { _csrf_token: formToken };
  if (signingIn) Object.assign(fields, { email: probe.emails[user] as string, password: PASSWORD });
  const res = await probe.send(probe.instance(), {
    method: 'POST',
    url: `/${form}`,
    remoteAddress: s.ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookie, origin: probe.target.origin },
    payload: new URLSearchParams(fields).toString(),
  });
  if (res.statusCode !== 303) fail(`${probe.current}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  if (signingIn) probe.signIns++;
  const next = sessionCookie(res) ?? fail(`${probe.current}: no new session cookie`);
  if (next === s.cookie) fail(`${probe.current}: the session id was kept`);
  probe.ghosts.push(old);
  s.cookie = next;
  s.staleToken = old.token;
  s.user = signingIn ? `u${user}` : null;
  s.mounted = new Set();
  s.counter = 0;
  s.orders = 0;
  s.balance = 1000;
  s.paid = [];
  s.pool = [];
  s.spent = [];
  await probe.pageView(s, 'counter', probe.instance());
}

/** An action with the cookie and a token of a session id a sign-in or sign-out replaced: 403. */
export async function ghostAction(probe: Probe): Promise<void> {
  const ghost = probe.pick(probe.ghosts);
  probe.current = `an action of a replaced session id (${ghost.user ?? ghost.ip})`;
  const res = await probe.send(probe.instance(), {
    method: 'POST',
    url: ACTION_ROUTE,
    remoteAddress: ghost.ip,
    headers: { 'content-type': 'application/json', cookie: ghost.cookie, 'x-csrf-token': ghost.token },
    payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
  });
  const body = res.json() as { code?: string };
  if (res.statusCode !== 403 || body.code !== 'CSRF_TOKEN_INVALID') fail(`${probe.current}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  // A session found gone has spent one step of its client's budget (docs/security.md §2): perhaps.
  probe.budgets.maybeCharge(`ip:${ghost.ip}|counter.increment`, probe.now());
  if (ghost.user !== null) probe.budgets.maybeCharge(`user:${ghost.user}|counter.increment`, probe.now());
}