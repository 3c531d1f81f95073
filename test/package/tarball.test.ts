/**
 * What `npm pack` puts in the published package. A scratch copy of the repository (its own
 * node_modules/ of links, so tsc's build info stays there) is built as `npm pack` builds it (the
 * `prepack` script: a clean build), then `npm pack --dry-run --json` lists the files; nothing is
 * fetched, and the repository's own dist/ (which other tests use) is not touched.
 *
 * - No build state (tsc's build info, the build stamp), no source maps (they point at src/*.ts,
 *   which is not shipped) and no module naming one (`//# sourceMappingURL=`: debuggers and bundlers
 *   warn about each map they cannot find), and no module that only tests use: every module in dist/
 *   is reached from an entry point (the `exports`, the command, the reference app) through its imports.
 * - LICENSE, README, CHANGELOG, docs/, the command, the client bundle, the migrations, the entry
 *   points.
 * - Every link of README.md and docs/ that stays inside the repository resolves inside the package,
 *   but for the two pages about a checkout of the repository (QUICKSTART.md, deploy/README.md).
 * - The declarations a TypeScript user loads (reached from the `types` of `exports`) import only
 *   Node's modules and packages that the user's install brings with their types: a dependency or
 *   peer dependency that ships types, or whose `@types/` package is itself a dependency. Otherwise
 *   `tsc` fails in the user's project (TS7016) once `skipLibCheck` is off.
 *   Those of the dependencies too: a server module importing `livecomponents` from the packed
 *   tarball, with only what the user's install brings, compiles with `skipLibCheck` off (ioredis's
 *   declarations import `redis-errors`, whose types are ioredis's devDependency only).
 * - Fastify, whose interfaces the declarations augment, is a peer dependency (one copy: the user's).
 * - `livecomponents/client` has types: a browser script importing it from the packed tarball compiles
 *   with `tsc --strict` (and `skipLibCheck` off), `call`'s outcome, `window.LiveComponents` and the
 *   `lc:success` / `lc:error` event details typed, on the document, elements and the window.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, posix } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
/** Left out of the scratch copy: installed, built, or data. */
const NOT_COPIED = new Set(['node_modules', 'dist', '.git', 'data', 'coverage', 'test-results']);

