/**
 * `doctor --connect`'s `listen` check. HOST=example.invalid, an address of another machine, or
 * PORT=80 for a user without the privilege passed the doctor (exit 0) and stopped start-up with
 * Node's words (`getaddrinfo ENOTFOUND example.invalid`). The check listens where the app will and
 * says it as start-up now does; a port in use passes (the instance being replaced holds it) and says so.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { busyPort, releaseBusyPorts } from '../../test/helpers/ports.js';
import { runDoctorConnected } from './doctor.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) % 256)).toString('base64');

afterAll(releaseBusyPorts);

async function listenCheck(env: Record<string, string>) {
  const report = await runDoctorConnected({ LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: 'sqlite::memory:', PORT: '0', ...env }, { timeoutMs: 3_000 });
  return { report, check: report.checks.find((c) => c.name === 'listen') };
}

describe('doctor --connect: listen', () => {
  it('fails, naming HOST, where start-up could not listen', async () => {
    const other = await listenCheck({ HOST: '192.0.2.1' });
    expect(other.report.ok).toBe(false);
    expect(other.report.lines).toContain(
      'FAIL listen: HOST=192.0.2.1 is not an address of this machine (EADDRNOTAVAIL): set HOST to an address of this machine (127.0.0.1, or 0.0.0.0 for every interface) or a name that resolves to one',
    );
    const unresolved = await listenCheck({ HOST: 'example.invalid' });
    expect(unresolved.check?.problems).toEqual([expect.stringMatching(/^HOST=example\.invalid does not resolve to an address \(getaddrinfo [A-Z_]+\): /)]);
  });

  it('passes a free port, and a port in use with a note (the instance it replaces holds it)', async () => {
    const free = await listenCheck({ HOST: '127.0.0.1' });
    expect(free.check).toMatchObject({ ok: true, summary: 'HOST=127.0.0.1 takes a listener as this user; PORT=0 is free' });
    const port = await busyPort();
    const busy = await listenCheck({ HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: '0' });
    expect(busy.check).toMatchObject({
      ok: true,
      summary: `HOST=127.0.0.1 takes a listener as this user; PORT=${port} is in use now (by the instance this one replaces?): start-up fails while it is; METRICS_PORT=0 is free`,
    });
  });

  it('says "not checked" when HOST does not parse, rather than trying the default', async () => {
    const { check } = await listenCheck({ HOST: 'http://127.0.0.1' });
    expect(check).toMatchObject({ ok: true, summary: 'not checked: HOST does not parse (see config)' });
  });
});
