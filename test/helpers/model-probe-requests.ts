/**
 * The model probe's action requests (test/helpers/model-probe.ts): which token a request carries,
 * its params (valid, invalid, over the balance), its idempotency key (fresh, reused, malformed),
 * and how it goes on the wire (PROTOCOL §3: the key as a header, an RFC 8941 string or a body field).
 */
import type { InjectOptions } from 'fastify';
import { ACTION_ROUTE, describe, fail, scopeOf, type ActionRequest, type Component, type Session, type TokenKind } from './model-probe-model.js';
import type { Probe } from './model-probe.js';

/** An action of `session` with a token kind drawn (mostly valid) and an instance drawn. */
export function actionRequest(probe: Probe, session: Session, component: Component, action: string, params: Record<string, unknown>): ActionRequest {
  const t = probe.rnd();
  const token: TokenKind = t < 0.82 ? 'valid' : t < 0.88 ? 'foreign' : t < 0.94 ? 'stale' : 'none';
  return { session, component, action, params, token, instance: probe.instance() };
}

/** An order's params: mostly an item, else a blank one or none (the schema refuses those). */
export function orderParams(probe: Probe): Record<string, unknown> {
  const r = probe.rnd();
  if (r < 0.8) return { item: probe.pick(['tea', 'coffee', 'bread', ' jam ', 'élan']) };
  if (r < 0.9) return { item: probe.pick(['', '   ']) };
  return {};
}

/** A payment's params: within the balance, above it, or not a positive integer. */
export function paymentParams(probe: Probe, s: Session): Record<string, unknown> {
  const r = probe.rnd();
  if (r < 0.6) return { amount: 1 + probe.int(Math.max(1, Math.min(s.balance, 400))) };
  if (r < 0.75) return { amount: s.balance + 1 + probe.int(50) };
  return { amount: probe.pick([0, -5, 1.5, '10', null]) };
}

/** A fresh key (50 %), a key of this scope sent before (30 %: same or other params), or none. */
export function withKey(probe: Probe, req: ActionRequest): void {
  const r = probe.rnd();
  const used = probe.usedKeys.get(scopeOf(req.session)) ?? [];
  if (r < 0.05) {
    req.badKey = probe.pick(['long', 'not-ascii', 'disagree'] as const);
  } else if (r < 0.5 || (r < 0.8 && used.length === 0)) {
    req.key = probe.freshKey();
  } else if (r < 0.8) {
    const u = probe.pick(used);
    req.key = u.key;
    if (probe.chance(0.6)) {
      req.component = u.component;
      req.action = u.action;
      req.params = u.params;
    }
  }
}

export function wireRequest(probe: Probe, req: ActionRequest): InjectOptions {
  const headers: Record<string, string> = { 'content-type': 'application/json', cookie: req.session.cookie };
  const token = tokenFor(probe, req);
  if (token !== undefined) headers['x-csrf-token'] = token;
  const envelope: Record<string, unknown> = { component_id: `${req.component}:main`, action: req.action, params: req.params };
  // The key as a bare header value, an RFC 8941 string, or the body field (PROTOCOL §3): one key.
  const via = req.key === undefined ? 0 : probe.int(3);
  if (via === 1) headers['idempotency-key'] = req.key as string;
  else if (via === 2) headers['idempotency-key'] = `"${req.key as string}"`;
  if (via === 0 && req.key !== undefined) envelope.idempotency_key = req.key;
  if (req.badKey === 'long') headers['idempotency-key'] = 'k'.repeat(256);
  else if (req.badKey === 'not-ascii') envelope.idempotency_key = 'clé-1';
  else if (req.badKey === 'disagree') {
    headers['idempotency-key'] = 'one-key';
    envelope.idempotency_key = 'another-key';
  }
  return { method: 'POST', url: ACTION_ROUTE, remoteAddress: req.session.ip, headers, payload: JSON.stringify(envelope) };
}

function tokenFor(probe: Probe, req: ActionRequest): string | undefined {
  switch (req.token) {
    case 'valid': {
      if (!probe.strict) return req.session.token;
      const next = req.session.pool.pop() ?? fail(`${describe(req)}: no unused token left (the probe refills before sending)`);
      req.session.spent.push(next.token);
      return next.token;
    }
    case 'foreign':
      return probe.pick(probe.sessions.filter((o) => o !== req.session)).token;
    case 'stale':
      return probe.strict && req.session.spent.length > 0 ? probe.pick(req.session.spent) : req.session.staleToken;
    case 'none':
      return undefined;
  }
}
