/**
 * deploy/Dockerfile read line by line (no Docker engine runs in CI, so no image is built here):
 * stages, user, health check, what is copied, and whether the production dependencies that stay in
 * the image after `npm prune --omit=dev` cover every package the reference app loads.
 */
import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEALTH_ROUTES } from '../../src/ops/health/index.js';
import { readDeploy, ROOT } from './tools.js';

interface Instruction {
  keyword: string;
  args: string;
  stage: string;
}

/** Instructions with continuation lines joined and comments dropped, each tagged with its stage name. */
function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  const out: Instruction[] = [];
  let stage = '';
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`not an instruction: ${line}`);
    const keyword = (m[1] as string).toUpperCase();
    const args = (m[2] as string).replace(/\s+/g, ' ');
    if (keyword === 'FROM') stage = /\sAS\s+(\S+)$/i.exec(args)?.[1] ?? '';
    out.push({ keyword, args, stage });
  }
  return out;
}

/**
 * Whether a .dockerignore pattern list leaves `path` out of the context, as BuildKit reads it:
 * patterns anchored at the context's root, `*` within a name, `**` any number of folders, a folder
 * left out with everything in it, and a later `!pattern` taking a path back in.
 */
function ignored(patterns: string[], path: string): boolean {
  let out = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (patternRegExp(negated ? pattern.slice(1) : pattern).test(path)) out = !negated;
  }
  return out;
}

function patternRegExp(pattern: string): RegExp {
  const parts = pattern.split('/');
  const last = parts.length - 1;
  const body = parts.map((part, i) => {
    if (part === '**') return i === last ? '.*' : '(?:[^/]+/)*';
    const name = part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
    return i === last ? name : `${name}/`;
  });
  return new RegExp(`^${body.join('')}(?:/.*)?$`);
}

const dockerfile = parseDockerfile(readDeploy('Dockerfile'));
const stages = dockerfile.filter((i) => i.keyword === 'FROM');
const finalStage = stages.at(-1)?.stage ?? '';
const inStage = (stage: string, keyword: string) => dockerfile.filter((i) => i.stage === stage && i.keyword === keyword);
const dockerignore = readDeploy('Dockerfile.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('keeps secrets out of the build context: QUICKSTART’s production.env and every .env', () => {
    for (const secret of ['production.env', '.env', '.env.production', 'deploy/.env', 'deploy/production.env', 'examples/demo/.env']) {
      expect(ignored(dockerignore, secret), secret).toBe(true);
    }
  });

  it('is multi-stage, every stage named, on Node 22 (Node 20 is out of support since 2026-04-30)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const from of stages) expect(from.stage, from.args).not.toBe('');
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(readDeploy('Dockerfile'))?.[1];
    expect(image).toBe('node:22-bookworm-slim');
    for (const from of stages) expect(from.args, 'every stage on the one NODE_IMAGE').toMatch(/^\$\{NODE_IMAGE\} AS /);
    // The image's Node meets the app's own floor (`engines`, which may stay lower for library users).
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(Number(/^>=\s*(\d+)/.exec(engines)?.[1])).toBeLessThanOrEqual(22);
  });

  it('gives the build stage what node-gyp needs when better-sqlite3 builds from source', () => {
    const build = stages[0]?.stage ?? '';
    const installs = inStage(build, 'RUN').map((i) => i.args).join('\n');
    for (const tool of ['python3', 'make', 'g++']) expect(installs, tool).toMatch(new RegExp(`apt-get install [^\\n]*\\s${tool.replaceAll('+', '\\+')}(\\s|$)`));
  });

  it('installs with `npm ci`, builds, and keeps only production dependencies', () => {
    const build = stages[0]?.stage ?? '';
    const runs = inStage(build, 'RUN').map((i) => i.args);
    const ci = runs.findIndex((r) => /\bnpm ci\b/.test(r));
    const compile = runs.findIndex((r) => /\bnpm run build\b/.test(r));
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(compile).toBeGreaterThan(ci);
    expect(runs.some((r) => /\bnpm prune --omit=dev\b/.test(r))).toBe(true);
    expect(inStage(finalStage, 'RUN').map((i) => i.args).join('\n')).not.toMatch(/\bnpm (ci|install)\b/);
  });

  it('runs the final stage as an unprivileged user', () => {
    const users = inStage(finalStage, 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)?.args).not.toMatch(/^(root|0)(:|$)/);
  });

  it('has a HEALTHCHECK on the liveness route and starts the reference app', () => {
    const health = inStage(finalStage, 'HEALTHCHECK');
    expect(health).toHaveLength(1);
    expect(health[0]?.args).toContain(HEALTH_ROUTES.live);
    const cmd = JSON.parse(inStage(finalStage, 'CMD').at(-1)?.args ?? 'null') as unknown;
    expect(cmd).toEqual(['node', 'dist/examples/demo/main.js']);
    expect(existsSync(join(ROOT, 'examples/demo/main.ts'))).toBe(true);
    const port = /\bPORT=(\d+)/.exec(inStage(finalStage, 'ENV').map((i) => i.args).join(' '))?.[1];
    expect(inStage(finalStage, 'EXPOSE').map((i) => i.args)).toEqual([port]);
  });

  it('copies sources that exist and the build context keeps; the final stage copies only build output', () => {
    const build = stages[0]?.stage ?? '';
    const sources = inStage(build, 'COPY')
      .filter((i) => !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(' ').slice(0, -1));
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(ignored(dockerignore, source), `${source} is excluded by Dockerfile.dockerignore`).toBe(false);
    }
    // Everything scripts/build.mjs compiles and bundles is in the image.
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    for (const needed of [...tsconfig.include, 'client', 'scripts', 'package-lock.json']) expect(sources, needed).toContain(needed);
    for (const copy of inStage(finalStage, 'COPY')) expect(copy.args, copy.args).toMatch(/^--from=/);
    for (const heavy of ['node_modules', 'dist', '.git', 'data']) expect(ignored(dockerignore, heavy), heavy).toBe(true);
  });
});

