/**
 * bin/livecomponents.js building dist/ before it runs a command, in a scratch project (the real
 * bin/ and scripts/build.mjs, a one-file CLI, the client bundler stubbed out): the compiler's
 * errors never reach the command's stdout, after a failed build the next run builds again
 * instead of taking dist/ for current, and so does it after a source was saved during a build.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WORKER_FILES } from '../../scripts/build.mjs';

const ROOT = join(import.meta.dirname, '../..');
const dirs: string[] = [];
let dir = '';
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * A new scratch project. Its stubbed client bundler, which runs after tsc, saves `edit` (when given)
 * as the CLI's source: an edit made while the build runs, that the build did not compile.
 */
function project(edit?: string): void {
  dir = mkdtempSync(join(tmpdir(), 'lc-cli-build-'));
  dirs.push(dir);
  for (const sub of ['bin', 'scripts', 'src/cli', 'examples/demo/public']) mkdirSync(join(dir, sub), { recursive: true });
  copyFileSync(join(ROOT, 'bin/livecomponents.js'), join(dir, 'bin/livecomponents.js'));
  copyFileSync(join(ROOT, 'scripts/build.mjs'), join(dir, 'scripts/build.mjs'));
  writeFileSync(
    join(dir, 'scripts/bundle-client.mjs'),
    `import { writeFileSync } from 'node:fs';\n` +
      `export async function bundleClient() {\n` +
      (edit === undefined ? '' : `  writeFileSync(${JSON.stringify(join(dir, 'src/cli/index.ts'))}, ${JSON.stringify(cliSource(edit))});\n`) +
      `  return { bytes: 0, gzipBytes: 0 };\n}\nexport function emitClientTypes() {}\n`,
  );
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  // The build copies the worker threads' entry files as they are: present, as in the real project.
  for (const file of WORKER_FILES) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), '');
  }
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(
    join(dir, 'tsconfig.build.json'),
    JSON.stringify({
      compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, types: [], rootDir: '.', outDir: 'dist', incremental: true, tsBuildInfoFile: 'dist/.tsbuildinfo' },
      include: ['src'],
    }),
  );
}

/** Writes the CLI's source (an edit after the last build, so newer than anything in dist/). */
function source(body: string): void {
  writeFileSync(join(dir, 'src/cli/index.ts'), cliSource(body));
}

function cliSource(body: string): string {
  return `${body}\nexport async function main(): Promise<number> {\n  console.log(VERSION);\n  return 0;\n}\n`;
}

function run(): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [join(dir, 'bin/livecomponents.js')], { encoding: 'utf8', timeout: 60_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('livecomponents: the automatic build', () => {
  it("keeps tsc's errors off stdout and builds again after a failed build", { timeout: 120_000 }, () => {
    project();
    source("const VERSION = 'v1';");
    expect(run()).toMatchObject({ stdout: 'v1\n', status: 0 });
    expect(run()).toMatchObject({ stdout: 'v1\n', stderr: '' }); // current: no build

    source("const VERSION: number = 'v2';");
    const failed = run();
    expect(failed.stdout).toBe('v1\n'); // the old dist/, and nothing else
    expect(failed.stderr).toMatch(/error TS2322/);
    expect(failed.stderr).toMatch(/may be out of date/);
    // The failed build does not count: the next run tries again and says so.
    const again = run();
    expect(again.stdout).toBe('v1\n');
    expect(again.stderr).toMatch(/building dist\/[\s\S]*error TS2322/);

    source("const VERSION = 'v3';");
    expect(run()).toMatchObject({ stdout: 'v3\n', status: 0 });
  });

  it('builds again after a source was saved while a build ran', { timeout: 120_000 }, () => {
    project("const VERSION = 'v2';");
    source("const VERSION = 'v1';");
    // The build compiles v1; v2 is saved after tsc read the source, before the build ends.
    expect(run()).toMatchObject({ stdout: 'v1\n', status: 0 });
    expect(readFileSync(join(dir, 'src/cli/index.ts'), 'utf8')).toMatch(/'v2'/);
    // That edit is newer than the build started: the next run builds it.
    const next = run();
    expect(next).toMatchObject({ stdout: 'v2\n', status: 0 });
    expect(next.stderr).toMatch(/building dist\//);
  });
});
