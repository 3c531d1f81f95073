/**
 * The model probe's checks of one answer's shape (test/helpers/model-probe.ts): a 200's html and
 * token, an error's status and code, a replay against its record, and PROTOCOL §3's envelope and
 * headers, every error code one docs/reference/errors.md lists.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { LightMyRequestResponse } from 'fastify';
import { describe, fail, POLICY, type ActionRequest, type IdemRecord, type ProbeStats } from './model-probe-model.js';

/** Every code docs/reference/errors.md lists. */
export const DOCUMENTED_CODES: ReadonlySet<string> = new Set(
  [...readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'reference', 'errors.md'), 'utf8').matchAll(/^\| \d{3} \| `([A-Z_]+)`/gm)].map((m) => m[1] as string),
);

/** `res` has `status`; a 200 carries html with the component's root and a token, which `req`'s session takes. */
export function expectStatus(req: ActionRequest, res: LightMyRequestResponse, status: number): void {
  if (res.statusCode !== status) fail(`${describe(req)}: status ${res.statusCode}, model ${status}: ${res.body.slice(0, 400)}`);
  if (status === 200) {
    const body = res.json() as { csrf_token?: unknown; html?: unknown };
    if (typeof body.csrf_token !== 'string' || typeof body.html !== 'string') fail(`${describe(req)}: a 200 without html or csrf_token`);
    if (!body.html.includes(`data-lc-id="${req.component}:main"`)) fail(`${describe(req)}: html without its root element: ${body.html.slice(0, 200)}`);
    req.session.token = body.csrf_token;
  }
}

/** `res` is the error `status` with `code`. */
export function expectError(req: ActionRequest, res: LightMyRequestResponse, status: number, code: string): void {
  const got = res.statusCode === 200 ? undefined : (res.json() as { code?: string }).code;
  if (res.statusCode !== status || got !== code) fail(`${describe(req)}: ${res.statusCode} ${got ?? ''}, model ${status} ${code}: ${res.body.slice(0, 400)}`);
}

/**
 * `res` replays `record`: 200, the original html and state, `cached: true` with its key and
 * creation time, Idempotent-Replayed. `heldNow` is the time of a clock the test holds: then the
 * remaining ttl is checked to the second.
 */
export function expectReplay(req: ActionRequest, res: LightMyRequestResponse, record: IdemRecord, stats: ProbeStats, heldNow: number | undefined): void {
  expectStatus(req, res, 200);
  const body = res.json() as { html: string; state: unknown; idempotency?: { key: string; cached: boolean; ttl: number; created_at: string } };
  const meta = body.idempotency;
  const policy = POLICY[`${req.component}.${req.action}`] as { ttl: number };
  if (meta?.cached !== true || meta.key !== req.key || meta.created_at !== record.createdAt || !(meta.ttl > 0 && meta.ttl <= policy.ttl)) {
    fail(`${describe(req)}: a replay answered idempotency ${JSON.stringify(meta)}; expected cached true, key ${req.key}, created_at ${record.createdAt}, 0 < ttl <= ${policy.ttl}`);
  }
  // The remaining ttl, to the second (only known on a clock the test holds).
  if (heldNow !== undefined && Math.abs(meta.ttl - (record.expiresAt - heldNow) / 1000) > 1) {
    fail(`${describe(req)}: a replay's ttl ${meta.ttl}, the record has ${(record.expiresAt - heldNow) / 1000} s left`);
  }
  if (body.html !== record.html) fail(`${describe(req)}: the replay's html differs from the original:\n${body.html}\n---\n${record.html}`);
  if (!isDeepStrictEqual(body.state, record.state)) fail(`${describe(req)}: the replay's state ${JSON.stringify(body.state)}, original ${JSON.stringify(record.state)}`);
  if (res.headers['idempotent-replayed'] !== 'true') fail(`${describe(req)}: a replay without Idempotent-Replayed: true`);
  stats.replays++;
}

/** PROTOCOL §3's shapes: the error envelope, the rate-limit headers, 429's fields. */
export function checkShape(req: ActionRequest, res: LightMyRequestResponse, stats: ProbeStats): void {
  const policy = POLICY[`${req.component}.${req.action}`] as { limit: number; window: number };
  if (res.headers['cache-control'] !== 'no-store') fail(`${describe(req)}: Cache-Control ${String(res.headers['cache-control'])}`);
  if (res.statusCode !== 200) {
    const body = res.json() as Record<string, unknown>;
    if (typeof body.error !== 'string' || typeof body.code !== 'string' || typeof body.request_id !== 'string') fail(`${describe(req)}: error body ${res.body}`);
    stats.byCode[body.code] = (stats.byCode[body.code] ?? 0) + 1;
    if (!DOCUMENTED_CODES.has(body.code)) fail(`${describe(req)}: code ${body.code} is not in docs/reference/errors.md`);
    if (res.headers['x-request-id'] !== body.request_id) fail(`${describe(req)}: X-Request-Id ${String(res.headers['x-request-id'])} != request_id ${body.request_id}`);
    if (res.statusCode === 429) {
      const retry = body.retry_after;
      if (body.code !== 'RATE_LIMIT_EXCEEDED' || !Number.isInteger(retry) || (retry as number) < 1 || body.limit !== policy.limit || body.window !== policy.window) {
        fail(`${describe(req)}: 429 body ${res.body}, expected retry_after >= 1, limit ${policy.limit}, window ${policy.window}`);
      }
      if (res.headers['retry-after'] !== String(retry)) fail(`${describe(req)}: Retry-After ${String(res.headers['retry-after'])} != retry_after ${String(retry)}`);
      // RateLimit's t is the wait for more quota: on a 429, Retry-After (docs/security.md §2).
      const t = /;t=(\d+)/.exec(String(res.headers.ratelimit))?.[1];
      if (t !== String(retry) || res.headers['x-ratelimit-remaining'] !== '0') fail(`${describe(req)}: 429 with RateLimit ${String(res.headers.ratelimit)}, X-RateLimit-Remaining ${String(res.headers['x-ratelimit-remaining'])}; expected t=${String(retry)}, 0`);
    }
  }
  if (res.statusCode === 403) return; // the address's budget (docs/security.md §2), not this client's
  const limit = res.headers['x-ratelimit-limit'];
  const remaining = Number(res.headers['x-ratelimit-remaining']);
  if (limit !== String(policy.limit) || !Number.isInteger(remaining) || remaining < 0 || remaining > policy.limit || !/^\d+$/.test(String(res.headers['x-ratelimit-reset']))) {
    fail(`${describe(req)}: rate-limit headers ${JSON.stringify({ limit, remaining: res.headers['x-ratelimit-remaining'], reset: res.headers['x-ratelimit-reset'] })}, limit ${policy.limit}`);
  }
  if (res.headers['ratelimit-policy'] === undefined || res.headers.ratelimit === undefined) fail(`${describe(req)}: no RateLimit-Policy / RateLimit`);
}
