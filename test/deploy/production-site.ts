/**
 * The production shape the deploy tests drive: the shipped nginx site in front of two
 * NODE_ENV=production instances of the reference app on one Redis and one SQL database, with a
 * test certificate. The lower-level pieces (rendering the site, processes, HTTPS calls) are in
 * nginx-harness.ts.
 */
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, readDeploy, ROOT, run, type RunResult } from './tools.js';
import { startRedis, type RedisServer } from '../redis/server.js';
import { collect, ensureBuilt, httpsCall, mainConfig, renderSite, startChild, waitForPort, type Call, type Child, type Reply, type SiteValues } from './nginx-harness.js';

/** What `startProductionSite` starts: the shipped nginx site in front of two production instances on one Redis and one SQL database. */
export interface ProductionSiteOptions {
  /** `LC_SERVER_NAME`, and the host of `APP_URL`. */
  serverName: string;
  /**
   * `APP_URL` of both instances (the origin browsers see), e.g. `https://app.lc.test`; a function of
   * nginx's HTTPS port for clients that reach that port itself (`https://localhost:<port>`).
   */
  appUrl: string | ((httpsPort: number) => string);
  /** More names in the certificate's subjectAltName (another site the test serves with it); an IPv4 address as an `IP:` entry. */
  altNames?: readonly string[];
  /**
   * `DATABASE_URL` both instances share: PostgreSQL (`createTestSchema`), as several instances are
   * deployed (docs/scaling.md): a user registered through one instance signs in through the other.
   */
  databaseUrl: string;
  /** More environment for both instances (`LOG_LEVEL`, …), over the defaults. */
  env?: Record<string, string>;
  /** Start nginx (after `nginx -t`) before resolving; `false` leaves `site.nginx.check()` and `.start()` to the test. @default true */
  startNginx?: boolean;
}

/** One nginx in front of the site's two instances: its own folder, ports, pid and logs. */
export interface NginxSite {
  readonly serverName: string;
  readonly dir: string;
  /** Loopback ports standing for 443 and 80. */
  readonly httpsPort: number;
  readonly httpPort: number;
  /** `nginx -t` on its configuration. */
  check(): RunResult;
  /** Starts it (stopped with the site) and resolves once it listens. */
  start(): Promise<void>;
  /** Its access and error logs so far. */
  log(which: 'access' | 'error'): string;
}

export interface ProductionSite {
  readonly dir: string;
  /** `APP_URL` of both instances. */
  readonly appUrl: string;
  /** The certificate (PEM), its key's file, and the base64 SHA-256 of its SubjectPublicKeyInfo (Chromium's `--ignore-certificate-errors-spki-list`). */
  readonly cert: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly spki: string;
  /** The nginx of `serverName`; `httpsPort`, `httpPort` and `nginxLog` are its. */
  readonly nginx: NginxSite;
  readonly httpsPort: number;
  readonly httpPort: number;
  /** `127.0.0.1:<port>` of each instance, as nginx's `$upstream_addr` names them. */
  readonly upstreams: readonly [string, string];
  readonly metricsPorts: readonly [number, number];
  readonly metricsToken: string;
  /** One HTTPS request through nginx to `serverName`, the certificate verified. */
  call(call: Call): Promise<Reply>;
  /**
   * One request to an instance itself, with the headers nginx adds (`Host`, `X-Forwarded-*`, the
   * client `call.from` as `X-Forwarded-For`): to choose which instance answers.
   */
  callInstance(instance: 0 | 1, call: Call): Promise<Reply>;
  /** Another nginx from the shipped template for `serverName`, in front of the same instances with the same certificate; not started. */
  addNginx(serverName: string): Promise<NginxSite>;
  /** Each instance's JSON log lines so far (LOG_DESTINATION=file:…), parsed. */
  logLines(instance: 0 | 1): Record<string, unknown>[];
  /** nginx's access and error logs so far. */
  nginxLog(which: 'access' | 'error'): string;
  /** Every child's recent output and the end of each instance's log, for failure messages. */
  diagnostics(): string;
  stop(): Promise<void>;
}

/** The base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo. */
export function spkiHash(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}

const readText = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');

/** Renders the shipped site for `values` into `dir` (with a main nginx.conf): an `NginxSite` whose started nginx joins `children`. */
function nginxSite(dir: string, values: SiteValues, children: Child[]): NginxSite {
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'livecomponents.conf'), renderSite(readDeploy('nginx/livecomponents.conf.template'), values));
  writeFileSync(join(dir, 'nginx.conf'), mainConfig(dir, join(dir, 'livecomponents.conf')));
  const conf = ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')];
  return {
    serverName: values.serverName,
    dir,
    httpsPort: values.httpsPort,
    httpPort: values.httpPort,
    check: () => run('nginx', ['-t', ...conf]),
    async start() {
      const nginx = startChild(`nginx (${values.serverName})`, 'nginx', [...conf, '-g', 'daemon off;'], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin' } });
      children.push(nginx);
      await waitForPort(values.httpsPort, nginx);
    },
    log: (which) => readText(join(dir, `${which}.log`)),
  };
}

