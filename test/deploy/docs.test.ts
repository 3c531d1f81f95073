/**
 * The deployment docs stay true to the tree: every checklist item names a real doctor check (or says
 * none covers it), every doctor check appears in the checklist, links and anchors resolve, and every
 * `deploy/…` path the docs mention exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECK_NAMES as CONFIG_CHECK_NAMES } from '../../src/ops/config-rules.js';
import { FILE_CHECK_NAMES } from '../../src/cli/doctor-files.js';
import { SERVICE_CHECK_NAMES } from '../../src/cli/doctor-services.js';
import { LISTEN_CHECK_NAMES } from '../../src/cli/doctor-listen.js';
import { LOG_COLLECTOR_CHECK_NAMES } from '../../src/cli/doctor-log-collector.js';
import { MOVED_CHECK_NAMES } from '../../src/cli/move-data-doctor.js';

const CHECK_NAMES = [...CONFIG_CHECK_NAMES, ...SERVICE_CHECK_NAMES, ...FILE_CHECK_NAMES, ...LISTEN_CHECK_NAMES, ...LOG_COLLECTOR_CHECK_NAMES, ...MOVED_CHECK_NAMES];
import { ROOT } from './tools.js';

const DOCS = ['QUICKSTART.md', 'docs/deployment.md', 'docs/deployment-checklist.md', 'deploy/README.md'];
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)));
}

describe('deployment checklist', () => {
  const text = read('docs/deployment-checklist.md');
  const items = text.split('\n').filter((l) => l.startsWith('- [ ] '));

  it('names a doctor check, or says there is none, on every item', () => {
    expect(items.length).toBeGreaterThanOrEqual(20);
    const names = new Set<string>(CHECK_NAMES);
    for (const item of items) {
      const tail = item.slice(item.lastIndexOf(' — ') + 3);
      const cited = [...tail.matchAll(/`([a-z-]+)`/g)].map((m) => m[1] as string).filter((n) => names.has(n));
      expect(cited.length > 0 || tail.includes('**no doctor check**'), item).toBe(true);
    }
  });

  it('cites every doctor check at least once', () => {
    for (const name of CHECK_NAMES) expect(text, name).toContain(`\`${name}\``);
  });
});

describe('deployment docs', () => {
  it('have links and anchors that resolve', () => {
    for (const doc of DOCS) {
      const text = read(doc);
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const path = file === '' ? doc : normalize(join(dirname(doc), file));
        expect(existsSync(join(ROOT, path)), `${doc}: ${target}`).toBe(true);
        if (anchor !== undefined && path.endsWith('.md')) expect(anchors(read(path)), `${doc}: ${target}`).toContain(anchor);
      }
    }
  });

  it('mention only deploy/ files that exist', () => {
    for (const doc of DOCS) {
      const base = doc.startsWith('deploy/') ? 'deploy/' : '';
      for (const m of read(doc).matchAll(/(?<![\w/])(deploy\/[\w@./-]*[\w@-])/g)) {
        const path = m[1] as string;
        // deploy/.env and deploy/tls/ are what the operator creates.
        if (path === 'deploy/.env' || path.startsWith('deploy/tls')) continue;
        expect(existsSync(join(ROOT, path)), `${doc} mentions ${path}`).toBe(true);
      }
      if (base) {
        for (const m of read(doc).matchAll(/^\| `([\w@./-]+)`/gm)) expect(existsSync(join(ROOT, base, m[1] as string)), `${doc}: ${m[1]}`).toBe(true);
      }
    }
  });
});
