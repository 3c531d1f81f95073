/**
 * The TypeScript examples of README.md and docs/*.md compile against the package's API: what users
 * copy works. Each ```ts block is a module (named after its page and line: a failure reads
 * `docs/components.md:120: TS2345 …`), checked with the repository's tsconfig.json (strict),
 * `livecomponents`, `livecomponents/client` and `livecomponents/testing` resolved to their sources
 * (src/index.ts, client/index.ts, src/testing/index.ts), in one program. A fragment says what it
 * leans on in a marker before its fence (test/package/docs-examples.ts: `continues`, `given`, `in`,
 * `skip (why)`); the skips are listed and counted here, so a new one is a decision the diff shows.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { blocksOf, check, examplesOf, type Block } from './docs-examples.js';

const ROOT = join(import.meta.dirname, '../..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/** The repository's compiler options, the examples' imports of the package mapped to its sources. */
function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (f) => ts.sys.readFile(f));
  const { options, errors } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  expect(errors).toEqual([]);
  return {
    ...options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    moduleDetection: ts.ModuleDetectionKind.Force, // a block without import is a module too, not a script
    paths: {
      livecomponents: [join(ROOT, 'src/index.ts')],
      'livecomponents/client': [join(ROOT, 'client/index.ts')],
      'livecomponents/testing': [join(ROOT, 'src/testing/index.ts')],
    },
  };
}

describe('the TypeScript examples of README.md and docs/*.md', () => {
  const blocks: Block[] = DOCS.flatMap((doc) => blocksOf(ROOT, doc));
  const { examples, skipped } = examplesOf(ROOT, blocks);

  it('are all found: every ```ts fence of the pages is a block', () => {
    const fences = DOCS.reduce((n, doc) => n + (readFileSync(join(ROOT, doc), 'utf8').match(/^[ \t]*```ts[ \t]*$/gm) ?? []).length, 0);
    expect(blocks.length).toBe(fences);
    // And no marker is lost (one not right before a fence would leave its block unchecked, or checked wrongly).
    const markers = DOCS.reduce((n, doc) => n + (readFileSync(join(ROOT, doc), 'utf8').match(/<!--\s*ts-check:/g) ?? []).length, 0);
    expect(blocks.filter((b) => b.marker !== null).length).toBe(markers);
    // Each block is a module of its own, but those skipped and those that continue the one before.
    const continuing = blocks.filter((b) => b.marker?.split(';').some((d) => d.trim() === 'continues')).length;
    expect(examples.length).toBe(blocks.length - skipped.length - continuing);
  });

  it('skip only these, each for its reason', () => {
    console.log(`docs examples: ${blocks.length} blocks, ${examples.length} modules checked, ${skipped.length} skipped:\n${skipped.map((s) => `  ${s}`).join('\n')}`);
    // By reason, not line: the pages' prose moves the lines.
    expect(skipped.map((s) => s.slice(s.indexOf(' (') + 1))).toEqual([
      "(two fragments in one block: a parent component's render member, then a page's lines)", // docs/components.md, "Nesting components"
    ]);
  });

  it('compile against the package (strict, one program)', () => {
    const problems = check(examples, compilerOptions());
    expect(problems).toEqual([]);
  }, 180_000);
});