/** A request straight to `port` as nginx would pass it on: `Host` and `X-Forwarded-Host` `serverName`, `X-Forwarded-Proto: https`. */
function proxiedCall(port: number, serverName: string, call: Call): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = {
      host: serverName,
      'x-forwarded-host': serverName,
      'x-forwarded-proto': 'https',
      ...(call.from ? { 'x-forwarded-for': call.from } : {}),
      ...call.headers,
    };
    const req = httpRequest({ host: '127.0.0.1', port, method: call.method ?? 'GET', path: call.path, agent: false, headers }, (res) => collect(res, resolve, reject));
    req.on('error', reject);
    req.end(call.body);
  });
}

/** The environment both instances share, as a deployment shares it (compose .env, Kubernetes Secret). */
function sharedEnv(appUrl: string, redisUrl: string, metricsToken: string, databaseUrl: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    APP_URL: appUrl,
    TRUST_PROXY: '127.0.0.1',
    BEHIND_PROXY: 'true',
    REDIS_URL: redisUrl,
    DATABASE_URL: databaseUrl,
    INSTANCES: '2',
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    METRICS_TOKEN: metricsToken,
    HEALTH_TOKEN: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'info',
  };
}

/**
 * The production shape on one machine: a certificate made with openssl, a test-owned redis-server,
 * two instances of the built reference app (NODE_ENV=production, APP_URL `appUrl`, one SQL database
 * `databaseUrl`, TRUST_PROXY = nginx's address, JSON logs at info level to a file each, metrics on
 * METRICS_PORT), and nginx with the shipped site file in front of them. `stop` ends all of it and
 * removes the folder.
 */
export async function startProductionSite(options: ProductionSiteOptions): Promise<ProductionSite> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'lc-site-'));
  const children: Child[] = [];
  let redis: RedisServer | undefined;
  const stop = async () => {
    await Promise.all(children.map((c) => c.stop()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    const names = [options.serverName, ...(options.altNames ?? [])].map((n) => (/^\d+(\.\d+){3}$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    const made = run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${options.serverName}`,
      '-addext', `subjectAltName=${names}`, '-keyout', keyPath, '-out', certPath,
    ]);
    if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
    const cert = readFileSync(certPath, 'utf8');
    redis = await startRedis();
    const appPorts = [await freePort(), await freePort()] as const;
    const metricsPorts = [await freePort(), await freePort()] as const;
    const upstreams = [`127.0.0.1:${appPorts[0]}`, `127.0.0.1:${appPorts[1]}`] as const;
    const siteFor = async (serverName: string, siteDir: string) =>
      nginxSite(siteDir, { serverName, cert: certPath, key: keyPath, upstreams, httpsPort: await freePort(), httpPort: await freePort() }, children);
    const nginx = await siteFor(options.serverName, dir);
    const appUrl = typeof options.appUrl === 'string' ? options.appUrl : options.appUrl(nginx.httpsPort);
    const metricsToken = randomBytes(32).toString('hex');
    const shared = { ...sharedEnv(appUrl, redis.url, metricsToken, options.databaseUrl), ...options.env };
    const logFiles = appPorts.map((_, i) => join(dir, `app${i + 1}`, 'app.log'));
    appPorts.forEach((port, i) => {
      const cwd = join(dir, `app${i + 1}`);
      mkdirSync(cwd);
      const env = { ...shared, PORT: String(port), METRICS_PORT: String(metricsPorts[i]), LOG_DESTINATION: `file:${logFiles[i]}` };
      children.push(startChild(`app${i + 1}`, process.execPath, [join(ROOT, 'dist/examples/demo/main.js')], { cwd, env }));
    });
    await Promise.all(appPorts.map((port, i) => waitForPort(port, children[i] as Child)));
    if (options.startNginx !== false) {
      const checked = nginx.check();
      if (checked.status !== 0) throw new Error(`nginx -t refused the site:\n${checked.stderr}`);
      await nginx.start();
    }
    let added = 0;
    return {
      dir, appUrl, cert, certPath, keyPath, spki: spkiHash(cert), nginx, httpsPort: nginx.httpsPort, httpPort: nginx.httpPort, upstreams, metricsPorts, metricsToken,
      call: (call) => httpsCall(nginx.httpsPort, options.serverName, cert, call),
      callInstance: (instance, call) => proxiedCall(appPorts[instance], options.serverName, call),
      addNginx: (serverName) => siteFor(serverName, join(dir, `nginx${++added}`)),
      logLines: (instance) =>
        readText(logFiles[instance] as string)
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      nginxLog: nginx.log,
      diagnostics: () =>
        [...children.map((c) => `--- ${c.name}\n${c.output()}`), ...logFiles.map((f, i) => `--- app${i + 1} log (end)\n${readText(f).slice(-8_000)}`)].join('\n'),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
