import { afterAll, describe, expect, it } from 'vitest';
import { offThread } from './off-thread.js';

describe('offThread', () => {
  const redact = offThread(new URL('../../src/ops/logging/redact.ts', import.meta.url));
  afterAll(() => redact.close());

  it('runs an export of the module on the worker and answers with its value', { timeout: 60_000 }, async () => {
    expect(await redact.call<string>('censorLine', '{"password":"p"}')).toBe('{"password":"[Redacted]"}');
  });

  it('rejects with the error the call threw there', async () => {
    await expect(redact.call('noSuchExport')).rejects.toThrow(/TypeError: .*not a function/);
  });
});
