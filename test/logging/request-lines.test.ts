/**
 * Request log lines ("incoming request") carry what a client chose — the forwarded address above
 * all, with TRUST_PROXY — escaped and cut as security events carry it.
 */
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { capture } from './capture.js';

it("a forwarded address with C1 controls and kilobytes of text is escaped and cut to 64 characters; the URL's and host's controls escaped", async () => {
  for (const format of ['json', 'pretty'] as const) {
    const out = capture();
    const logger = createLogger({ format, stream: out, level: 'info' });
    const app = Fastify({ loggerInstance: logger, trustProxy: true });
    app.get('/x', async () => 'ok');
    const hostile = `\u009b2J\u009b31mFAKE-ALERT\u0085NEXT${'A'.repeat(8000)}`;
    const res = await app.inject({ url: '/x?q=%C2%9B', headers: { 'x-forwarded-for': hostile, host: 'example.com' } });
    expect(res.statusCode).toBe(200);
    await app.close();
    await closeLogger(logger);
    const text = out.text();
    // No raw C1 control reaches the output, whatever the format.
    expect(text).not.toMatch(/[\u0080-\u009f]/);
    if (format === 'json') {
      const incoming = out.records().find((r) => r['msg'] === 'incoming request') as { req: Record<string, unknown> };
      expect(incoming.req).toEqual({
        method: 'GET',
        url: '/x?q=%C2%9B',
        host: 'example.com',
        remoteAddress: `\\u009b2J\\u009b31mFAKE-ALERT\\u0085NEXT${'A'.repeat(64 - 22)}`,
      });
    }
  }
});
