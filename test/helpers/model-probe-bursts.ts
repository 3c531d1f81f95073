/**
 * The model probe's concurrent operations (test/helpers/model-probe.ts): counter clicks, payments of
 * one session, and requests with one idempotency key from one or several scopes, all sent at once;
 * the answers must form some serial order the model allows.
 */
import { isDeepStrictEqual } from 'node:util';
import type { LightMyRequestResponse } from 'fastify';
import { expectError, expectStatus } from './model-probe-answers.js';
import { orderParams, paymentParams } from './model-probe-requests.js';
import { describe, fail, fingerprint, recordKey, refusalOf, scopeOf, type ActionRequest, type Component, type IdemRecord, type Session } from './model-probe-model.js';
import type { Probe } from './model-probe.js';

/** 2–5 counter clicks of one session at once: each admitted one runs; the counts it answers lie within what some order gives. */
export async function counterBurst(probe: Probe, s: Session): Promise<void> {
  if (!s.mounted.has('counter')) await probe.pageView(s, 'counter', probe.instance());
  const n = 2 + probe.int(4);
  const reqs: ActionRequest[] = Array.from({ length: n }, () => ({
    session: s,
    component: 'counter' as const,
    action: probe.chance(0.6) ? 'increment' : 'decrement',
    params: {},
    token: 'valid' as const,
    instance: probe.instance(),
  }));
  probe.current = `${s.name} ${n} concurrent counter actions: ${reqs.map((q) => q.action).join(',')}`;
  const { answers, t0, t1 } = await probe.sendAll(reqs);
  const start = s.counter;
  const admitted = probe.budgets.admitGroup(reqs, answers, t0, t1);
  let inc = 0;
  let dec = 0;
  for (const [i, res] of answers.entries()) {
    if (!admitted[i]) continue;
    const req = reqs[i] as ActionRequest;
    expectStatus(req, res, 200);
    if (req.action === 'increment') inc++;
    else dec++;
  }
  const counts = answers.flatMap((res, i) => (admitted[i] ? [(res.json() as { state: { count: number } }).state.count] : []));
  for (const c of counts) if (c < start - dec || c > start + inc) fail(`a concurrent counter answered ${c}, outside [${start - dec}, ${start + inc}]`);
  if (dec === 0) {
    const expected = Array.from({ length: inc }, (_, i) => start + i + 1);
    if (!isDeepStrictEqual([...counts].sort((a, b) => a - b), expected)) fail(`concurrent increments answered ${counts.join(',')}, expected each of ${expected.join(',')} once`);
  }
  s.counter = start + inc - dec;
}

/**
 * 2–4 payments of one session at once, each with a key of its own or none, together often above
 * the balance: they run one at a time (the instance lock), so the balance never goes below 0 and
 * the answers form one serial order.
 */
export async function paymentBurst(probe: Probe, s: Session): Promise<void> {
  if (!s.mounted.has('payment')) await probe.pageView(s, 'payment', probe.instance());
  const n = 2 + probe.int(3);
  const reqs: ActionRequest[] = Array.from({ length: n }, () => {
    const req: ActionRequest = {
      session: s,
      component: 'payment',
      action: 'processPayment',
      params: { amount: 1 + probe.int(Math.max(1, Math.ceil((s.balance * 2) / n))) },
      token: 'valid',
      instance: probe.instance(),
    };
    if (probe.chance(0.5)) req.key = probe.freshKey();
    return req;
  });
  probe.current = `${s.name} ${n} concurrent payments ${reqs.map((q) => `${String(q.params.amount)}${q.key === undefined ? '' : `/${q.key}`}`).join(',')} on balance ${s.balance}`;
  const { answers, t0, t1 } = await probe.sendAll(reqs);
  const admitted = probe.budgets.admitGroup(reqs, answers, t0, t1);
  const start = s.balance;
  const ran: { req: ActionRequest; res: LightMyRequestResponse; after: number }[] = [];
  const refused: ActionRequest[] = [];
  for (const [i, res] of answers.entries()) {
    const req = reqs[i] as ActionRequest;
    if (!admitted[i]) continue;
    if (res.statusCode === 200) ran.push({ req, res, after: (res.json() as { state: { balance: number } }).state.balance });
    else {
      expectError(req, res, 400, 'VALIDATION_FAILED');
      refused.push(req);
    }
  }
  // The serial order: balances strictly falling, each step one runner's amount.
  ran.sort((a, b) => b.after - a.after);
  let balance = start;
  for (const { req, after } of ran) {
    const amount = req.params.amount as number;
    if (balance - amount !== after) fail(`${probe.current}: answers ${ran.map((x) => `${String(x.req.params.amount)}->${x.after}`).join(', ')} are no serial order from ${start}`);
    balance = after;
  }
  for (const req of refused) {
    if ((req.params.amount as number) <= balance) fail(`${probe.current}: ${String(req.params.amount)} refused, but the balance never fell below ${balance}`);
  }
  // Apply to the model in that order (expectRun checks each answer's state again).
  for (const { req, res } of ran) probe.expectRun(req, res);
}