interface PackageJson {
  scripts: Record<string, string>;
  files: string[];
  bin: Record<string, string>;
  exports: Record<string, string | { types?: string; default: string }>;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
let dir = '';
/** Paths in the package, relative to its root. */
let files = new Set<string>();

function run(command: string, args: string[], cwd = dir): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lc-pack-'));
  for (const entry of readdirSync(ROOT)) {
    if (!NOT_COPIED.has(entry)) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  }
  mkdirSync(join(dir, 'node_modules'));
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry !== '.cache') symlinkSync(join(ROOT, 'node_modules', entry), join(dir, 'node_modules', entry));
  }
  // The script npm runs before it packs (its output would mix with --json's, so it runs apart).
  run('npm', pkg.scripts.prepack === undefined ? ['run', '--silent', 'build'] : ['run', '--silent', 'prepack']);
  const [report] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'])) as [{ files: { path: string }[] }];
  files = new Set(report.files.map((f) => f.path));
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The module specifiers of a JavaScript or declaration file (imports, re-exports, `import("…")`, `/// <reference types>`), comments aside. */
function specifiers(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  // And the modules a file loads by URL: a worker thread's entry (`new Worker(new URL('./w.mjs', import.meta.url))`).
  const byUrl = [...source.matchAll(/new URL\(\s*['"](\.{1,2}\/[^'"]+\.m?js)['"]\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[1] as string);
  return [...info.importedFiles.map((ref) => ref.fileName), ...info.typeReferenceDirectives.map((ref) => ref.fileName), ...byUrl];
}

/** Follows relative imports from `entries` (package paths); returns the files reached and the bare specifiers met. */
function walk(entries: string[], declarations: boolean): { reached: Set<string>; bare: Map<string, string> } {
  const reached = new Set<string>();
  const bare = new Map<string, string>(); // specifier -> a file importing it
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    for (const spec of specifiers(readFileSync(join(dir, file), 'utf8'))) {
      if (!spec.startsWith('.')) {
        if (!bare.has(spec)) bare.set(spec, file);
        continue;
      }
      const target = posix.normalize(posix.join(posix.dirname(file), spec));
      queue.push(declarations ? target.replace(/\.js$/, '.d.ts') : target);
    }
  }
  return { reached, bare };
}

function exportTargets(condition: 'types' | 'default'): string[] {
  return Object.values(pkg.exports)
    .map((target) => (typeof target === 'string' ? (condition === 'default' ? target : undefined) : target[condition]))
    .filter((target): target is string => target !== undefined)
    .map((target) => posix.normalize(target));
}

describe('the npm package', () => {
  it('is built from an empty dist/ before it is packed', () => {
    // tsc never deletes an output whose source went away or left the build; npm ships all of dist/.
    expect(pkg.scripts.prepack).toBe('node scripts/build.mjs --clean');
  });

  it('holds exactly these top-level entries, and under dist/ the server, the client bundle and the reference app', () => {
    const top = new Set([...files].map((f) => f.split('/')[0]));
    expect([...top].sort()).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'bin', 'dist', 'docs', 'package.json']);
    const underDist = new Set([...files].filter((f) => f.startsWith('dist/')).map((f) => f.split('/')[1]));
    expect([...underDist].sort()).toEqual(['client', 'examples', 'src']);
  });

  it('ships no build state, no source maps and no test-only module', () => {
    const unwanted = [...files].filter((f) => /\.tsbuildinfo$|\.build-stamp$|\.map$|\.test\.|(^|\/)test-[^/]*$|(^|\/)(test|tests|__tests__)\//.test(f));
    expect(unwanted).toEqual([]);
    expect(files.has('dist/src/sql/test-postgres.js')).toBe(false);
    expect(files.has('dist/src/store/contract.js')).toBe(false); // the store contract suite imports vitest
    const naming = [...files].filter((f) => /\.m?js$/.test(f)).flatMap((f) => {
      const map = /^\/\/# sourceMappingURL=(\S+)\s*$/m.exec(readFileSync(join(dir, f), 'utf8'))?.[1];
      return map === undefined || map.startsWith('data:') || files.has(posix.join(posix.dirname(f), map)) ? [] : [`${f} -> ${map}`];
    });
    expect(naming).toEqual([]);
  });

  it('reaches every shipped module from an entry point (tests alone import none of them)', () => {
    const runtimeEntries = [
      ...exportTargets('default'),
      ...Object.values(pkg.bin).map((b) => posix.normalize(b)),
      'dist/src/cli/index.js', // what bin/livecomponents.js imports (by a computed path)
      'dist/examples/demo/main.js', // the reference app (deploy/Dockerfile's CMD)
    ];
    for (const entry of runtimeEntries) expect(files, entry).toContain(entry);
    const js = walk(runtimeEntries, false).reached;
    const dts = walk(exportTargets('types'), true).reached;
    const modules = [...files].filter((f) => f.startsWith('dist/') && /\.m?js$/.test(f) && !f.startsWith('dist/examples/demo/public/'));
    expect(modules).toContain('dist/src/store/sqlite/checkpoint-worker.mjs'); // copied by the build, reached by URL
    // A module only types import (its .js is empty) counts when its declarations are reached.
    const orphans = modules.filter((f) => !js.has(f) && !dts.has(f.replace(/\.js$/, '.d.ts')) && !dts.has(f));
    expect(orphans).toEqual([]);
  });

  it('ships LICENSE, the docs, the command, the client bundle, the migrations and every entry point', () => {
    expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 LiveComponents contributors\n/);
    const expected = [
      'LICENSE',
      'README.md',
      'CHANGELOG.md',
      'package.json',
      'dist/client/livecomponents.js',
      'dist/examples/demo/public/app.js',
      'dist/examples/demo/public/app.css',
      ...Object.values(pkg.bin).map((b) => posix.normalize(b)),
      ...exportTargets('default'),
      ...exportTargets('types'),
    ];
    const docs = (sub: string): string[] =>
      readdirSync(join(ROOT, sub), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? docs(`${sub}/${e.name}`) : e.name.endsWith('.md') ? [`${sub}/${e.name}`] : []));
    expected.push(...docs('docs'));
    const migrations = readdirSync(join(ROOT, 'src/sql/migrations')).filter((f) => /^\d+_.*\.ts$/.test(f) && !f.endsWith('.test.ts'));
    expect(migrations.length).toBeGreaterThan(0);
    expected.push('dist/src/sql/migrations/index.js', ...migrations.map((f) => `dist/src/sql/migrations/${f.replace(/\.ts$/, '.js')}`));
    expect(expected.filter((f) => !files.has(f))).toEqual([]);
  });

  it("resolves README's and the docs' links inside the package, but for the two pages about a checkout", () => {
    const dangling = new Set<string>();
    for (const page of [...files].filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(dir, page), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        const link = m[1]!;
        if (/^[a-z][a-z+.-]*:/i.test(link)) continue; // https:, mailto:
        const target = normalize(join(dirname(page), link)).replaceAll('\\', '/').replace(/\/$/, '');
        expect(target.startsWith('..'), `${page} links ${link}, outside the repository`).toBe(false);
        if (!files.has(target) && ![...files].some((f) => f.startsWith(`${target}/`))) dangling.add(target);
      }
    }
    expect([...dangling].sort()).toEqual(['QUICKSTART.md', 'deploy/README.md']);
  });

  it('has declarations that import only what a user install brings, types included', () => {
    const { reached, bare } = walk(exportTargets('types'), true);
    for (const file of reached) expect(files, `${file} (imported by a declaration)`).toContain(file);
    const installed = { ...pkg.dependencies, ...pkg.peerDependencies };
    const problems: string[] = [];
    for (const [spec, from] of bare) {
      if (spec.startsWith('node:') || builtinModules.includes(spec) || spec === 'node') continue; // @types/node: the user's
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (!(name in installed)) {
        problems.push(`${spec} (in ${from}): not in dependencies or peerDependencies`);
        continue;
      }
      const types = typesOf(spec, join(dir, from));
      if (types === undefined) problems.push(`${spec} (in ${from}): no declarations found`);
      else if (types !== name && !(types in installed)) problems.push(`${spec} (in ${from}): its types come from ${types}, which is not a dependency`);
    }
    expect(problems).toEqual([]);
  });

  it("takes Fastify as a peer dependency: its interfaces are augmented, and the app is the user's", () => {
    // `declare module 'fastify'` (app.livecomponents, request.cookies…) attaches to the copy our
    // declarations resolve. As a dependency, a user whose Fastify is outside our range got a copy of
    // their own and the README's example failed to compile (TS2769 on app.register, TS2339 on
    // app.livecomponents). ioredis's augmentation only adds our Lua commands to the client type and
    // stays a dependency: with any 6.x in the user's project, npm installs one copy.
    const { reached } = walk(exportTargets('types'), true);
    expect(augmented(reached)).toEqual(['fastify', 'ioredis']);
    expect(pkg.peerDependencies?.fastify).toMatch(/^\^5\.\d+\.\d+$/);
    expect(pkg.dependencies).not.toHaveProperty('fastify');
  });

  it('loads the Redis and PostgreSQL drivers only when an app opens those backends, not on import', () => {
    // Each cost ~0.25–0.5 s of every start (src/core/lazy-require.ts).
    const script = `
      import { createRequire } from 'node:module';
      const lc = await import('./dist/src/index.js');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).map((p) => /node_modules\\/(ioredis|pg)\\//.exec(p)?.[1]).filter(Boolean);
      const before = [...new Set(loaded())];
      const store = lc.createRedisStore({ url: 'redis://127.0.0.1:1' });
      const db = lc.createDatabase('postgres://127.0.0.1:1/none');
      console.log(JSON.stringify({ before, after: [...new Set(loaded())].sort() }));
      await store.close();
      await db.destroy();
    `;
    expect(JSON.parse(run(process.execPath, ['--input-type=module', '-e', script]))).toEqual({ before: [], after: ['ioredis', 'pg'] });
  });
});

