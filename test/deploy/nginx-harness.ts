/**
 * The pieces of the nginx end-to-end test: render deploy/nginx/livecomponents.conf.template into a
 * test copy, build the reference app when dist/ is stale, start processes, and make HTTPS requests
 * from a chosen loopback source address with the test certificate as the only trusted CA. The whole
 * production site built from them is production-site.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { ROOT } from './tools.js';
import { waitUntil } from '../helpers/wait-until.js';

export interface SiteValues {
  serverName: string;
  cert: string;
  key: string;
  upstreams: readonly [string, string];
  /** Loopback ports that replace 443 and 80 in the `listen` lines. */
  httpsPort: number;
  httpPort: number;
}

/** The placeholders the template documents, and nothing else, as the shipped envsubst call fills them. */
export const PLACEHOLDERS = ['LC_SERVER_NAME', 'LC_TLS_CERT', 'LC_TLS_KEY', 'LC_UPSTREAM_1', 'LC_UPSTREAM_2'] as const;

/** Replaces `from` by `to`, throwing unless it occurs exactly `times` times (the template changed). */
function replaceExactly(text: string, from: RegExp, to: string, times: number): string {
  const found = text.match(new RegExp(from.source, 'gm'))?.length ?? 0;
  if (found !== times) throw new Error(`expected ${times} match(es) of ${from} in the nginx template, found ${found}`);
  return text.replace(new RegExp(from.source, 'gm'), to);
}

/**
 * The shipped template with its placeholders filled (envsubst semantics: `${NAME}` and `$NAME` for the
 * listed names only), then two test-only changes, each asserted to apply exactly where expected:
 * - `listen 443 ssl` / `listen 80` become 127.0.0.1 and free ports;
 * - an `X-Upstream: $upstream_addr` response header next to HSTS, so the test sees which instance answered.
 */
export function renderSite(template: string, v: SiteValues): string {
  const values: Record<(typeof PLACEHOLDERS)[number], string> = {
    LC_SERVER_NAME: v.serverName,
    LC_TLS_CERT: v.cert,
    LC_TLS_KEY: v.key,
    LC_UPSTREAM_1: v.upstreams[0],
    LC_UPSTREAM_2: v.upstreams[1],
  };
  let text = template;
  for (const name of PLACEHOLDERS) {
    const before = text;
    text = text.replaceAll(`\${${name}}`, values[name]).replace(new RegExp(`\\$${name}\\b`, 'g'), values[name]);
    if (text === before) throw new Error(`placeholder \${${name}} does not occur in the nginx template`);
  }
  const left = /\$\{?LC_[A-Z0-9_]+/.exec(text);
  if (left) throw new Error(`undocumented placeholder ${left[0]} left in the nginx template`);
  text = replaceExactly(text, /^(\s*)listen 443 ssl/, `$1listen 127.0.0.1:${v.httpsPort} ssl`, 2);
  text = replaceExactly(text, /^(\s*)listen 80\b/, `$1listen 127.0.0.1:${v.httpPort}`, 2);
  text = replaceExactly(
    text,
    /^(\s*)(add_header Strict-Transport-Security .*)$/,
    '$1$2\n$1add_header X-Upstream $upstream_addr always;',
    4, // the server's, and those the 413, the per-address 429 and the upstream's 503 repeat
  );
  return text;
}

/** A main nginx.conf around the site file, with every path under `dir` (runs without root). */
export function mainConfig(dir: string, site: string): string {
  const runningAsRoot = process.getuid?.() === 0;
  return `${runningAsRoot ? 'user root;\n' : ''}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${site};
}
`;
}

const SOURCES = ['src', 'examples'];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Compiles the server (tsc -p tsconfig.build.json, as `npm run build` does) and copies the demo's
 * static files when dist/ is missing or older than a source file. The browser bundle is not rebuilt
 * here: vitest's global setup has just written it, and other test files read it concurrently.
 * Returns whether a build ran.
 */
export function ensureBuilt(): boolean {
  const entry = join(ROOT, 'dist/examples/demo/main.js');
  const fresh =
    existsSync(entry) &&
    existsSync(join(ROOT, 'dist/client/livecomponents.js')) &&
    statSync(entry).mtimeMs >= Math.max(...SOURCES.map((d) => newestMtime(join(ROOT, d))));
  if (fresh) return false;
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'pipe', encoding: 'utf8' });
  } catch (error) {
    const out = (error as { stdout?: string }).stdout ?? '';
    throw new Error(`the build (tsc -p tsconfig.build.json) failed, so the app cannot start:\n${out}`);
  }
  execFileSync('cp', ['-R', join(ROOT, 'examples/demo/public'), join(ROOT, 'dist/examples/demo/')], { stdio: 'pipe' });
  return true;
}

/** A child process whose output is kept for failure messages. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Children still running: killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function startChild(name: string, command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Child {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (error) => keep(Buffer.from(`\n[spawn error] ${error.message}\n`)));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    name,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Resolves once `port` on 127.0.0.1 accepts a TCP connection; rejects at once when `child` exits.
 * No give-up of its own (a loaded machine only makes it late): the hook's timeout is the limit.
 */
export async function waitForPort(port: number, child: Child): Promise<void> {
  await waitUntil(
    `${child.name} to listen on ${port}`,
    () => {
      if (child.process.exitCode !== null || child.process.signalCode !== null) {
        throw new Error(`${child.name} exited (${child.process.exitCode ?? child.process.signalCode}) before listening:\n${child.output()}`);
      }
      return new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
    },
    { every: 50, seen: () => child.output() },
  );
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Call {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Loopback source address of the connection (127.0.0.2, …): the client address nginx sees. */
  from?: string;
}

/** One HTTPS request to 127.0.0.1:`port`, SNI `servername`, verifying the server against `ca` only. */
export function httpsCall(port: number, servername: string, ca: string, call: Call): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        servername,
        ca,
        method: call.method ?? 'GET',
        path: call.path,
        localAddress: call.from,
        agent: false,
        headers: { host: `${servername}:${port}`, ...call.headers },
      },
      (res) => collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end(call.body);
  });
}

/**
 * A TLS handshake with SNI `servername` that trusts any certificate: resolves 'established', or the
 * error the server's alert caused (to see a refusal that is not about the certificate).
 */
export function tlsHandshake(port: number, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve('established');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(`${error.code ?? ''} ${error.message}`));
  });
}

/** One plain HTTP request to 127.0.0.1:`port` with the given Host header. */
export function httpCall(port: number, host: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { host } }, (res) => collect(res, resolve, reject));
    req.on('error', reject);
    req.end();
  });
}

export function collect(res: IncomingMessage, resolve: (r: Reply) => void, reject: (e: Error) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('error', reject);
  res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
}

/** The `name=value` pairs of a response's Set-Cookie headers, joined for a Cookie header. */
export function cookieHeader(reply: Reply): string {
  return (reply.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
}
