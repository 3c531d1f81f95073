/**
 * The TypeScript examples of README.md and docs/*.md, as modules the compiler can check
 * (test/package/docs-examples.test.ts).
 *
 * Every ```ts block is a module of its own, checked as it stands, unless the line right before its
 * fence (blank lines aside) is a marker, an HTML comment a reader does not see:
 *
 * - `<!-- ts-check: continues -->`: the block goes on from the previous block of the same page (the
 *   two, or more, are one module): a page that builds one program over several blocks.
 * - `<!-- ts-check: given app, runtime, view -->`: a fragment using names that the page's prose
 *   defines elsewhere. Each name is declared before the block: imported from the earlier block of the
 *   same page that exports it (`export const payment = …`), else as GIVENS says (typed with the
 *   package's API), else imported from `livecomponents` (so a name the package does not export fails,
 *   on the marker's line).
 * - `<!-- ts-check: in route -->`: the block is the inside of what CONTEXTS says, e.g. a route
 *   handler's body (its `return`s), or members of an action. Combines with `given` and `continues`:
 *   `<!-- ts-check: in route; given db -->`.
 * - `<!-- ts-check: skip (why) -->`: not checked; the test lists each skip, and counts them.
 *
 * A block with import lines imports all it uses from packages, as the file a user starts from does;
 * a fragment without any (a few lines of a route, of a component) says what it leans on in `given`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

/** Names a `given` marker declares (beside the package's exports). */
export const GIVENS: Record<string, string> = {
  app: "declare const app: import('fastify').FastifyInstance;",
  runtime: "declare const runtime: import('livecomponents').LiveRuntime;",
  view: "declare const view: import('livecomponents').PageView;",
  Fastify: "import Fastify from 'fastify';",
  compress: "import compress from '@fastify/compress';",
  helmet: "import helmet from '@fastify/helmet';",
  rateLimit: "import rateLimit from '@fastify/rate-limit';",
  z: "import { z } from 'zod';",
  // The app's own records (docs/components.md, "Instance ids").
  db: "declare const db: { lists: { findOwned(userId: string | undefined, id: string): Promise<{ id: string } | undefined> } };",
  // Components the prose names: the README's counter, a poll with a vote limited to one a minute,
  // the todo list before and after its state's version 2.
  counter: `const counter = __lc.defineComponent({
  name: 'counter', initialState: { count: 0 }, publicState: ['count'],
  actions: { add: { params: __z.object({ by: __z.number() }), run: (s, { by }) => ({ count: s.count + by }) } },
  render: (s) => __lc.html\`\${s.count}\`,
});`,
  poll: `const poll = __lc.defineComponent({
  name: 'poll', initialState: { votes: 0 }, publicState: ['votes'],
  actions: { vote: { rateLimit: 1, rateLimitWindow: 60, run: (s) => ({ votes: s.votes + 1 }) } },
  render: (s) => __lc.html\`\${s.votes}\`,
});`,
  todoV1: `const todoV1 = __lc.defineComponent({
  name: 'todo', initialState: { items: [] as string[] }, publicState: ['items'], actions: {},
  render: (s) => __lc.html\`\${s.items.length}\`,
});`,
  todoV2: `const todoV2 = __lc.defineComponent({
  name: 'todo', version: 2, migrate: (old) => ({ entries: (old as { items: string[] }).items.map((text) => ({ text })) }),
  initialState: { entries: [] as { text: string }[] }, publicState: ['entries'], actions: {},
  render: (s) => __lc.html\`\${s.entries.length}\`,
});`,
};

/** What an `in` marker puts around a block: `before`, the block, `after`. */
export const CONTEXTS: Record<string, { before: string; after: string }> = {
  // A route's handler: `request` (params `id`, query `tab`), `reply` and the page's `view`.
  route: {
    before: `export async function handler(
  request: import('fastify').FastifyRequest<{ Params: { id: string }; Querystring: { tab: string } }>,
  reply: import('fastify').FastifyReply,
  view: import('livecomponents').PageView,
) {`,
    after: '}',
  },
  // Members of an action `params: z.object({ city: z.string() })` of a component of state `{ forecast: string }`.
  'weather-action': {
    before: `__lc.defineComponent({
  name: 'weather', initialState: { forecast: '' }, publicState: ['forecast'], render: (s) => __lc.html\`\${s.forecast}\`,
  actions: { refresh: { params: __z.object({ city: __z.string() }),`,
    after: '} } });',
  },
  // Members of the spec of a todo list whose state is `{ entries: { text: string; done: boolean }[] }`, at version 3.
  'todo-spec': {
    before: `__lc.defineComponent({
  name: 'todo', version: 3, initialState: { entries: [] as { text: string; done: boolean }[] }, publicState: ['entries'], actions: {},
  render: (s) => __lc.html\`\${s.entries.length}\`,`,
    after: '});',
  },
};

/** Declarations `given` and `in` use under names no example takes. */
const HIDDEN_IMPORTS = "import * as __lc from 'livecomponents'; import { z as __z } from 'zod';";

export interface Block {
  /** `docs/components.md` */
  doc: string;
  /** The line of the opening fence, from 1. */
  line: number;
  /** The code's lines (the fence's indentation removed). */
  code: string[];
  /** The marker's text after `ts-check:`, or null. */
  marker: string | null;
  markerLine: number;
}

