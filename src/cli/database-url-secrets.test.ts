// A DATABASE_URL whose password is not percent-encoded: pg read part of the password as the host
// and printed it (`ENOTFOUND tPart`) in `doctor --connect`, `migrate` and the start-up log; `doctor`
// said `ok config` for it. Now the configuration refuses it, saying how to write it, quoting none of it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../ops/config.js';
import { runDoctor, runDoctorConnected } from './doctor.js';
import { migrateCommand } from './migrate.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-dburl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const URLS = [
  'postgres://app:s3cr@tPart/morePart@127.0.0.1:5432/app',
  'postgres://app:p@ss:w/rd%#?x@127.0.0.1:5432/app',
  'postgres://u@127.0.0.1:99999/x',
];
const SECRET = /tPart|morePart|ss:w|rd%|99999/;

describe('a DATABASE_URL with a password that is not percent-encoded', () => {
  it('fails the doctor config check, and the connected checks say they did not check it', async () => {
    for (const url of URLS) {
      const report = runDoctor({ DATABASE_URL: url });
      expect(report.ok, url).toBe(false);
      const config = report.lines.filter((l) => l.startsWith('FAIL config: DATABASE_URL: '));
      expect(config, url).toHaveLength(1);
      expect(config[0]).toMatch(/percent-encode the user name and password: write @ as %40, \/ as %2F, # as %23, \? as %3F, % as %25/);
      const connected = await runDoctorConnected({ DATABASE_URL: url }, { timeoutMs: 500, cwd: dir });
      const lines = connected.lines.filter((l) => /database/.test(l));
      // Before: "ok database: sqlite:…/data/livecomponents.db does not exist yet", the default's answer.
      expect(lines, url).toContain('ok  database: not checked: DATABASE_URL does not parse (see config)');
      for (const line of connected.lines) expect(line).not.toMatch(SECRET);
    }
  });

  it('is refused by migrate and by the configuration start-up loads, quoting none of it', async () => {
    for (const url of URLS) {
      const out: string[] = [];
      const err: string[] = [];
      expect(await migrateCommand({ DATABASE_URL: url }, { out: (l) => out.push(l), err: (l) => err.push(l), cwd: dir })).toBe(1);
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^migrate: DATABASE_URL: /);
      expect(err[0]).not.toMatch(SECRET);
      expect(() => loadConfig({ DATABASE_URL: url })).toThrow(/DATABASE_URL: /);
      expect(() => loadConfig({ DATABASE_URL: url })).not.toThrow(SECRET);
    }
  });
});
