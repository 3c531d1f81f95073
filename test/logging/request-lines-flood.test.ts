/**
 * Fastify's request lines of refused requests under the security logger's flood limit
 * (src/ops/logging/request-lines.ts): a refusal line not written takes its request's lines with it,
 * counted in the window's summary; every other request's lines are written as Fastify writes them.
 * Exact counts, hostile clients: one address, many spoofed forwarded addresses, an IPv6 /56.
 */
import { request as httpRequest } from 'node:http';
import { LogController, type FastifyInstance } from 'fastify';
import { expect, it } from 'vitest';
import { FloodLogController, heldRequestLines } from '../../src/ops/logging/request-lines.js';
import { waitUntil } from '../helpers/wait-until.js';
import type { Capture } from './capture.js';
import { floodApp } from './flood-app.js';

const LABEL = { requestIdLogLabel: 'request_id' };
type App = Pick<FastifyInstance, 'inject'>;

const refused = (app: App, ip: string) => app.inject({ url: '/x', headers: { 'x-refuse': '1', 'x-forwarded-for': ip } });
const admitted = (app: App, ip: string) => app.inject({ url: '/x', headers: { 'x-forwarded-for': ip } });
const count = (out: Capture, msg: string) => out.records().filter((r) => r['msg'] === msg).length;
const summaryOf = (out: Capture) => out.records().filter((r) => r['suppressed'] !== undefined);

it('2,000 refusals from one address: 11 incoming and 10 completed lines, 10 event lines and one summary counting the 3,979 request lines not written', async () => {
  const { app, out, done } = await floodApp();
  for (let i = 0; i < 2000; i++) expect((await refused(app, '203.0.113.7')).statusCode).toBe(403);
  await done();
  // The 11th request's incoming line comes before its refusal, the first one counted.
  expect([count(out, 'incoming request'), count(out, 'request completed'), out.records().filter((r) => r['event'] === 'malicious_csrf').length]).toEqual([11, 10, 11]);
  const [summary] = summaryOf(out);
  expect(summary).toMatchObject({ suppressed: 1990, suppressed_client: '203.0.113.7', request_lines_suppressed: 1 + 2 * 1989 });
  expect(summary?.['msg']).toContain('and 3979 request line(s) of those requests not written');

  // The limit off (floodLimit: false): every request line, as before.
  const off = await floodApp({ floodLimit: false });
  for (let i = 0; i < 50; i++) await refused(off.app, '203.0.113.7');
  await off.done();
  expect([count(off.out, 'incoming request'), count(off.out, 'request completed')]).toEqual([50, 50]);
});

it('during the flood, other clients and the flooding client\'s admitted requests get every line, the same fields as with Fastify\'s own controller', async () => {
  const refusedLines: number[] = [];
  const run = async (controller: LogController) => {
    const { app, out, done } = await floodApp({ controller });
    for (let i = 0; i < 30; i++) {
      await refused(app, '203.0.113.7');
      await admitted(app, '198.51.100.1');
      if (i % 10 === 9) await admitted(app, '203.0.113.7');
    }
    await done();
    refusedLines.push(out.records().filter((r) => r['msg'] === 'request completed' && (r['res'] as { statusCode: number }).statusCode === 403).length);
    // Lines of admitted requests (their ids), without what differs from run to run.
    const refusedIds = new Set(out.records().filter((r) => r['security_event'] === true).map((r) => r['request_id']));
    return out
      .records()
      .filter((r) => r['security_event'] === undefined && r['suppressed'] === undefined && r['request_id'] !== undefined && out.records().some((e) => e['request_id'] === r['request_id'] && e['msg'] === 'request completed' && (e['res'] as { statusCode: number }).statusCode === 200) && !refusedIds.has(r['request_id']))
      .map(({ time: _t, responseTime: _r, ...rest }) => rest);
  };
  const stock = await run(new LogController(LABEL));
  const limited = await run(new FloodLogController(LABEL));
  // 30 + 3 admitted requests, two lines each, in the same order.
  expect(limited).toHaveLength(66);
  expect(limited).toEqual(stock);
  // While the 30 refusals' completed lines were 30 with Fastify's controller, and 10 with ours.
  expect(refusedLines).toEqual([30, 10]);
});

it('spoofed forwarded addresses past maxClients: their completed lines counted in the all_clients summary, the tracked ones per client', async () => {
  const { app, out, done } = await floodApp({ floodLimit: { linesPerWindow: 1, maxClients: 5 } });
  // 20 addresses, 3 refusals each: 5 tracked (1 written, 2 counted each), 15 in the shared bucket.
  for (let round = 0; round < 3; round++) for (let i = 0; i < 20; i++) await refused(app, `10.0.0.${i}`);
  await done();
  const summaries = summaryOf(out);
  const shared = summaries.find((s) => s['suppressed_scope'] === 'all_clients');
  // The shared bucket wrote its first line and counted 44: their completed lines are not written;
  // incoming lines of clients not tracked are written (any client could be among them).
  expect(shared).toMatchObject({ suppressed: 44, request_lines_suppressed: 44 });
  const perClient = summaries.filter((s) => s['suppressed_scope'] === 'client');
  expect(perClient).toHaveLength(5);
  // Each tracked client: round 2's completed line, round 3's incoming and completed lines.
  for (const s of perClient) expect(s).toMatchObject({ suppressed: 2, request_lines_suppressed: 3 });
  expect([count(out, 'incoming request'), count(out, 'request completed')]).toEqual([60 - 5, 60 - 44 - 10]);
});

it('IPv6: addresses of one /56 are one client, so a new address in it gets no fresh request lines', async () => {
  const { app, out, done } = await floodApp();
  for (let i = 0; i < 100; i++) expect((await refused(app, `2001:db8:0:${(i % 200).toString(16)}::${i + 1}`)).statusCode).toBe(403);
  await done();
  expect([count(out, 'incoming request'), count(out, 'request completed')]).toEqual([11, 10]);
  expect(summaryOf(out)).toMatchObject([{ suppressed: 90, suppressed_client: '2001:db8::/56', request_lines_suppressed: 1 + 2 * 89 }]);
});

it('a forwarded address of kilobytes is keyed as the security line keys it (cut to 64 characters)', async () => {
  const { app, out, done } = await floodApp();
  const long = `198.51.100.9${'x'.repeat(5000)}`;
  for (let i = 0; i < 40; i++) await refused(app, i % 2 === 0 ? long : `${long}${i}`);
  await done();
  expect([count(out, 'incoming request'), count(out, 'request completed')]).toEqual([11, 10]);
});

it('a held incoming line of a request whose connection is cut before the answer is let go (else every later request would take the slow path)', async () => {
  let answer: (() => void) | undefined;
  const { app, done, listen } = await floodApp({ routes: (a) => a.get('/slow', () => new Promise((resolve) => (answer = () => resolve('late')))) });
  for (let i = 0; i < 12; i++) await refused(app, '203.0.113.7');
  const port = await listen();
  expect(heldRequestLines()).toBe(0);
  const req = httpRequest({ port, host: '127.0.0.1', path: '/slow', headers: { 'x-forwarded-for': '203.0.113.7' } });
  req.on('error', () => undefined);
  req.end();
  await waitUntil('the /slow request to be held', () => heldRequestLines() === 1 && answer !== undefined);
  req.destroy();
  await waitUntil('the cut request to be let go', () => heldRequestLines() === 0, { seen: heldRequestLines });
  answer?.();
  await done();
});
