/**
 * A loopback TCP forwarder for tests that put something between a client and a server (Redis,
 * PostgreSQL): a URL that reaches another server once the target changes (a DNS or virtual-IP
 * switch), a server that stops answering in the middle of a command, an answer lost on the way,
 * round trips counted on the wire. Each test used to write its own; the socket wiring (close one
 * side when the other closes or fails, destroy every socket on close) is the part that must be
 * right for a test to end cleanly, so it lives here once and the tests keep only their twist.
 */
import { connect, createServer, type Socket } from 'node:net';

/** One client connection and the connection it was forwarded to. */
export interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Closes both sides, as a server host answering with a reset does. */
  drop(): void;
  /**
   * Nothing passes any more, either way, and the client's side stays open whatever the server
   * does: the server's host vanished from the network (the client only learns it by a timeout).
   */
  blackhole(): void;
}

export interface TcpForwarderOptions {
  /**
   * The port on 127.0.0.1 each new connection goes to, asked per connection so that a test can
   * switch it; `undefined` closes the new connection at once (a server that takes no new one).
   */
  target: () => number | undefined;
  /** Sees each chunk the client sends before it is forwarded; `false` swallows it. */
  fromClient?: (chunk: Buffer, link: Link) => boolean;
  /** Sees each chunk the server sends before it is forwarded; `false` swallows it. */
  fromServer?: (chunk: Buffer, link: Link) => boolean;
}

export interface TcpForwarder {
  readonly port: number;
  /** The connections open through it now (a blackholed one counts until its client closes). */
  readonly links: ReadonlySet<Link>;
  /** Drops every open connection; new ones are forwarded as before. */
  dropAll(): void;
  /** Drops every connection and stops listening. */
  close(): Promise<void>;
}

export async function startTcpForwarder(options: TcpForwarderOptions): Promise<TcpForwarder> {
  const links = new Set<Link>();
  const server = createServer((client) => {
    const port = options.target();
    if (port === undefined) return void client.destroy();
    const upstream = connect(port, '127.0.0.1');
    let silent = false;
    const link: Link = {
      client,
      upstream,
      drop: () => {
        links.delete(link);
        client.destroy();
        upstream.destroy();
      },
      blackhole: () => void (silent = true),
    };
    links.add(link);
    // Plain writes rather than pipe(): a hook decides per chunk. Test traffic is small, so no
    // back-pressure is needed; a write to a side already gone is skipped.
    client.on('data', (chunk: Buffer) => {
      if (silent || (options.fromClient && !options.fromClient(chunk, link))) return;
      if (!upstream.destroyed) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (silent || (options.fromServer && !options.fromServer(chunk, link))) return;
      if (!client.destroyed) client.write(chunk);
    });
    // An error is followed by 'close', which ends the link: a refused or reset side closes the other.
    client.on('error', () => undefined).on('close', link.drop);
    upstream.on('error', () => undefined).on('close', () => silent || link.drop());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const dropAll = () => {
    for (const link of [...links]) link.drop();
  };
  return {
    port,
    links,
    dropAll,
    close: () => {
      dropAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
