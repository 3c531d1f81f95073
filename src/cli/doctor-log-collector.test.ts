/**
 * `doctor --connect`'s `log-collector` check. LOG_DESTINATION=syslog:tcp://… or otlp:… pointing at a
 * collector that refuses connections, or syslog:udp://… at a host that does not resolve, passed the
 * doctor (exit 0) while the running app lost every log line. Nothing is sent to the collector.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runDoctorConnected } from './doctor.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) % 256)).toString('base64');

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

/** A listening TCP port that receives nothing (what it was sent is kept), and a port nothing listens on. */
async function ports(): Promise<{ open: number; closed: number; received: () => number }> {
  let bytes = 0;
  const open = createServer((socket) => socket.on('data', (d) => (bytes += d.length)));
  const closed = createServer();
  servers.push(open);
  await new Promise<void>((resolve) => open.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  return { open: (open.address() as AddressInfo).port, closed: closedPort, received: () => bytes };
}

async function collector(destination: string) {
  const report = await runDoctorConnected({ LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: 'sqlite::memory:', PORT: '0', LOG_DESTINATION: destination }, { timeoutMs: 3_000 });
  return report.checks.find((c) => c.name === 'log-collector');
}

describe('doctor --connect: log-collector', () => {
  it('fails a collector that refuses the connection or does not resolve, without showing its credentials', async () => {
    const { closed } = await ports();
    expect((await collector(`syslog:tcp://127.0.0.1:${closed}`))?.problems).toEqual([
      `LOG_DESTINATION: syslog:tcp://127.0.0.1:${closed} did not answer (ECONNREFUSED), so the app would start and every log line would be lost (said only on stderr); start the collector, or fix LOG_DESTINATION`,
    ]);
    const otlp = await collector(`otlp:http://user:collector-password@127.0.0.1:${closed}`);
    expect(otlp?.problems).toEqual([expect.stringMatching(new RegExp(`^LOG_DESTINATION: otlp:http://127\\.0\\.0\\.1:${closed} did not answer \\(ECONNREFUSED\\)`))]);
    expect(JSON.stringify(otlp)).not.toContain('collector-password');
    expect((await collector('syslog:udp://collector.invalid:514'))?.problems).toEqual([expect.stringMatching(/^LOG_DESTINATION: syslog:udp:\/\/collector\.invalid:514 does not resolve \(getaddrinfo [A-Z_]+\)/)]);
  });

  it('passes a collector that takes connections, sending it nothing, and stdout or a file', async () => {
    const { open, received } = await ports();
    expect(await collector(`syslog:tcp://127.0.0.1:${open}`)).toMatchObject({ ok: true, summary: `syslog:tcp://127.0.0.1:${open} takes connections` });
    expect(await collector(`otlp:http://127.0.0.1:${open}`)).toMatchObject({ ok: true });
    expect(await collector('syslog:udp://127.0.0.1:514')).toMatchObject({ ok: true, summary: 'syslog:udp://127.0.0.1:514: the host resolves (UDP confirms no delivery)' });
    expect(await collector('stdout')).toMatchObject({ ok: true, summary: 'no log collector: the logs go to a file or stdout' });
    expect(received()).toBe(0);
  });
});