/** A browser script of a user's project: what docs/client.md shows, with its types pinned down. */
const CONSUMER = `import { call, CLIENT_CODES, type ActionError, type ActionOutcome, type ErrorDetail, type SuccessDetail } from 'livecomponents/client';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function same<T extends true>(): void {}

document.addEventListener('lc:error', (e) => {
  same<Equal<typeof e, CustomEvent<ErrorDetail>>>();
  same<Equal<typeof e.detail.code, string>>();
  same<Equal<typeof e.detail.status, number>>();
  same<Equal<typeof e.detail.retry_after, number | undefined>>();
  same<Equal<typeof e.detail.errors, Record<string, string[]> | undefined>>();
  same<Equal<typeof e.detail.reloaded, boolean | undefined>>();
  same<Equal<typeof e.detail.outcomeUnknown, true | undefined>>();
  const { componentId, action }: { componentId: string; action: string } = e.detail;
  const error: ActionError = e.detail;
  console.log(componentId, action, error);
  // @ts-expect-error the token updates the page: not a field of the detail
  console.log(e.detail.csrf_token);
});
document.addEventListener('lc:success', (e) => {
  same<Equal<typeof e.detail, SuccessDetail>>();
  same<Equal<typeof e.detail.state, Record<string, unknown>>>();
  same<Equal<typeof e.detail.idempotency, { key: string; cached: boolean; ttl: number; created_at: string } | undefined>>();
});
// Dispatched on the component root, bubbling: listened for on elements and on the window too.
document.querySelector('[data-lc-id]')?.addEventListener('lc:success', (e) => same<Equal<typeof e.detail, SuccessDetail>>());
document.body.addEventListener('lc:error', (e) => same<Equal<typeof e.detail, ErrorDetail>>());
window.addEventListener('lc:error', (e) => same<Equal<typeof e.detail, ErrorDetail>>());
// Other events keep their types.
document.addEventListener('keydown', (e) => same<Equal<typeof e, KeyboardEvent>>());

const outcome = await call('counter:main', 'increment', { by: 2 });
same<Equal<typeof outcome, ActionOutcome>>();
if (outcome.type === 'ok') same<Equal<typeof outcome.detail, SuccessDetail>>();
else if (outcome.type === 'error') same<Equal<typeof outcome.detail.code, string>>();
else same<Equal<typeof outcome, { type: 'busy' }>>();
// @ts-expect-error params are an object
void call('counter:main', 'increment', 2);
const viaWindow = window.LiveComponents?.call('counter:main', 'increment');
same<Equal<typeof viaWindow, Promise<ActionOutcome> | undefined>>();
same<Equal<typeof CLIENT_CODES.network, 'NETWORK_ERROR'>>();
`;

