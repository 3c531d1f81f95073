/**
 * The UDP syslog sink's datagrams waiting to be sent are bounded by `maxQueued` (10,000 by default),
 * as the TCP sink's queue is: while the destination's host name is being looked up (a resolver that
 * does not answer holds every line until its timeouts), each line logged was kept, with its
 * datagram and callback, however many came. Here the lookup answers only when the test says so.
 */
import { createSocket } from 'node:dgram';
import type * as Dns from 'node:dns/promises';
import { describe, expect, it, vi } from 'vitest';
import { createSyslogSink } from '../../src/ops/logging/syslog.js';
import { waitUntil } from '../helpers/wait-until.js';

const resolver = vi.hoisted(() => {
  let answer: (value: { address: string; family: number }) => void = () => undefined;
  const pending = new Promise<{ address: string; family: number }>((resolve) => (answer = resolve));
  return { lookups: 0, pending, answer: (address: string) => answer({ address, family: 4 }) };
});

vi.mock('node:dns/promises', async (importOriginal) => {
  const original = await importOriginal<typeof Dns>();
  return {
    ...original,
    lookup: () => {
      resolver.lookups++;
      return resolver.pending;
    },
  };
});

const line = (i: number): string => `${JSON.stringify({ level: 30, time: 0, msg: `line ${i}` })}\n`;

describe('syslog over UDP while the host name is being looked up', () => {
  it('keeps at most maxQueued datagrams waiting, drops and counts the rest, says so once, and sends the kept ones once it answers', async () => {
    const receiver = createSocket('udp4');
    const received: string[] = [];
    receiver.on('message', (message) => received.push(message.toString('latin1')));
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
    const { port } = receiver.address();
    const errors: string[] = [];
    let dropped = 0;
    const sink = createSyslogSink({ kind: 'syslog', transport: 'udp', host: 'logs.invalid', port, facility: 16 }, 'app', { maxQueued: 500 }, {
      onError: (e) => errors.push(e.message),
      onDropped: (n) => (dropped += n),
    });
    for (let i = 0; i < 3_000; i++) sink.write(line(i));
    expect(resolver.lookups).toBe(1);
    expect(dropped).toBe(2_500);
    expect(errors).toEqual([`syslog udp://logs.invalid:${port}: 500 datagrams are waiting to be sent; dropping new ones until they have gone`]);
    resolver.answer('127.0.0.1');
    // Every kept datagram handed to the kernel (a flush waits for them all); the loopback receiver's
    // buffer may drop some of a burst of 500, so what arrived is only looked at for its order.
    await new Promise<void>((resolve) => sink.flush(() => resolve()));
    await waitUntil('datagrams arrived', () => received.length > 0, { seen: () => `${received.length} received` });
    expect(received[0]).toContain('line 0');
    expect(dropped).toBe(2_500);
    // Room again: the next line is sent, not dropped, and not reported again.
    sink.write(line(3_000));
    await new Promise<void>((resolve) => sink.flush(() => resolve()));
    expect(dropped).toBe(2_500);
    expect(errors).toHaveLength(1);
    await sink.close();
    receiver.close();
  });
});