/** 2–5 requests with one key at once, from this session or from other sessions of its scope. */
export async function keyBurst(probe: Probe, s: Session): Promise<void> {
  const n = 2 + probe.int(4);
  const payment = probe.chance(0.5);
  const component: Component = payment ? 'payment' : 'order';
  const action = payment ? 'processPayment' : 'createOrder';
  const used = probe.usedKeys.get(scopeOf(s)) ?? [];
  let key = probe.freshKey();
  let params = payment ? paymentParams(probe, s) : orderParams(probe);
  if (used.length > 0 && probe.chance(0.25)) {
    const u = probe.pick(used);
    key = u.key;
    if (u.component === component) params = u.params;
  }
  // Mostly the sessions of this scope; now and then any session: each scope then runs the key once.
  const mates = probe.chance(0.2) ? probe.sessions : probe.sessions.filter((o) => scopeOf(o) === scopeOf(s));
  for (const m of mates) if (!m.mounted.has(component)) await probe.pageView(m, component, probe.instance());
  const reqs: ActionRequest[] = Array.from({ length: n }, () => ({
    session: probe.pick(mates),
    component,
    action,
    params,
    token: 'valid' as const,
    key,
    instance: probe.instance(),
  }));
  probe.current = `${n} concurrent ${component}.${action}(${JSON.stringify(params)}) key ${key} from ${reqs.map((q) => q.session.name).join(',')}`;
  const { answers, t0, t1 } = await probe.sendAll(reqs);
  const admitted = probe.budgets.admitGroup(reqs, answers, t0, t1);
  const live = answers.map((res, i) => ({ res, req: reqs[i] as ActionRequest })).filter((_, i) => admitted[i]);
  for (const scope of new Set(live.map(({ req }) => scopeOf(req.session)))) {
    settleKey(
      probe,
      live.filter(({ req }) => scopeOf(req.session) === scope),
      key,
    );
  }
}

/** The answers of one scope to concurrent requests with one key (limiter passed): one run at most, replays of it, 409s. */
function settleKey(probe: Probe, live: { res: LightMyRequestResponse; req: ActionRequest }[], key: string): void {
  if (live.length === 0) return;
  const first = live[0]?.req as ActionRequest;
  const record = probe.recordFor(first, live[0]?.res as LightMyRequestResponse);
  const fp = fingerprint(first);
  if (record !== undefined) {
    for (const { req, res } of live) {
      if (record.fingerprint === fp) probe.replay(req, res, record);
      else expectError(req, res, 422, 'IDEMPOTENCY_KEY_REUSED');
    }
    return;
  }
  // Sessions of one user hold their own instances: whether the action is refused (a payment over
  // the balance) depends on the session whose request claims the key first.
  const runners = live.filter(({ res }) => res.statusCode === 200 && (res.json() as { idempotency?: { cached?: boolean } }).idempotency?.cached === false);
  if (runners.length > 1) fail(`${live.length} concurrent requests with key ${key}: ${runners.length} ran (answered cached: false), expected at most 1`);
  const runner = runners[0];
  if (runner === undefined) {
    if (live.every(({ req }) => refusalOf(req) === null)) fail(`${live.length} concurrent requests with key ${key}: none ran; statuses ${live.map(({ res }) => res.statusCode).join(',')}`);
    let refused = 0;
    for (const { req, res } of live) {
      if (res.statusCode === 409) expectError(req, res, 409, 'IDEMPOTENCY_KEY_IN_USE');
      else {
        expectError(req, res, 400, refusalOf(req) ?? fail(`${describe(req)}: refused ${res.statusCode}, but its session's state allows it`));
        refused++;
      }
    }
    if (refused === 0) fail(`${live.length} concurrent requests with key ${key} and none ran: none was refused either, all answered 409`);
    return;
  }
  if (refusalOf(runner.req) !== null) fail(`${describe(runner.req)}: ran, but the model refuses it (${String(refusalOf(runner.req))})`);
  const refusals = new Map(live.map(({ req }) => [req, refusalOf(req)]));
  probe.expectRun(runner.req, runner.res);
  const stored = probe.records.get(recordKey(first)) as IdemRecord;
  for (const { req, res } of live) {
    if (res === runner.res) continue;
    if (res.statusCode === 409) expectError(req, res, 409, 'IDEMPOTENCY_KEY_IN_USE');
    else if (res.statusCode === 400) expectError(req, res, 400, refusals.get(req) ?? fail(`${describe(req)}: refused 400, but its session's state allowed it`));
    else probe.replay(req, res, stored);
  }
}