/**
 * The development session secret (no `LC_SESSION_SECRET`) when processes start together: the file
 * may appear between a process's look for it and its write (here `existsSync` says it is missing
 * although another process has just created it). The later process must use the file's secret, not
 * overwrite it with one of its own: each process would otherwise refuse the others' CSRF tokens.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import type * as NodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { defineComponent } from '../core/component.js';
import { html } from '../core/html.js';
import { createMemoryStore } from '../store/memory/index.js';
import { createLiveComponents } from './setup.js';

const look = vi.hoisted(() => ({ blind: false }));
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof NodeFs>();
  return { ...fs, existsSync: (path: string) => (look.blind ? false : fs.existsSync(path)) };
});

const counter = defineComponent({ name: 'counter', initialState: { n: 0 }, publicState: ['n'], actions: {}, render: (s) => html`${s.n}` });

describe('the development session secret', () => {
  it('a process that finds the file only once it tries to create it uses that file: tokens pass across, the file unchanged, one warning', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lc-dev-secret-'));
    const store = createMemoryStore();
    const stateKeys = randomBytes(32).toString('base64');
    const warnings: string[] = [];
    const options = { components: [counter], store, appOrigin: 'https://app.example.com', stateKeys, dataDir, warn: (m: string) => warnings.push(m) };
    const first = await createLiveComponents(options);
    const written = readFileSync(join(dataDir, 'session-secret'), 'utf8');
    look.blind = true;
    const second = await createLiveComponents(options);
    look.blind = false;
    expect(readFileSync(join(dataDir, 'session-secret'), 'utf8')).toBe(written);
    const session = await first.sessions.create();
    expect(await second.csrf.verify(session, await first.csrf.issue(session))).toBe(true);
    expect(await first.csrf.verify(session, await second.csrf.issue(session))).toBe(true);
    expect(warnings.filter((w) => w.includes('LC_SESSION_SECRET'))).toHaveLength(1);
  });
});