describe('livecomponents/client types', () => {
  it('a browser script importing livecomponents/client from the packed tarball compiles with tsc --strict, events and outcomes typed', () => {
    const project = mkdtempSync(join(tmpdir(), 'lc-consumer-'));
    try {
      // The tarball as npm would install it (its dependencies are not needed: the client's types use the DOM's alone).
      installPacked(project);
      // Strict, declarations checked too (skipLibCheck off), a browser project: the DOM, no Node types.
      const compilerOptions = {
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        noEmit: true,
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['es2022', 'dom'],
        types: [],
      };
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts'] }));
      const tsc = (): { status: number | null; output: string } => compile(project);
      writeFileSync(join(project, 'main.ts'), CONSUMER);
      expect(tsc()).toEqual({ status: 0, output: '' });
      // The check bites: a wrong detail type fails to compile.
      writeFileSync(join(project, 'main.ts'), `${CONSUMER}\ndocument.addEventListener('lc:error', (e) => { const n: number = e.detail.code; console.log(n); });\n`);
      expect(tsc().output).toMatch(/main\.ts\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  }, 180_000);
});

/** A server module of a user's project: the README's start, and the Redis store (whose declarations bring ioredis's). */
const SERVER_CONSUMER = `import { html, createRedisStore, type SafeHtml } from 'livecomponents';

const store = createRedisStore({ url: 'redis://127.0.0.1:6379' });
const page: SafeHtml = html\`<p>\${'hello'}</p>\`;
console.log(page, store);
`;

describe('livecomponents types in a server project', () => {
  it('a server module importing livecomponents from the packed tarball compiles with tsc --strict and skipLibCheck off, with only what its install brings', () => {
    const project = mkdtempSync(join(tmpdir(), 'lc-server-consumer-'));
    try {
      installPacked(project);
      // What `npm install livecomponents` brings beside it (from the repository's node_modules/, so
      // nothing is fetched), and the user's own @types/node. Links: `preserveSymlinks` keeps the
      // compiler resolving from here, not from the repository's node_modules/ (which has everything).
      const linked = installClosure([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies ?? {}), '@types/node']);
      for (const name of linked) {
        mkdirSync(dirname(join(project, 'node_modules', name)), { recursive: true });
        symlinkSync(join(ROOT, 'node_modules', name), join(project, 'node_modules', name));
      }
      const compilerOptions = {
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        preserveSymlinks: true,
        noEmit: true,
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['es2023'],
        types: ['node'],
      };
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts'] }));
      writeFileSync(join(project, 'main.ts'), SERVER_CONSUMER);
      expect(compile(project)).toEqual({ status: 0, output: '' });
      // A version in our range may reach more of a dependency's declarations than the one installed
      // here: ioredis 6.1.0's index re-exports its errors, whose declarations import `redis-errors`
      // (TS7016 without @types/redis-errors); 6.0.0's did not. So every declaration file of each
      // dependency the compile loaded must find the types of what it imports.
      const direct = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies ?? {})]);
      const loaded = loadedPackages(project, compile(project, ['--listFiles']).output).filter((name) => direct.has(name));
      expect(loaded).toContain('ioredis');
      expect(untypedImports(project, loaded)).toEqual([]);
      // The check bites: without the types ioredis's declarations need, they are named.
      rmSync(join(project, 'node_modules/@types/redis-errors'));
      expect(untypedImports(project, ['ioredis'])).toContain("redis-errors (in ioredis/built/errors/MaxRetriesPerRequestError.d.ts): no declarations found");
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  }, 180_000);
});

