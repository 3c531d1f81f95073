/**
 * PROTOCOL §5: no password, token, cookie or key ever reaches a log line. The reference app logs
 * at trace level into memory while every flow in flows.ts runs; then the whole log text is
 * searched for every secret that went by.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CENSOR } from '../../src/ops/logging/index.js';
import { FLOWS } from './flows.js';
import { loggedApp, type LoggedApp } from './logged-app.js';

describe('redaction across the whole app (e2e)', () => {
  let ctx: LoggedApp;
  let records: Record<string, unknown>[];
  let text: string;

  beforeAll(async () => {
    ctx = await loggedApp();
    for (const flow of FLOWS) await flow.run(ctx);
    await ctx.close();
    text = ctx.out.text();
    records = ctx.out.records();
  });
  afterAll(async () => ctx.close());

  it('logs no secret that went by, in any form of the text', () => {
    // Sanity: the run did issue CSRF tokens (one per page at least) and session cookies.
    const secrets = [...ctx.secrets].filter((s) => s !== '');
    expect(secrets.filter((s) => s.startsWith('v1.')).length).toBeGreaterThanOrEqual(FLOWS.length);
    expect(secrets.filter((s) => /^[A-Za-z0-9_-]{22}$/.test(s)).length).toBeGreaterThanOrEqual(FLOWS.length);
    const leaked = secrets.filter((s) => text.includes(s) || text.includes(encodeURIComponent(s)) || text.includes(JSON.stringify(s).slice(1, -1)));
    expect(leaked).toEqual([]);
  });

  it('censors, rather than drops, the fields careless code logged', () => {
    const echo = records.filter((r) => r['msg'] === 'echo');
    expect(echo).toHaveLength(1);
    expect(echo[0]).toMatchObject({
      level: 10,
      headers: { cookie: CENSOR, 'x-csrf-token': CENSOR, authorization: CENSOR, 'content-type': 'application/json' },
      body: { email: 'a@example.com', password: CENSOR, refresh_token: CENSOR },
      // The whole object: a cookie's name says nothing of whether its value is a credential (another app's `sid`).
      cookies: CENSOR,
    });
    const queries = records.filter((r) => (r['req'] as { url?: string } | undefined)?.url?.startsWith('/?token='));
    expect(queries.map((r) => (r['req'] as { url: string }).url)).toEqual([`/?token=${CENSOR}&password=${CENSOR}&page=2`]);
  });

  it('puts request_id on every request line: one "incoming" and one "completed" per request', () => {
    const incoming = records.filter((r) => r['msg'] === 'incoming request');
    const completed = records.filter((r) => r['msg'] === 'request completed');
    expect(incoming).toHaveLength(ctx.requests());
    expect(completed).toHaveLength(ctx.requests());
    const requestLines = records.filter((r) => 'req' in r || 'res' in r);
    expect(requestLines.every((r) => typeof r['request_id'] === 'string' && r['request_id'] !== '')).toBe(true);
    expect(new Set(completed.map((r) => r['request_id'])).size).toBe(ctx.requests());
    expect(records.some((r) => 'reqId' in r)).toBe(false);
  });

  it('writes each security event of the flows once, in the same stream', () => {
    const expected: Record<string, number> = {};
    for (const flow of FLOWS) for (const [name, n] of Object.entries(flow.events)) expected[name] = (expected[name] ?? 0) + n;
    const seen: Record<string, number> = {};
    for (const r of records.filter((x) => x['security_event'] === true)) seen[r['event'] as string] = (seen[r['event'] as string] ?? 0) + 1;
    expect(seen).toEqual(expected);
  });
});
