/**
 * Client side of the shutdown test: keep-alive connections issuing real page requests in a tight
 * loop, each request recorded from the moment it was sent until its body was complete (or failed).
 */
import { Agent, request as httpRequest } from 'node:http';

export interface Outcome {
  path: string;
  status: number | null;
  /** The whole HTML document arrived (it ends with `</html>`). */
  complete: boolean;
  error: string | null;
}

/** One request on `agent`; never rejects. */
export function pageRequest(port: number, path: string, agent: Agent, cookie: string | null): Promise<Outcome & { cookie: string | null }> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = cookie === null ? {} : { cookie };
    const req = httpRequest({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', (error) => resolve({ path, status: res.statusCode ?? null, complete: false, error: error.message, cookie }));
      res.on('end', () => {
        const setCookie = res.headers['set-cookie']?.[0]?.split(';')[0] ?? null;
        const complete = res.complete && body.trimEnd().endsWith('</html>');
        resolve({ path, status: res.statusCode ?? null, complete, error: null, cookie: setCookie ?? cookie });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ path, status: null, complete: false, error: error.code ?? error.message, cookie }),
    );
    req.end();
  });
}

export interface LoadRun {
  readonly outcomes: Outcome[];
  readonly started: number;
  readonly finished: number;
  /** Stops starting new requests; resolves when every loop has finished its last one. */
  stop(): Promise<void>;
  destroy(): void;
}

/** `connections` loops, each on its own keep-alive connection, alternating `/` and `/orders`. */
export function startLoad(port: number, connections: number): LoadRun {
  const outcomes: Outcome[] = [];
  const agents = Array.from({ length: connections }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  let stopped = false;
  let started = 0;
  const loops = agents.map(async (agent, i) => {
    let cookie: string | null = null;
    for (let n = i; !stopped; n++) {
      started++;
      const res = await pageRequest(port, n % 2 === 0 ? '/' : '/orders', agent, cookie);
      cookie = res.cookie;
      outcomes.push({ path: res.path, status: res.status, complete: res.complete, error: res.error });
    }
  });
  return {
    outcomes,
    get started() {
      return started;
    },
    get finished() {
      return outcomes.length;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
    destroy() {
      stopped = true;
      for (const agent of agents) agent.destroy();
    },
  };
}
