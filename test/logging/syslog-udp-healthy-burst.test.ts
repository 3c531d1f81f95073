/**
 * The UDP syslog sink's bound (`maxQueued`) is on datagrams that wait: for the host name's lookup, or
 * in libuv's queue for room in the kernel's send buffer. A line logged while the address is known and
 * the socket takes datagrams is sent, however many are logged in one go: Node calls every send back
 * at the earliest on the next tick, so counting the sends not yet called back dropped all but
 * `maxQueued` of a synchronous burst (a loop logging a line per row) although none had to wait.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogSink } from '../../src/ops/logging/sink.js';
import { createSyslogSink } from '../../src/ops/logging/syslog.js';
import { waitUntil } from '../helpers/wait-until.js';

const line = (i: number): string => `${JSON.stringify({ level: 30, time: 0, msg: `line ${i}` })}\n`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function receiver(): Promise<{ port: number; received: string[] }> {
  const socket: Socket = createSocket('udp4');
  const received: string[] = [];
  socket.on('message', (message) => received.push(message.toString('latin1')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, received };
}

function sinkTo(host: string, port: number, maxQueued?: number): { sink: LogSink; errors: string[]; dropped: () => number } {
  const errors: string[] = [];
  let dropped = 0;
  const sink = createSyslogSink({ kind: 'syslog', transport: 'udp', host, port, facility: 16 }, 'app', maxQueued === undefined ? {} : { maxQueued }, {
    onError: (e) => errors.push(e.message),
    onDropped: (n) => (dropped += n),
  });
  cleanups.push(() => sink.close());
  return { sink, errors, dropped: () => dropped };
}

const flushed = (sink: LogSink): Promise<void> => new Promise((resolve) => sink.flush(() => resolve()));

describe('syslog over UDP to a destination that takes every datagram', () => {
  for (const host of ['127.0.0.1', 'localhost']) {
    it(`sends all of a burst of 3,000 lines with maxQueued 500, dropping none (${host})`, async () => {
      const { port } = await receiver();
      const s = sinkTo(host, port, 500);
      // The host name looked up first: its address is known when the burst comes.
      s.sink.write(line(-1));
      await flushed(s.sink);
      for (let i = 0; i < 3_000; i++) s.sink.write(line(i));
      await flushed(s.sink);
      // What the loopback receiver's buffer keeps of a burst is the kernel's business; the sink dropped none.
      expect(s.dropped()).toBe(0);
      expect(s.errors).toEqual([]);
    });
  }

  it('delivers every line of 2,000 logged 100 at a time, in order, with none dropped (default maxQueued)', async () => {
    const r = await receiver();
    const s = sinkTo('127.0.0.1', r.port);
    for (let batch = 0; batch < 20; batch++) {
      for (let i = batch * 100; i < (batch + 1) * 100; i++) s.sink.write(line(i));
      await flushed(s.sink);
      await waitUntil(`batch ${batch} received`, () => r.received.length === (batch + 1) * 100, { seen: () => `${r.received.length} received` });
    }
    expect(r.received.map((m) => /line (\d+)/.exec(m)?.[1])).toEqual(Array.from({ length: 2_000 }, (_, i) => String(i)));
    expect(s.dropped()).toBe(0);
    expect(s.errors).toEqual([]);
  });

  it('drops, counts and reports once the lines of a send dgram refuses at once (port 0), never throwing into the logging call', async () => {
    const s = sinkTo('127.0.0.1', 0);
    for (let i = 0; i < 3; i++) expect(() => s.sink.write(line(i))).not.toThrow();
    await flushed(s.sink);
    expect(s.dropped()).toBe(3);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]).toMatch(/^syslog udp:\/\/127\.0\.0\.1:0: /);
  });
});