/** Bare package names a TypeScript module imports at run time (type-only imports excluded). */
function runtimeImports(source: string): { packages: string[]; relative: string[] } {
  const specifiers: string[] = [];
  const statements = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(statements)) if (m[1] === undefined) specifiers.push(m[2] as string);
  // import('x'), require('x'), require.resolve('x'), createRequire(import.meta.url)('x')
  // (`require.resolve` spelled out: `Promise.resolve('spent')` names no module.)
  for (const m of source.matchAll(/(?:\bimport|\brequire|\brequire\.resolve|\))\(\s*['"]([^'"]+)['"]\s*\)/g)) specifiers.push(m[1] as string);
  // A worker thread's entry, loaded by URL: `new Worker(new URL('./w.mjs', import.meta.url))`.
  for (const m of source.matchAll(/new URL\(\s*['"](\.{1,2}\/[^'"]+\.m?js)['"]\s*,\s*import\.meta\.url\s*\)/g)) specifiers.push(m[1] as string);
  const builtins = new Set(builtinModules);
  const packages = specifiers
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtins.has(s.split('/')[0] as string))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] as string)));
  return { packages, relative: specifiers.filter((s) => s.startsWith('.')) };
}

describe('the image’s production dependencies', () => {
  it('cover every package the reference app loads (module graph from examples/demo/main.ts)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; peerDependencies?: Record<string, string> };
    // npm installs a project's own peer dependencies (fastify), and `--omit=dev` keeps them.
    const production = { ...pkg.dependencies, ...pkg.peerDependencies };
    const seen = new Set<string>();
    const packages = new Map<string, string>();
    const queue = [join(ROOT, 'examples/demo/main.ts')];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const { packages: found, relative } = runtimeImports(readFileSync(file, 'utf8'));
      for (const name of found) if (!packages.has(name)) packages.set(name, file.slice(ROOT.length));
      for (const spec of relative) {
        const target = join(dirname(file), spec).replace(/\.js$/, '.ts');
        if (existsSync(target)) queue.push(target);
        else if (!existsSync(join(dirname(file), spec))) throw new Error(`${file}: cannot resolve ${spec}`);
      }
    }
    expect(seen.size).toBeGreaterThan(20);
    expect(seen, 'the checkpoint worker, loaded by URL, is followed').toContain(join(ROOT, 'src/store/sqlite/checkpoint-worker.mjs'));
    expect([...packages.keys()]).toEqual(expect.arrayContaining(['fastify', 'sodium-native']));
    const missing = [...packages].filter(([name]) => !(name in production)).map(([name, from]) => `${name} (imported by ${from})`);
    expect(missing, 'imported at run time but in neither "dependencies" nor "peerDependencies": `npm prune --omit=dev` removes them').toEqual([]);
  });
});
