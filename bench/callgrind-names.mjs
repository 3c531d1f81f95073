#!/usr/bin/env node
// Self (or, with --inclusive, inclusive) instructions by function from callgrind files of
// bench/instructions.mjs, with JIT code named from node's perf map (/tmp/perf-<pid>.map), and the
// difference between a run of N actions and one of 2N, per action: what one more action costs.
//
//   node bench/callgrind-names.mjs <callgrind.N> <callgrind.2N> <N> [top=40] [--inclusive]
//
// Self counts are exact per address; a name is the code the perf map last placed there (code the GC
// freed early, start-up's, can lend its name to a few addresses). Inclusive counts of JIT frames are
// rough: callgrind guesses calls and returns in code without symbols.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const inclusive = process.argv.includes('--inclusive');
const [small, large, nText, topText] = args;
const n = Number(nText);
const top = Number(topText ?? 40);

function perfMap(pid) {
  const ranges = readFileSync(`/tmp/perf-${pid}.map`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [start, size, ...name] = line.split(' ');
      return { start: parseInt(start, 16), end: parseInt(start, 16) + parseInt(size, 16), name: name.join(' ') };
    });
  // Code the GC freed leaves its address to later code, and the map is only appended to: the entry
  // logged last that covers an address names the code there at the end of the run (warm code).
  return (address) => {
    for (let i = ranges.length - 1; i >= 0; i--) if (ranges[i].start <= address && address < ranges[i].end) return ranges[i].name;
    return null;
  };
}

/** Instructions by function name of one callgrind file. */
function costs(file) {
  const pid = /\(PID (\d+)/.exec(readFileSync(file, 'utf8').slice(0, 4000))?.[1] ?? /^pid: (\d+)/m.exec(readFileSync(file, 'utf8'))[1];
  const resolve = perfMap(pid);
  const text = execFileSync('callgrind_annotate', ['--threshold=100', `--inclusive=${inclusive ? 'yes' : 'no'}`, file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (!m || m[2].startsWith('PROGRAM TOTALS')) continue;
    const ir = Number(m[1].replaceAll(',', ''));
    let name = m[2];
    const jit = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]$/.exec(name);
    if (jit) name = resolve(parseInt(jit[1], 16)) ?? 'JIT code (unnamed)';
    else name = name.replace(/^\?\?\?:/, '').replace(/ \[\/usr\/bin\/node\]$/, '').replace(/^\.\/[^:]*:/, '');
    name = name.replace(/file:\/\/\/work\/main\//, '').replace(/\/work\/main\//, '');
    out.set(name, (out.get(name) ?? 0) + ir);
  }
  return out;
}

const category = (name) =>
  /dist\/(src|examples)\//.test(name) ? 'ours (JS)' : /node_modules\//.test(name) ? 'deps (JS)' : /node:/.test(name) ? 'node (JS)' : /^(JS|LazyCompile|Function|Builtin|RegExp|Stub|Script):|JIT code/.test(name) ? 'other JIT' : 'native (V8, libc, libuv, OpenSSL, sodium)';
const a = costs(small);
const b = costs(large);
const per = new Map();
for (const name of new Set([...a.keys(), ...b.keys()])) per.set(name, ((b.get(name) ?? 0) - (a.get(name) ?? 0)) / n);
const total = inclusive ? null : [...per.values()].reduce((s, v) => s + v, 0);
if (!inclusive) {
  console.log(`per action: ${total.toFixed(0)} instructions`);
  const cats = new Map();
  for (const [name, v] of per) cats.set(category(name), (cats.get(category(name)) ?? 0) + v);
  for (const [c, v] of [...cats].sort((x, y) => y[1] - x[1])) console.log(`  ${c.padEnd(44)} ${v.toFixed(0).padStart(9)} ${((100 * v) / total).toFixed(1).padStart(5)}%`);
}
for (const [name, v] of [...per].sort((x, y) => y[1] - x[1]).slice(0, top)) {
  console.log(`${v.toFixed(0).padStart(9)}${total ? ` ${((100 * v) / total).toFixed(2).padStart(6)}%` : ''}  ${name.slice(0, 150)}`);
}