/** Packs the scratch copy (built) and unpacks the tarball into `project`/node_modules/livecomponents, as npm installs it. */
function installPacked(project: string): void {
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', project])) as [{ filename: string }];
  const installed = join(project, 'node_modules/livecomponents');
  mkdirSync(installed, { recursive: true });
  run('tar', ['-xzf', join(project, packed.filename), '-C', installed, '--strip-components=1']);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
}

/** `tsc -p tsconfig.json` in `project`. */
function compile(project: string, args: string[] = []): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', ...args], { cwd: project, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The packages (but ours) under `project`/node_modules/ whose files tsc's `--listFiles` output names. */
function loadedPackages(project: string, listing: string): string[] {
  const prefix = `${join(project, 'node_modules')}/`;
  const names = listing
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .map((line) => {
      const parts = line.slice(prefix.length).split('/');
      return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
    });
  return [...new Set(names)].filter((name) => name !== 'livecomponents').sort();
}

/** `spec (in package/file): …` for each bare import of a declaration file of `packages` whose types `project` lacks. */
function untypedImports(project: string, packages: string[]): string[] {
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, preserveSymlinks: true };
  const declarations = (folder: string): string[] =>
    readdirSync(folder, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? (e.name === 'node_modules' ? [] : declarations(join(folder, e.name))) : /\.d\.[mc]?ts$/.test(e.name) ? [join(folder, e.name)] : [],
    );
  const problems: string[] = [];
  for (const name of packages) {
    const root = join(project, 'node_modules', name);
    for (const file of declarations(root)) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        // Imported or required, as the package's format says: found either way is enough here.
        const typed = ([ts.ModuleKind.ESNext, ts.ModuleKind.CommonJS] as const).some((mode) => {
          const resolved = ts.resolveModuleName(spec, file, options, ts.sys, undefined, undefined, mode).resolvedModule;
          return resolved !== undefined && /\.d\.[mc]?ts$/.test(resolved.resolvedFileName);
        });
        if (!typed) problems.push(`${spec} (in ${name}/${posix.relative(root, file)}): no declarations found`);
      }
    }
  }
  return problems;
}

/**
 * `names` and the packages they need, and those need, as npm installs them for a user (dependencies,
 * optional ones that are installed, and required peer dependencies), found in the repository's
 * node_modules/ (flat: a package kept in another's own node_modules/ comes with it).
 */
function installClosure(names: string[]): string[] {
  const found = new Set<string>();
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (found.has(name) || !existsSync(join(ROOT, 'node_modules', name, 'package.json'))) continue;
    found.add(name);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    const peers = Object.keys(manifest.peerDependencies ?? {}).filter((peer) => manifest.peerDependenciesMeta?.[peer]?.optional !== true);
    queue.push(...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {}), ...peers);
  }
  return [...found].sort();
}

/** The modules that declarations in `reached` augment (`declare module 'name'`). */
function augmented(reached: Set<string>): string[] {
  const names = new Set<string>();
  for (const file of reached) {
    for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/^\s*declare module ['"]([^'"]+)['"]/gm)) names.add(m[1]!);
  }
  return [...names].sort();
}

/**
 * Where TypeScript finds the declarations of `spec` imported by `from` (NodeNext, as an ES module):
 * the package's own name when it ships them, `@types/…` when they come from there, `undefined`
 * when there are none (TS7016 in the user's project).
 */
function typesOf(spec: string, from: string): string | undefined {
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext };
  const resolved = ts.resolveModuleName(spec, from, options, ts.sys, undefined, undefined, ts.ModuleKind.ESNext).resolvedModule;
  if (resolved === undefined || !/\.d\.[mc]?ts$/.test(resolved.resolvedFileName)) return undefined;
  const path = resolved.resolvedFileName.replaceAll('\\', '/');
  const inModules = path.slice(path.lastIndexOf('/node_modules/') + '/node_modules/'.length).split('/');
  return inModules[0]!.startsWith('@') ? `${inModules[0]}/${inModules[1]}` : inModules[0];
}
