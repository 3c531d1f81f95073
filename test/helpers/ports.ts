import { createServer, type AddressInfo, type Server } from 'node:net';

/** A loopback TCP port nobody listens on right now (the OS picks it; it is released before use). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const busy: Server[] = [];

/** A loopback port (127.0.0.1) that a listener of this process holds until `releaseBusyPorts()`: a port in use. */
export async function busyPort(): Promise<number> {
  const server = createServer();
  busy.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Closes the listeners of `busyPort()` (in `afterAll`). */
export function releaseBusyPorts(): void {
  for (const server of busy.splice(0)) server.close();
}
