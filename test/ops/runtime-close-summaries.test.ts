/**
 * `createLiveComponents` without `events` makes its own security logger; `runtime.close()` closes
 * it, so the flood summaries it still counts reach standard output before the process exits.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const child = fileURLToPath(new URL('./fixtures/runtime-close-child.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

it('runtime.close() writes the pending summary of its own security logger (10 lines, then one summary of 5)', async () => {
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', child], { cwd: root }, (error, out) => resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout: out }));
  });
  expect(code).toBe(0);
  const lines = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['event'] === 'malicious_csrf');
  expect(lines.map((l) => l['suppressed'])).toEqual([...Array.from({ length: 10 }, () => undefined), 5]);
  expect(lines[10]).toMatchObject({ source_ip: '203.0.113.7', suppressed_scope: 'client', description: 'CSRF token refused (14)' });
});