/** The ```ts blocks of `doc` (a path relative to `root`), with their markers. */
export function blocksOf(root: string, doc: string): Block[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})ts\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const [, indent, fence] = open as unknown as [string, string, string];
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== fence) end++;
    if (end === lines.length) throw new Error(`${doc}:${i + 1}: a \`\`\`ts block that never closes`);
    let m = i - 1;
    while (m >= 0 && lines[m]!.trim() === '') m--;
    const found = m >= 0 ? /^\s*<!--\s*ts-check:\s*(.*?)\s*-->\s*$/.exec(lines[m]!) : null;
    blocks.push({
      doc,
      line: i + 1,
      code: lines.slice(i + 1, end).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l)),
      marker: found === null ? null : found[1]!,
      markerLine: found === null ? i + 1 : m + 1,
    });
    i = end;
  }
  return blocks;
}

/** One virtual module: its text, and for each of its lines the doc line it comes from. */
export interface Example {
  /** `docs/components.md:120`: the first block's fence. */
  name: string;
  fileName: string;
  text: string;
  /** `origin[i]`: `doc:line` of the module's line i (from 0). */
  origin: string[];
  /** HIDDEN_IMPORTS is in the text already. */
  hidden: boolean;
}

export interface Examples {
  examples: Example[];
  /** `doc:line (why)` */
  skipped: string[];
  /** Blocks found, skipped ones included. */
  blocks: number;
}

/** Groups `blocks` into modules, as their markers say; `root` is where the virtual files live. */
export function examplesOf(root: string, blocks: Block[]): Examples {
  const examples: Example[] = [];
  const skipped: string[] = [];
  let previous: { doc: string; example: Example } | null = null;
  for (const block of blocks) {
    const at = `${block.doc}:${block.line}`;
    const directives = (block.marker ?? '').split(';').map((d) => d.trim()).filter((d) => d !== '');
    const skip = directives.find((d) => d.startsWith('skip'));
    if (skip !== undefined) {
      const why = /^skip \((.+)\)$/.exec(skip)?.[1];
      if (why === undefined) throw new Error(`${at}: a skip marker gives its reason: <!-- ts-check: skip (why) -->`);
      skipped.push(`${at} (${why})`);
      previous = null;
      continue;
    }
    let given: string[] = [];
    let context: { before: string; after: string } | undefined;
    let continues = false;
    for (const d of directives) {
      if (d === 'continues') continues = true;
      else if (d.startsWith('given ')) given = d.slice('given '.length).split(',').map((n) => n.trim());
      else if (d.startsWith('in ')) {
        context = CONTEXTS[d.slice('in '.length).trim()];
        if (context === undefined) throw new Error(`${at}: no context "${d}" (CONTEXTS: ${Object.keys(CONTEXTS).join(', ')})`);
      } else throw new Error(`${at}: unknown ts-check marker "${d}"`);
    }
    let example: Example;
    if (continues) {
      if (previous === null || previous.doc !== block.doc) throw new Error(`${at}: "continues", but no checked block before it on its page`);
      example = previous.example;
    } else {
      example = { name: at, fileName: join(root, `${block.doc}.${block.line}.ts`), text: '', origin: [], hidden: false };
      examples.push(example);
    }
    const marker = `${block.doc}:${block.markerLine}`;
    const add = (lines: string[], origin: (i: number) => string): void => {
      lines.forEach((l, i) => {
        example.text += `${l}\n`;
        example.origin.push(origin(i));
      });
    };
    if ((given.length > 0 || context !== undefined) && !example.hidden) {
      add([HIDDEN_IMPORTS], () => marker);
      example.hidden = true;
    }
    const declare = (name: string): string => {
      const from = examples.find((e) => e !== example && e.name.startsWith(`${block.doc}:`) && new RegExp(`^export (const|let|function|class) ${name}\\b`, 'm').test(e.text));
      if (from !== undefined) return `import { ${name} } from './${from.fileName.slice(from.fileName.lastIndexOf('/') + 1).replace(/\.ts$/, '.js')}';`;
      return GIVENS[name] ?? `import { ${name} } from 'livecomponents';`;
    };
    if (given.length > 0) add(given.map(declare).join('\n').split('\n'), () => marker);
    if (context !== undefined) add(context.before.split('\n'), () => marker);
    add(block.code, (i) => `${block.doc}:${block.line + 1 + i}`);
    if (context !== undefined) add(context.after.split('\n'), () => marker);
    previous = { doc: block.doc, example };
  }
  return { examples, skipped, blocks: blocks.length };
}

/**
 * Type-checks `examples` in one program (their files exist only in it), with `options`, `livecomponents` and its subpaths resolved
 * by `paths`. Returns `doc:line: TSnnnn message` for each error.
 */
export function check(examples: Example[], options: ts.CompilerOptions): string[] {
  const files = new Map(examples.map((e) => [e.fileName, e]));
  const host = ts.createCompilerHost(options, true);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f)?.text ?? readFile.call(host, f);
  host.getSourceFile = (f, language, onError, create) => {
    const example = files.get(f);
    return example !== undefined ? ts.createSourceFile(f, example.text, language, true) : getSourceFile.call(host, f, language, onError, create);
  };
  const program = ts.createProgram({ rootNames: [...files.keys()], options, host });
  const problems = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((d) => `options: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  for (const example of examples) {
    const source = program.getSourceFile(example.fileName)!;
    for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const line = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line;
      problems.push(`${example.origin[line] ?? example.name}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    }
  }
  return problems;
}
