/**
 * deploy/systemd/livecomponents@.service: parsed for what it must say, and verified by
 * `systemd-analyze verify` as an instance unit (livecomponents@3001.service). systemd-analyze exits 0
 * on unknown keys and bad values, only warning on stderr, so any output there fails the test.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveTool, readDeploy, run } from './tools.js';

/** `[Section]` → key → values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 1 || current === undefined) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const unit = parseUnit(readDeploy('systemd/livecomponents@.service'));
const service = unit.get('Service') ?? new Map<string, string[]>();
const one = (key: string) => service.get(key)?.at(-1);

describe('systemd unit', () => {
  it('starts the built reference app as an unprivileged user, on the instance’s port, restarting on failure', () => {
    expect(one('ExecStart')).toMatch(/^\/\S+\/node \/\S+\/dist\/examples\/demo\/main\.js$/);
    expect(one('User')).toBe('livecomponents');
    expect(one('Group')).toBe('livecomponents');
    expect(one('Restart')).toBe('on-failure');
    expect(service.get('Environment')?.join(' ')).toMatch(/\bPORT=%i\b/);
    expect(service.get('Environment')?.join(' ')).toMatch(/\bNODE_ENV=production\b/);
    expect(one('EnvironmentFile')).toBe('/etc/livecomponents/livecomponents.env');
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('is hardened, without options that break Node (MemoryDenyWriteExecute)', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      CapabilityBoundingSet: '',
      SystemCallArchitectures: 'native',
    };
    for (const [key, value] of Object.entries(expected)) expect(one(key), key).toBe(value);
    expect(one('RestrictAddressFamilies')?.split(' ').sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
    // ProtectSystem=strict leaves only the state directory writable: where a SQLite DATABASE_URL goes.
    expect(one('StateDirectory')).toBe('livecomponents');
  });
});

const HAVE_SYSTEMD_ANALYZE = haveTool('systemd-analyze', '--version', 'apt-get install systemd', 'systemd-analyze verify of the unit');

describe.skipIf(!HAVE_SYSTEMD_ANALYZE)('systemd-analyze verify', () => {
  it('accepts the unit as instance livecomponents@3001 with no warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-systemd-'));
    try {
      const path = join(dir, 'livecomponents@3001.service');
      let text = readDeploy('systemd/livecomponents@.service');
      // verify checks that ExecStart's binary exists; the unit names Debian's /usr/bin/node.
      if (!existsSync('/usr/bin/node')) {
        console.warn(`systemd test: /usr/bin/node missing here, verifying with ExecStart=${process.execPath}`);
        text = text.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `);
      }
      writeFileSync(path, text);
      const result = run('systemd-analyze', ['verify', path]);
      expect({ status: result.status, stderr: result.stderr.trim() }).toEqual({ status: 0, stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
