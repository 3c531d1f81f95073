import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpForwarder, type Link, type TcpForwarder } from './tcp-forwarder.js';
import { waitUntil } from './wait-until.js';

/** A server answering each chunk with `<name>:<chunk>`, keeping what it received. */
async function echo(name: string): Promise<{ port: number; received: () => string; server: Server; closeConnections: () => void }> {
  let received = '';
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      received += chunk.toString();
      socket.write(`${name}:${chunk.toString()}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    received: () => received,
    server,
    closeConnections: () => sockets.forEach((socket) => socket.destroy()),
  };
}

/** A client of `port` keeping everything it read, and whether it was closed. */
function client(port: number): { socket: Socket; read: () => string; closed: Promise<void> } {
  let read = '';
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined).on('data', (chunk) => (read += chunk.toString()));
  return { socket, read: () => read, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

/** Sends `text` and waits for the answer `expected` after what was read before. */
async function ask(c: ReturnType<typeof client>, text: string, expected: string): Promise<void> {
  const before = c.read();
  c.socket.write(text);
  await waitUntil(`the answer ${expected}`, () => c.read() === before + expected, { seen: c.read });
}

describe('startTcpForwarder', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function server(name: string) {
    const s = await echo(name);
    cleanups.push(() => new Promise<void>((resolve) => s.server.close(() => resolve())));
    return s;
  }
  async function forwarder(...args: Parameters<typeof startTcpForwarder>): Promise<TcpForwarder> {
    const f = await startTcpForwarder(...args);
    cleanups.push(f.close);
    return f;
  }
  function connected(port: number) {
    const c = client(port);
    cleanups.push(() => void c.socket.destroy());
    return c;
  }

  it('asks the target per connection: after a switch, new connections reach the other server, open ones stay', async () => {
    const a = await server('a');
    const b = await server('b');
    let target = a.port;
    const f = await forwarder({ target: () => target });
    const first = connected(f.port);
    await ask(first, 'one', 'a:one');
    target = b.port;
    const second = connected(f.port);
    await ask(second, 'two', 'b:two');
    await ask(first, 'three', 'a:three');
    expect(f.links.size).toBe(2);
    expect([a.received(), b.received()]).toEqual(['onethree', 'two']);
  });

  it('dropAll closes every open connection and keeps forwarding new ones; a target of undefined closes new ones at once', async () => {
    const a = await server('a');
    let refuse = false;
    const f = await forwarder({ target: () => (refuse ? undefined : a.port) });
    const first = connected(f.port);
    const second = connected(f.port);
    await ask(first, 'x', 'a:x');
    await ask(second, 'y', 'a:y');
    f.dropAll();
    expect(f.links.size).toBe(0);
    await Promise.all([first.closed, second.closed]);
    const third = connected(f.port);
    await ask(third, 'z', 'a:z');
    refuse = true;
    const refused = connected(f.port);
    await refused.closed;
    expect(refused.read()).toBe('');
    expect(f.links.size).toBe(1);
  });

  it('a hook returning false swallows the chunk, either way; the hook sees the link', async () => {
    const a = await server('a');
    const seen: string[] = [];
    let sawLink: Link | undefined;
    const f = await forwarder({
      target: () => a.port,
      fromClient: (chunk, link) => {
        seen.push(chunk.toString());
        sawLink = link;
        return chunk.toString() !== 'secret';
      },
      fromServer: (chunk) => !chunk.toString().includes('hidden'),
    });
    const c = connected(f.port);
    c.socket.write('secret');
    // Seen (and swallowed) before the next write, so the two cannot arrive as one chunk.
    await waitUntil('the hook to see the first chunk', () => seen.length === 1);
    await ask(c, 'hello', 'a:hello');
    expect(a.received()).toBe('hello');
    expect(sawLink).toBe([...f.links][0]);
    // The server got it, its answer did not come back.
    c.socket.write('hidden');
    await waitUntil('the server to receive the second chunk', () => a.received() === 'hellohidden');
    await ask(c, 'after', 'a:after');
    expect(c.read()).toBe('a:helloa:after');
  });

  it('a blackholed link passes nothing and stays open on the client\'s side when the server closes; a dropped one closes', async () => {
    const a = await server('a');
    const f = await forwarder({ target: () => a.port });
    const c = connected(f.port);
    await ask(c, 'one', 'a:one');
    const [link] = [...f.links] as [Link];
    const written = link.upstream.bytesWritten;
    link.blackhole();
    c.socket.write('two');
    await waitUntil('the forwarder to read the chunk', () => link.client.bytesRead === 'onetwo'.length);
    expect(link.upstream.bytesWritten).toBe(written);
    // The server's side goes away: the client's stays, counted as open.
    a.closeConnections();
    await waitUntil('the server side to close', () => link.upstream.closed);
    expect(link.client.destroyed).toBe(false);
    expect(f.links.size).toBe(1);
    link.drop();
    await c.closed;
    expect(f.links.size).toBe(0);
    expect(c.read()).toBe('a:one');
  });
});
