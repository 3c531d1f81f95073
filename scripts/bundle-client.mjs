#!/usr/bin/env node
// Bundles the browser runtime (client/index.ts) with esbuild into one minified ESM file, and
// reports its size: `node scripts/bundle-client.mjs`. Budget: 8 KB gzipped. Also writes the
// bundle's declarations (`emitClientTypes`, called by scripts/build.mjs).
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, transform } from 'esbuild';
import { minify } from 'terser';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/**
 * The wire names (src/core/wire.ts) as the runtime's code uses them, `ATTR.id` and the like, are written
 * into it as the strings they are, so the bundle carries only the names it uses: the objects hold every
 * header, body field and route the server knows, and esbuild keeps a whole object for one property read
 * (~200 B of the 8 KB gzip budget, with the selectors it then folds into one string each). Only a
 * property that exists and holds a string is replaced; a whole object used otherwise is imported as
 * before. The values are the module's own: it is compiled and loaded here, once per build.
 * @type {import('esbuild').Plugin}
 */
const inlineWireNames = {
  name: 'inline-wire-names',
  setup(build) {
    /** @type {Promise<Record<string, unknown>> | undefined} */
    let wire;
    build.onLoad({ filter: /[\\/]client[\\/][\w-]+\.ts$/ }, async (args) => {
      wire ??= readFile(join(root, 'src/core/wire.ts'), 'utf8')
        .then((source) => transform(source, { loader: 'ts', format: 'esm' }))
        .then(({ code }) => import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`));
      const names = await wire;
      const source = await readFile(args.path, 'utf8');
      const contents = source.replace(/\b([A-Z][A-Z_]*)\.([A-Za-z]\w*)\b/g, (whole, object, key) => {
        const value = Object.hasOwn(names, object) ? /** @type {Record<string, unknown> | undefined} */ (names[object])?.[key] : undefined;
        return typeof value === 'string' ? JSON.stringify(value) : whole;
      });
      return { contents, loader: 'ts' };
    });
  },
};

/** Gzipped size budget of the bundle, in bytes. */
export const GZIP_BUDGET = 8 * 1024;

/**
 * @param {{ outfile?: string }} [options]
 * @returns {Promise<{ outfile: string, bytes: number, gzipBytes: number }>}
 */
export async function bundleClient({ outfile = join(root, 'dist/client/livecomponents.js') } = {}) {
  const result = await build({
    entryPoints: [join(root, 'client/index.ts')],
    bundle: true,
    format: 'esm',
    minify: true,
    target: 'es2022',
    platform: 'browser',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
    plugins: [idiomorphEdited, inlineWireNames],
  });
  // terser after esbuild: its second compress pass and better mangling take ~4% (~340 B gzip) more
  // off than esbuild's minifier alone, on a budget every client feature has to fit in.
  const minified = await minify(result.outputFiles[0].text, { module: true, ecma: 2020, compress: { passes: 2, unsafe_methods: true }, mangle: true, format: { comments: false } });
  const code = Buffer.from(minified.code ?? '');
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, code);
  return { outfile, bytes: code.byteLength, gzipBytes: gzipSync(code, { level: 9 }).byteLength };
}

/**
 * Edits to idiomorph's source as the bundle takes it. idiomorph ships no build without the parts the
 * runtime never uses, and esbuild cannot drop functions inside its closure; one of its loops is
 * quadratic. Each edit's text must be found exactly once: an idiomorph release that moves or renames
 * it fails the build here rather than shipping a half-edited copy.
 * - `start`..`end` (a span, `end` excluded) or `find` (exact text) is replaced by `replace`.
 */
const IDIOMORPH_EDITS = [
  {
    // It merges `<head>` elements (loading scripts and styles, waiting on their promises) when it
    // morphs a whole document. The runtime only morphs component roots, whose markup is parsed as a
    // fragment and so never holds a `<head>`: ~370 B of the 8 KB gzip budget for code that never runs.
    why: 'head merging',
    start: '  function withHeadBlocking(ctx, oldNode, newNode, callback) {',
    end: '  const createMorphContext = (function () {',
    mustHold: 'function handleHeadElement(',
    replace: '',
  },
  {
    // Its default configuration: the runtime passes every option it relies on (client/morph.ts:
    // `ignoreActiveValue`, `restoreFocus`, `callbacks.beforeNodeMorphed`), and no other callback.
    why: 'default configuration',
    start: '  const noOp = () => {};',
    end: '  function morph(oldNode, newContent, config = {}) {',
    mustHold: 'shouldPreserve:',
    replace: '',
  },
  {
    // The runtime morphs with the outerHTML style only, an element that has a parent (a component
    // root in the page), into parsed markup (a fragment), and reads no result: the old element's
    // children are morphed between it and its next sibling in its own parent, as idiomorph does
    // through a stand-in parent (SlicedParentNode, whose only calls used were insertBefore and
    // moveBefore on the real parent), without the document, string and innerHTML paths.
    why: 'morph entry (outerHTML style)',
    start: '  function morph(oldNode, newContent, config = {}) {',
    end: '  function saveAndRestoreFocus(ctx, fn) {',
    mustHold: 'function morphOuterHTML(',
    replace:
      '  function morph(oldNode, newContent, config) {\n' +
      '    const newNode = normalizeParent(newContent);\n' +
      '    const ctx = createMorphContext(oldNode, newNode, config);\n' +
      '    saveAndRestoreFocus(ctx, () => morphChildren(ctx, oldNode.parentNode, newNode, oldNode, oldNode.nextSibling));\n' +
      '    ctx.pantry.remove();\n' +
      '  }\n',
  },
  {
    // The morph context from the options as given (no defaults to merge, no morph style to check),
    // without the fields nothing reads.
    why: 'morph context options',
    start: '      const mergedConfig = mergeDefaults(config);',
    end: '    function createPantry(doc) {',
    mustHold: 'function mergeDefaults(',
    replace:
      '      const doc = oldNode.ownerDocument;\n' +
      '      return {\n' +
      '        target: oldNode,\n' +
      '        doc,\n' +
      '        config,\n' +
      '        ignoreActiveValue: config.ignoreActiveValue,\n' +
      '        idMap,\n' +
      '        persistentIds,\n' +
      '        pantry: createPantry(doc),\n' +
      '        activeElementAndParents: createActiveElementAndParents(oldNode, doc),\n' +
      '        callbacks: config.callbacks,\n' +
      '      };\n' +
      '    }\n',
  },
  {
    // Morphing one node: without `ignoreActive` (not used), the head branches (no `<head>` in a
    // component) and the unused result; `beforeNodeMorphed` still runs first.
    why: 'single node morph',
    start: '    function morphNode(oldNode, newContent, ctx) {',
    end: '    function morphAttributes(oldNode, newNode, ctx) {',
    mustHold: 'ctx.ignoreActive &&',
    replace:
      '    function morphNode(oldNode, newContent, ctx) {\n' +
      '      if (ctx.callbacks.beforeNodeMorphed(oldNode, newContent) === false) return;\n' +
      '      morphAttributes(oldNode, newContent, ctx);\n' +
      '      if (!ignoreValueOfActiveElement(oldNode, ctx)) morphChildren(ctx, oldNode, newContent);\n' +
      '    }\n\n',
  },
  // The callbacks the runtime does not pass (they were no-ops).
  ...[
    '      if (ctx.callbacks.beforeNodeAdded(newChild) === false) return null;\n',
    '        ctx.callbacks.afterNodeAdded(newEmptyChild);\n',
    '        ctx.callbacks.afterNodeAdded(newClonedChild);\n',
    '        if (ctx.callbacks.beforeNodeRemoved(node) === false) return;\n',
    '        ctx.callbacks.afterNodeRemoved(node);\n',
  ].map((find) => ({ why: 'unused callback', find, replace: '' })),
  {
    why: 'unused callback',
    find: '      return (\n        ctx.callbacks.beforeAttributeUpdated(attr, element, updateType) ===\n        false\n      );\n',
    replace: '      return false;\n',
  },
  {
    // Its attribute guard, with `beforeAttributeUpdated` gone, holds for the `value` of the focused
    // element under `ignoreActiveValue` only. So the calls for `checked`, `disabled` and `selected`
    // (syncBooleanAttribute) always went on, and those for `value` in syncInputValue too: it runs only
    // when the element is not the focused one under `ignoreActiveValue` (morphAttributes checks), and
    // syncing `checked` or `disabled` focuses nothing. The guard is then `value` and
    // ignoreValueOfActiveElement, whose `!== body` test never held either: the nodes morphed are the
    // component root and what it holds, never `<body>` (client/morph.ts).
    why: 'attribute guards that always went on',
    start: '    function syncInputValue(oldElement, newElement, ctx) {',
    end: '    return morphNode;\n  })();',
    mustHold: 'function syncBooleanAttribute(',
    replace:
      '    function syncInputValue(oldElement, newElement) {\n' +
      '      if (is.inputElement(oldElement) && is.inputElement(newElement) && newElement.type !== "file") {\n' +
      '        const newValue = newElement.value;\n' +
      '        const oldValue = oldElement.value;\n' +
      '        syncBooleanAttribute(oldElement, newElement, "checked");\n' +
      '        syncBooleanAttribute(oldElement, newElement, "disabled");\n' +
      '        if (!newElement.hasAttribute("value")) {\n' +
      '          oldElement.value = "";\n' +
      '          oldElement.removeAttribute("value");\n' +
      '        } else if (oldValue !== newValue) {\n' +
      '          oldElement.setAttribute("value", newValue);\n' +
      '          oldElement.value = newValue;\n' +
      '        }\n' +
      '      } else if (is.optionElement(oldElement) && is.optionElement(newElement)) {\n' +
      '        syncBooleanAttribute(oldElement, newElement, "selected");\n' +
      '      } else if (is.textAreaElement(oldElement) && is.textAreaElement(newElement)) {\n' +
      '        const newValue = newElement.value;\n' +
      '        if (newValue !== oldElement.value) oldElement.value = newValue;\n' +
      '        if (oldElement.firstChild && oldElement.firstChild.nodeValue !== newValue) oldElement.firstChild.nodeValue = newValue;\n' +
      '      }\n' +
      '    }\n\n' +
      '    function syncBooleanAttribute(oldElement, newElement, attributeName) {\n' +
      '      const newLiveValue = newElement[attributeName];\n' +
      '      if (newLiveValue !== oldElement[attributeName]) {\n' +
      '        oldElement[attributeName] = newLiveValue;\n' +
      '        if (newLiveValue) oldElement.setAttribute(attributeName, "");\n' +
      '        else oldElement.removeAttribute(attributeName);\n' +
      '      }\n' +
      '    }\n\n' +
      '    function ignoreValueOfActiveElement(possibleActiveElement, ctx) {\n' +
      '      return ctx.ignoreActiveValue && possibleActiveElement === ctx.doc.activeElement;\n' +
      '    }\n\n',
  },
  ...[
    ['      if (ignoreAttribute(newAttribute.name, oldElt, "update", ctx)) {\n', '      if (newAttribute.name === "value" && ignoreValueOfActiveElement(oldElt, ctx)) {\n'],
    ['            if (ignoreAttribute(oldAttribute.name, oldElt, "remove", ctx)) {\n', '            if (oldAttribute.name === "value" && ignoreValueOfActiveElement(oldElt, ctx)) {\n'],
    ['          syncInputValue(oldElt, newElt, ctx);\n', '          syncInputValue(oldElt, newElt);\n'],
  ].map(([find, replace]) => ({ why: 'attribute guards that always went on', find, replace })),
  {
    // Its node type checks are realm-safe through `nodeType` already (`instanceof` only a shortcut);
    // the node, document and head checks went with the code that used them (normalizing, head
    // merging). A node of another kind has no `localName` (only elements and attributes do).
    why: 'node type checks',
    start: '  const is = (function () {',
    end: '  //=============================================================================\n  // This is what ends up becoming the Idiomorph global object',
    mustHold: 'headElement:',
    replace:
      '  const htmlElement = (localName) => (value) => value?.localName === localName && value.namespaceURI === "http://www.w3.org/1999/xhtml";\n' +
      '  const is = {\n' +
      '    element: (value) => value?.nodeType === 1,\n' +
      '    templateElement: htmlElement("template"),\n' +
      '    inputElement: htmlElement("input"),\n' +
      '    optionElement: htmlElement("option"),\n' +
      '    textAreaElement: htmlElement("textarea"),\n' +
      '  };\n\n',
  },
  {
    // The roots it looks ids up in are elements (the component root, the new markup's stand-in
    // parent), never a text node or a fragment.
    why: 'id lookup in a root without querySelectorAll or getAttribute',
    find: 'for (const elt of rootElt.querySelectorAll?.("[id]") ?? []) {',
    replace: 'for (const elt of rootElt.querySelectorAll("[id]")) {',
  },
  {
    why: 'id lookup in a root without querySelectorAll or getAttribute',
    find: 'const rootId = rootElt.getAttribute?.("id");',
    replace: 'const rootId = rootElt.getAttribute("id");',
  },
  {
    why: 'id lookup in a root without querySelectorAll or getAttribute',
    find: '(ctx.target.getAttribute?.("id") === id && ctx.target) ||',
    replace: '(ctx.target.getAttribute("id") === id && ctx.target) ||',
  },
  {
    // Its `moveBefore` wrapper with one `insertBefore` call for both fallbacks: a browser without
    // `moveBefore`, and a move it refuses (nodes of different roots). The feature test stays: calling
    // the missing method and catching the TypeError cost one exception per node moved (~18 µs each in
    // Chromium, 3,000 rows reversed ~55 ms more), each a stop under devtools' "pause on caught
    // exceptions" (test/browser/morph-edited-idiomorph.test.ts).
    why: 'moveBefore fallback',
    start: '      if (parentNode.moveBefore) {',
    end: '    return morphChildren;\n  })();',
    mustHold: '} else {\n        parentNode.insertBefore(element, after);',
    replace:
      '      if (parentNode.moveBefore) {\n' +
      '        try {\n' +
      '          return parentNode.moveBefore(element, after);\n' +
      '        } catch {}\n' +
      '      }\n' +
      '      parentNode.insertBefore(element, after);\n' +
      '    }\n\n',
  },
  {
    // Its defaults for where to start and stop: unset (undefined) reads as null where they are read,
    // in `||=` and the loose `!=` comparisons.
    why: 'morphChildren defaults',
    find: '      insertionPoint = null,\n      endPoint = null,\n',
    replace: '      insertionPoint,\n      endPoint,\n',
  },
  {
    // Its content normalizing: the runtime hands it a parsed fragment (client/html.ts, for Trusted
    // Types), never a string (its parser), a document, a node list or a node with a parent, and the
    // fragment goes into a parent of its own, as idiomorph did. (Its node type checks, `is`, which
    // follow, stay: the morph uses them.)
    why: 'content normalizing and string parser',
    start: '  const { normalizeElement, normalizeParent } = (function () {',
    end: '  // Realm-safe node type checks',
    mustHold: 'function parseContent(',
    replace: '  function normalizeParent(newContent) {\n    const dummyParent = document.createElement("div");\n    dummyParent.append(newContent);\n    return dummyParent;\n  }\n\n',
  },
  {
    why: 'stand-in parent root',
    find: 'const newRoot = newContent.__idiomorphRoot || newContent;',
    replace: 'const newRoot = newContent;',
  },
  {
    why: 'default configuration',
    find: '  return {\n    morph,\n    defaults,\n  };',
    replace: '  return { morph };',
  },
  {
    // Its modules are closures returning one function each (morphChildren, findBestMatch, morphNode,
    // createMorphContext), whose inner function names do not clash: unwrapped into idiomorph's own
    // closure, terser inlines and renames across them. (Last: earlier edits end at these lines.)
    why: 'module closures',
    find: '  const morphChildren = (function () {\n',
    replace: '',
  },
  ...[
    '    return morphChildren;\n  })();\n',
    '    const findBestMatch = (function () {\n',
    '      return findBestMatch;\n    })();\n',
    '  const morphNode = (function () {\n',
    '    return morphNode;\n  })();\n',
    '  const createMorphContext = (function () {\n',
    '    return createMorphContext;\n  })();\n',
  ].map((find) => ({ why: 'module closures', find, replace: '' })),
  {
    // findBestMatch scans every later old sibling for each new node, looking for a node sharing an
    // id with it, even when the new node holds no id — a match that cannot come. Once its soft match
    // is chosen (or refused), nothing later in the loop changes the answer: stopping there gives the
    // same result. Without it, re-rendering a list of rows without ids was quadratic: 8,000 rows took
    // 5–6 s per action in Chromium, 4,000 about 1 s; with it, 0.1–0.2 s.
    why: 'quadratic search for an id match',
    find: '          if (ctx.activeElementAndParents.includes(cursor)) break;\n',
    replace: '          if (ctx.activeElementAndParents.includes(cursor)) break;\n          if (softMatch !== null && !ctx.idMap.has(node)) break;\n',
  },
  {
    // Nor does it look past an old node that holds an id the new markup has (one lent by
    // client/morph.ts to an element the user scrolled or toggled, say) for a soft match: taking a
    // later node would send that one to its hidden "pantry" until its own turn, and an element moved
    // through it comes back scrolled to the top. It stops there, as it does at the focused element
    // (whose move would blur it): the new node is inserted before it, or morphs a soft match found
    // before it.
    why: 'soft match past a node kept by id',
    find: '          if (ctx.activeElementAndParents.includes(cursor)) break;\n',
    replace: '          if (ctx.activeElementAndParents.includes(cursor) || ctx.idMap.has(cursor)) break;\n',
  },
];

/** @type {import('esbuild').Plugin} */
const idiomorphEdited = {
  name: 'idiomorph-edited',
  setup(build) {
    build.onLoad({ filter: /[\\/]idiomorph[\\/]dist[\\/]idiomorph\.esm\.js$/ }, async (args) => {
      let contents = await readFile(args.path, 'utf8');
      for (const edit of IDIOMORPH_EDITS) {
        const first = contents.indexOf(edit.find ?? edit.start);
        const once = first >= 0 && contents.indexOf(edit.find ?? edit.start, first + 1) < 0;
        const to = edit.find === undefined ? contents.indexOf(edit.end) : first + edit.find.length;
        const span = contents.slice(first, to);
        if (!once || to < first || (edit.end !== undefined && contents.indexOf(edit.end, to + 1) >= 0) || (edit.mustHold !== undefined && !span.includes(edit.mustHold))) {
          throw new Error(`bundle-client: ${relative(root, args.path)} no longer has the ${edit.why} code where the edit expects it: update IDIOMORPH_EDITS`);
        }
        contents = contents.slice(0, first) + edit.replace + contents.slice(to);
      }
      return { contents, loader: 'js' };
    });
  },
};

/** The declarations of the browser runtime, the `types` of `livecomponents/client` in package.json. */
export const CLIENT_TYPES = join(root, 'dist/client/index.d.ts');

/**
 * Writes the declarations of client/index.ts (what the bundle exports, `window.LiveComponents`, the
 * `lc:success` / `lc:error` events in the DOM's event maps) next to the bundle: tsc's declaration
 * emit of the browser program (DOM, no Node types), keeping only the files CLIENT_TYPES reaches
 * through its imports, so the internals of the runtime are not shipped. Those land in dist/client/
 * and dist/src/core/wire.d.ts (the server build's own, same source). Throws on a type error.
 */
export function emitClientTypes() {
  const ts = require('typescript');
  const { config } = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, root);
  const program = ts.createProgram([join(root, 'client/index.ts'), join(root, 'client/idiomorph.d.ts')], {
    ...options,
    types: [],
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    sourceMap: false,
    declarationMap: false,
    incremental: false,
    outDir: join(root, 'dist'),
    rootDir: root,
  });
  /** @type {Map<string, string>} */
  const out = new Map();
  const { diagnostics } = program.emit(undefined, (file, text) => out.set(ts.sys.resolvePath(file), text));
  const errors = [...ts.getPreEmitDiagnostics(program), ...diagnostics];
  if (errors.length > 0) {
    const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
    throw new Error(`client declarations:\n${ts.formatDiagnostics(errors, host)}`);
  }
  const reached = new Set();
  const queue = [CLIENT_TYPES];
  while (queue.length > 0) {
    const file = /** @type {string} */ (queue.pop());
    const text = out.get(file);
    if (reached.has(file)) continue;
    if (text === undefined) throw new Error(`client declarations: ${relative(root, file)} is imported but was not emitted`);
    reached.add(file);
    const { importedFiles } = ts.preProcessFile(text, true, true);
    for (const { fileName } of importedFiles) {
      if (fileName.startsWith('.')) queue.push(join(dirname(file), fileName.replace(/\.js$/, '.d.ts')));
    }
  }
  for (const file of reached) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, /** @type {string} */ (out.get(file)));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outfile, bytes, gzipBytes } = await bundleClient();
  console.log(`client bundle: ${outfile}\n  ${bytes} B raw, ${gzipBytes} B gzip (budget ${GZIP_BUDGET} B)`);
  if (gzipBytes > GZIP_BUDGET) {
    console.error('client bundle is over its gzip budget');
    process.exitCode = 1;
  }
}

