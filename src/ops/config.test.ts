import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openBackends, redisTarget } from '../runtime/backends.js';
import { createRedisStore } from '../store/redis/index.js';
import { decodeSecret } from '../runtime/setup.js';
import { lowEntropyReason, placeholderReason } from './config-fields.js';
import { ConfigError, loadConfig, newSessionLimitOf, type AppConfig } from './config.js';

const b64 = (bytes = 32): string => randomBytes(bytes).toString('base64');

/** A production environment that passes every start-up rule. */
function productionEnv(): Record<string, string> {
  return { NODE_ENV: 'production', LC_STATE_KEYS: b64(), LC_SESSION_SECRET: b64(), APP_URL: 'https://app.example.com' };
}

/** The problems `loadConfig(env)` throws, or fails the test when it does not throw a ConfigError. */
function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig defaults', () => {
  it('gives every variable its documented default in development', () => {
    const expected: AppConfig = {
      PORT: 3000,
      HOST: '127.0.0.1',
      NODE_ENV: 'development',
      DATABASE_URL: 'sqlite:./data/livecomponents.db',
      REDIS_URL: undefined,
      REDIS_KEY_PREFIX: undefined,
      LC_STATE_KEYS: undefined,
      LC_SESSION_SECRET: undefined,
      LC_SESSION_SECRET_FALLBACKS: undefined,
      CORS_ALLOWED_ORIGINS: undefined,
      FRONTEND_URL: undefined,
      APP_URL: undefined,
      TRUST_PROXY: false,
      BEHIND_PROXY: false,
      LOG_FORMAT: 'pretty',
      LOG_DESTINATION: 'stdout',
      LOG_LEVEL: 'info',
      HEALTH_TOKEN: undefined,
      HEALTH_TOKEN_PREVIOUS: undefined,
      METRICS_TOKEN: undefined,
      METRICS_TOKEN_PREVIOUS: undefined,
      METRICS_PORT: undefined,
      METRICS_ALLOWED_HOSTS: undefined,
      MAX_CONNECTIONS: undefined,
      MAX_EVENT_LOOP_DELAY_MS: undefined,
      INSTANCES: 1,
      SMTP_URL: undefined,
      MAIL_FROM: 'LiveComponents <no-reply@localhost>',
      SANCTUM_ACCESS_TOKEN_EXPIRATION: 15,
      SANCTUM_REFRESH_TOKEN_EXPIRATION: 10_080,
      TOKEN_CLEANUP_INTERVAL: 1440,
      SESSION_TTL: 1440,
      NEW_SESSION_LIMIT: 300,
      appOrigin: 'http://127.0.0.1:3000',
      allowedOrigins: ['http://localhost:3000'],
      production: false,
      secureCookies: false,
    };
    expect(loadConfig({})).toEqual(expected);
  });

  it('treats empty and blank values as unset', () => {
    const config = loadConfig({ PORT: '', HOST: '  ', NODE_ENV: '', LC_STATE_KEYS: ' ' });
    expect([config.PORT, config.HOST, config.NODE_ENV, config.LC_STATE_KEYS]).toEqual([3000, '127.0.0.1', 'development', undefined]);
  });

  it('defaults to json logs, Secure cookies and no extra origin in production', () => {
    const config = loadConfig(productionEnv());
    expect({ format: config.LOG_FORMAT, secure: config.secureCookies, origins: config.allowedOrigins, origin: config.appOrigin }).toEqual({
      format: 'json',
      secure: true,
      origins: [],
      origin: 'https://app.example.com',
    });
  });

  it('derives the app origin from HOST and PORT when APP_URL is unset', () => {
    expect(loadConfig({ HOST: '0.0.0.0', PORT: '8080' }).appOrigin).toBe('http://localhost:8080');
    expect(loadConfig({ HOST: '::1', PORT: '8080' }).appOrigin).toBe('http://[::1]:8080');
    expect(loadConfig({ APP_URL: 'https://app.example.com/base/' }).appOrigin).toBe('https://app.example.com');
  });

  it('outside production also trusts http://localhost on the PORT served, besides http://localhost:3000 (was: 3000 only, every action refused at localhost:3001)', () => {
    expect(loadConfig({ PORT: '3001' }).allowedOrigins).toEqual(['http://localhost:3000', 'http://localhost:3001']);
    expect(loadConfig({ PORT: '3000' }).allowedOrigins).toEqual(['http://localhost:3000']);
    expect(loadConfig({ PORT: '3001', CORS_ALLOWED_ORIGINS: 'http://localhost:5173' }).allowedOrigins).toEqual(['http://localhost:5173']);
    expect(loadConfig({ ...productionEnv(), PORT: '3001' }).allowedOrigins).toEqual([]);
  });
});

describe('parsed values', () => {
  it.each([
    ['false', false],
    ['0', false],
    ['TRUE', true],
    ['2', 2],
    ['10.0.0.0/8, 127.0.0.1', ['10.0.0.0/8', '127.0.0.1']],
    ['loopback,fd00::/8', ['loopback', 'fd00::/8']],
  ])('TRUST_PROXY=%s', (text, value) => {
    expect(loadConfig({ TRUST_PROXY: text }).TRUST_PROXY).toEqual(value);
  });

  it('merges CORS_ALLOWED_ORIGINS and FRONTEND_URL, normalized as browsers send them, without duplicates', () => {
    const config = loadConfig({ CORS_ALLOWED_ORIGINS: 'https://App.Example.com:443/, https://admin.example.com', FRONTEND_URL: 'https://app.example.com' });
    expect(config.allowedOrigins).toEqual(['https://app.example.com', 'https://admin.example.com']);
  });

  it('reads the operations variables', () => {
    const config = loadConfig({ BEHIND_PROXY: 'yes', INSTANCES: '3', METRICS_PORT: '9100', LOG_LEVEL: 'warn', LOG_FORMAT: 'JSON', TOKEN_CLEANUP_INTERVAL: '0', SESSION_TTL: '30', MAX_CONNECTIONS: '5000' });
    expect(config.MAX_CONNECTIONS).toBe(5000);
    expect(loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '0' }).MAX_EVENT_LOOP_DELAY_MS).toBe(0);
    expect(loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '2500' }).MAX_EVENT_LOOP_DELAY_MS).toBe(2500);
    expect([config.BEHIND_PROXY, config.INSTANCES, config.METRICS_PORT, config.LOG_LEVEL, config.LOG_FORMAT, config.TOKEN_CLEANUP_INTERVAL, config.SESSION_TTL]).toEqual([
      true, 3, 9100, 'warn', 'json', 0, 30,
    ]);
    // New sessions per client per minute for `newSessionLimit`; 0 turns the limit off.
    expect([loadConfig({ NEW_SESSION_LIMIT: '60' }), loadConfig({ NEW_SESSION_LIMIT: '0' }), loadConfig({})].map(newSessionLimitOf)).toEqual([
      { limit: 60, windowSeconds: 60 },
      false,
      { limit: 300, windowSeconds: 60 },
    ]);
    // Host names are case-insensitive and `name.` is the same name: one spelling, no duplicates.
    expect(loadConfig({ METRICS_ALLOWED_HOSTS: ' App1 , app1., metrics.internal.example ' }).METRICS_ALLOWED_HOSTS).toEqual(['app1', 'metrics.internal.example']);
  });
});

describe('MAIL_FROM', () => {
  it.each([
    ['no-reply@shop.example', 'no-reply@shop.example'],
    ['Shop <no-reply@shop.example>', 'Shop <no-reply@shop.example>'],
    ['"Shop, Inc." <no-reply@shop.example>', '"Shop, Inc." <no-reply@shop.example>'],
    ['Bücherei <no-reply@xn--bcherei-m2a.example>', 'Bücherei <no-reply@xn--bcherei-m2a.example>'],
  ])('takes %s', (text, value) => {
    expect(loadConfig({ MAIL_FROM: text }).MAIL_FROM).toBe(value);
  });

  it("defaults to no-reply at APP_URL's host, else to no-reply@localhost", () => {
    expect(loadConfig({ APP_URL: 'https://App.Example.com:8443/base' }).MAIL_FROM).toBe('no-reply@app.example.com');
    expect(loadConfig({ APP_URL: 'https://203.0.113.7' }).MAIL_FROM).toBe('LiveComponents <no-reply@localhost>');
    expect(loadConfig({}).MAIL_FROM).toBe('LiveComponents <no-reply@localhost>');
  });
});

describe('a bad value names its variable', () => {
  it.each([
    ['PORT', 'http', 'PORT: must be a port number from 0 to 65535 (got "http")'],
    ['PORT', '70000', 'PORT: must be a port number from 0 to 65535 (got "70000")'],
    ['NODE_ENV', 'prod', 'NODE_ENV: must be one of development, production, test (got "prod")'],
    ['DATABASE_URL', 'mysql://db/app', 'DATABASE_URL: unsupported scheme mysql:; use sqlite:PATH or postgres://…'],
    ['REDIS_URL', 'localhost:6379', 'REDIS_URL: must be a URL such as redis://host:6379 or rediss://…'],
    ['LC_STATE_KEYS', b64(16), 'LC_STATE_KEYS: entry at index 0 decodes to 16 bytes; a key must be exactly 32 (for example `openssl rand -base64 32`)'],
    ['LC_STATE_KEYS', 'not base64!', 'LC_STATE_KEYS: entry at index 0 is not base64 (standard or url alphabet)'],
    ['LC_SESSION_SECRET', 'short', 'LC_SESSION_SECRET: too short (5 bytes; at least 32 are needed); `npx livecomponents keygen` prints one'],
    ['CORS_ALLOWED_ORIGINS', '*', 'CORS_ALLOWED_ORIGINS: `*` is not allowed: credentials are sent, so list exact origins such as https://app.example.com'],
    ['CORS_ALLOWED_ORIGINS', 'https://*.example.com', 'CORS_ALLOWED_ORIGINS: "https://*.example.com" has a wildcard; list each origin exactly'],
    ['FRONTEND_URL', 'https://app.example.com/login', 'FRONTEND_URL: "https://app.example.com/login" is not an exact origin: drop the path, query or credentials (use https://app.example.com)'],
    ['APP_URL', 'app.example.com', 'APP_URL: "app.example.com" is not a URL such as https://app.example.com'],
    ['TRUST_PROXY', 'proxy', 'TRUST_PROXY: "proxy" is not false, true, a hop count, an IP address, a CIDR range or one of loopback, linklocal, uniquelocal'],
    ['TRUST_PROXY', '10.0.0.0/33', 'TRUST_PROXY: "10.0.0.0/33" is not false, true, a hop count, an IP address, a CIDR range or one of loopback, linklocal, uniquelocal'],
    ['TRUST_PROXY', '0.0.0.0/0', 'TRUST_PROXY: "0.0.0.0/0" is not false, true, a hop count, an IP address, a CIDR range or one of loopback, linklocal, uniquelocal'],
    ['TRUST_PROXY', '::/0', 'TRUST_PROXY: "::/0" is not false, true, a hop count, an IP address, a CIDR range or one of loopback, linklocal, uniquelocal'],
    ['TRUST_PROXY', '10.0.0.0/00', 'TRUST_PROXY: "10.0.0.0/00" is not false, true, a hop count, an IP address, a CIDR range or one of loopback, linklocal, uniquelocal'],
    ['BEHIND_PROXY', 'maybe', 'BEHIND_PROXY: must be true or false (got "maybe")'],
    ['LOG_FORMAT', 'xml', 'LOG_FORMAT: unknown format "xml" (expected pretty or json)'],
    ['LOG_DESTINATION', 'kafka:topic', 'LOG_DESTINATION: unknown scheme "kafka:" (expected stdout, file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT or otlp:http(s)://HOST:PORT)'],
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
    ['HEALTH_TOKEN', 'two words', 'HEALTH_TOKEN: must not contain white space: it is sent as `Authorization: Bearer <token>`'],
    ['METRICS_PORT', '-1', 'METRICS_PORT: must be a port number from 0 to 65535 (got "-1")'],
    ['METRICS_ALLOWED_HOSTS', 'app1:9464', 'METRICS_ALLOWED_HOSTS: "app1:9464" must be a host name alone, without scheme or port: any port of a listed name passes'],
    ['METRICS_ALLOWED_HOSTS', 'app1,,app2', 'METRICS_ALLOWED_HOSTS: has an empty entry: list host names separated by single commas, such as app1,app2'],
    ['METRICS_ALLOWED_HOSTS', '*.example.com', 'METRICS_ALLOWED_HOSTS: "*.example.com" is not a host name (letters, digits, hyphens, underscores and dots)'],
    ['INSTANCES', '0', 'INSTANCES: must be a whole number of at least 1 (got "0")'],
    ['SMTP_URL', 'mail.example.com', 'SMTP_URL: must be a URL such as smtp://user:pass@host:587 or smtps://…'],
    ['MAIL_FROM', 'no-reply@app.example.com\r\nBcc: eve@evil.example', 'MAIL_FROM: must be one line: control characters such as CR or LF are refused'],
    ['MAIL_FROM', 'a@app.example.com, b@app.example.com', 'MAIL_FROM: must be one address such as no-reply@app.example.com or App <no-reply@app.example.com>'],
    ['MAIL_FROM', 'Shop <a@app.example.com>, <b@app.example.com>', 'MAIL_FROM: has a display name with a character that needs quoting (, ; : @ < > ( ) [ ] \\); write it in double quotes, without " or \\ inside'],
    ['MAIL_FROM', 'Shop', 'MAIL_FROM: must be one address such as no-reply@app.example.com or App <no-reply@app.example.com>'],
    ['MAIL_FROM', 'Shop <no-reply@shop_1.example>', 'MAIL_FROM: must be one address such as no-reply@app.example.com or App <no-reply@app.example.com>'],
    ['SANCTUM_ACCESS_TOKEN_EXPIRATION', '1.5', 'SANCTUM_ACCESS_TOKEN_EXPIRATION: must be a whole number of at least 1 (got "1.5")'],
    ['TOKEN_CLEANUP_INTERVAL', 'daily', 'TOKEN_CLEANUP_INTERVAL: must be a whole number of at least 0 (got "daily")'],
    // Node fires a timer longer than 2^31 − 1 ms after 1 ms: the clean-up would run in a busy loop.
    ['TOKEN_CLEANUP_INTERVAL', '35792', 'TOKEN_CLEANUP_INTERVAL: must be at most 35791 minutes (about 24 days), the longest a Node.js timer can wait (got "35792")'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/abc', 'REDIS_URL: has a path that is not a database number; use redis://host:6379 or redis://host:6379/2'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/1/x', 'REDIS_URL: has a path that is not a database number; use redis://host:6379 or redis://host:6379/2'],
    ['REDIS_URL', 'redis://127.0.0.1:6379?db=2', 'REDIS_URL: names its database with ?db=; put the number in the path instead (redis://host:6379/2)'],
    ['REDIS_URL', 'redis://127.0.0.1:0', 'REDIS_URL: has port 0; give the port Redis listens on, such as redis://host:6379'],
    ['REDIS_URL', 'redis://10.0.0.1:6379,rediss://10.0.0.2:0', 'REDIS_URL: has port 0; give the port Redis listens on, such as redis://host:6379'],
    ['REDIS_URL', 'redis://10.0.0.1:6379/2,redis://10.0.0.2:6379/2', 'REDIS_URL: names a database, but a Redis Cluster has only database 0; separate apps with REDIS_KEY_PREFIX'],
    ['TRUST_PROXY', ',', 'TRUST_PROXY: lists no address; give false, true, a hop count, or proxy addresses such as 10.0.0.0/8 or loopback'],
    ['TRUST_PROXY', ' , ,', 'TRUST_PROXY: lists no address; give false, true, a hop count, or proxy addresses such as 10.0.0.0/8 or loopback'],
    ['SESSION_TTL', '0', 'SESSION_TTL: must be a whole number of at least 1 (got "0")'],
    // 100 years: past it a token's end overflowed PostgreSQL's bigint, and the refresh cookie's
    // Max-Age was no safe integer (every sign-in answered 500).
    ['SANCTUM_REFRESH_TOKEN_EXPIRATION', '9007199254740991', 'SANCTUM_REFRESH_TOKEN_EXPIRATION: must be at most 52596000 minutes (100 years), the longest a token or session may live (got "9007199254740991")'],
    ['SANCTUM_ACCESS_TOKEN_EXPIRATION', '52596001', 'SANCTUM_ACCESS_TOKEN_EXPIRATION: must be at most 52596000 minutes (100 years), the longest a token or session may live (got "52596001")'],
    ['SESSION_TTL', '200000000000', 'SESSION_TTL: must be at most 52596000 minutes (100 years), the longest a token or session may live (got "200000000000")'],
    ['MAX_CONNECTIONS', '0', 'MAX_CONNECTIONS: must be a whole number of at least 1 (got "0")'],
    ['MAX_EVENT_LOOP_DELAY_MS', '1.5', 'MAX_EVENT_LOOP_DELAY_MS: must be a whole number of at least 0 (got "1.5")'],
    ['MAX_EVENT_LOOP_DELAY_MS', '2147483648', 'MAX_EVENT_LOOP_DELAY_MS: must be at most 2147483647 ms (got "2147483648")'],
    ['NEW_SESSION_LIMIT', '-1', 'NEW_SESSION_LIMIT: must be a whole number of at least 0 (got "-1")'],
    ['NEW_SESSION_LIMIT', '300/min', 'NEW_SESSION_LIMIT: must be a whole number of at least 0 (got "300/min")'],
    // Past the largest limit every store takes, each cookie-less page view would answer 500.
    ['NEW_SESSION_LIMIT', '2147483648', 'NEW_SESSION_LIMIT: must be at most 2147483647 (got "2147483648")'],
  ])('%s=%s', (name, value, message) => {
    expect(problemsOf({ [name]: value })).toEqual([message]);
  });

  it('accepts the longest clean-up interval a timer can wait, lifetimes of 100 years, and a Redis database number in the path', () => {
    expect(loadConfig({ TOKEN_CLEANUP_INTERVAL: '35791' }).TOKEN_CLEANUP_INTERVAL).toBe(35_791);
    const century = loadConfig({ SANCTUM_ACCESS_TOKEN_EXPIRATION: '52596000', SANCTUM_REFRESH_TOKEN_EXPIRATION: '52596000', SESSION_TTL: '52596000' });
    expect([century.SANCTUM_ACCESS_TOKEN_EXPIRATION, century.SANCTUM_REFRESH_TOKEN_EXPIRATION, century.SESSION_TTL]).toEqual([52_596_000, 52_596_000, 52_596_000]);
    for (const url of ['redis://r:6379', 'redis://r:6379/', 'redis://r:6379/0', 'rediss://:pw@r:6380/15', 'redis://a:6379,redis://b:6379/0']) {
      expect(loadConfig({ REDIS_URL: url }).REDIS_URL, url).toBe(url);
    }
  });

  it('refuses two variables that contradict each other', () => {
    expect(problemsOf({ PORT: '8080', METRICS_PORT: '8080', SANCTUM_ACCESS_TOKEN_EXPIRATION: '60', SANCTUM_REFRESH_TOKEN_EXPIRATION: '30' })).toEqual([
      'METRICS_PORT must differ from PORT (both are 8080)',
      'SANCTUM_REFRESH_TOKEN_EXPIRATION (30 min) must be at least SANCTUM_ACCESS_TOKEN_EXPIRATION (60 min)',
    ]);
  });

  it('refuses a HOST that is not an address or a host name (a URL, a port, brackets)', () => {
    for (const host of ['http://0.0.0.0', 'localhost:3000', '[::]', '0.0.0.0/24', 'my_host']) {
      expect(problemsOf({ HOST: host }), host).toEqual([
        `HOST: must be an IP address or a host name without scheme, port or brackets, such as 0.0.0.0, :: or localhost (got "${host}")`,
      ]);
    }
    for (const host of ['0.0.0.0', '::', '::1', 'localhost', 'app-1.internal']) expect(loadConfig({ HOST: host }).HOST).toBe(host);
  });

  it('refuses digits and dots that are no IPv4 address (they passed as a host name and stopped start-up with getaddrinfo ENOTFOUND)', () => {
    for (const host of ['256.1.1.1', '10.0.0', '1.2.3.4.5', '127.0.0.01']) {
      expect(problemsOf({ HOST: host }), host).toEqual([`HOST: "${host}" is not an IPv4 address: four numbers from 0 to 255, such as 127.0.0.1 or 0.0.0.0`]);
    }
    expect(loadConfig({ HOST: '10.0.0.1' }).HOST).toBe('10.0.0.1');
  });

  it('reports every problem at once, each naming its variable, with a stable code', () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: 'x', NODE_ENV: 'staging', CORS_ALLOWED_ORIGINS: '*', LC_SESSION_SECRET: 'short' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((i) => i.variable)).toEqual(['PORT', 'NODE_ENV', 'LC_SESSION_SECRET', 'CORS_ALLOWED_ORIGINS']);
    expect(error.message.split('\n')).toHaveLength(5);
  });

  it('refuses a "%" in the Redis password or user name that is not percent-encoded, without repeating either', () => {
    const message = (what: string) => `REDIS_URL: has a ${what} with a "%" that is not percent-encoded (write a literal "%" as %25)`;
    for (const [url, what] of [
      ['redis://:Zz9%SECRETzz@127.0.0.1:7101', 'password'],
      ['rediss://app:Zz9SECRET%zz@127.0.0.1:7101/2', 'password'],
      ['redis://Zz9%SECRET:pw@127.0.0.1:7101', 'user name'],
      // Any entry of a Cluster's list (the nodes' credentials come from the first).
      ['redis://10.0.0.1:6379,redis://:Zz9%SECRETzz@10.0.0.2:6379', 'password'],
    ] as const) {
      const problems = problemsOf({ REDIS_URL: url });
      expect(problems, url).toEqual([message(what)]);
      expect(problems.join('\n')).not.toContain('SECRET');
    }
    // Percent-encoded, it is a literal "%".
    expect(loadConfig({ REDIS_URL: 'redis://:Zz9%25SECRETzz@127.0.0.1:7101' }).REDIS_URL).toBe('redis://:Zz9%25SECRETzz@127.0.0.1:7101');
  });

  it('gives the same clear error to createRedisStore and openBackends users outside loadConfig (not a bare URIError)', async () => {
    const url = 'redis://:Zz9%SECRETzz@127.0.0.1:7101';
    const thrown = (f: () => unknown): Error => {
      try {
        f();
      } catch (error) {
        return error as Error;
      }
      throw new Error('did not throw');
    };
    const single = thrown(() => createRedisStore({ url }));
    expect(single).toBeInstanceOf(TypeError);
    expect(single.message).toBe('createRedisStore: the url has a password with a "%" that is not percent-encoded (write a literal "%" as %25)');
    // Several URLs: a Cluster built by redisTarget (openBackends, doctor --connect).
    const cluster = thrown(() => redisTarget(`redis://10.0.0.1:6379,${url.replace('7101', '6379')}`, true));
    expect(cluster).toBeInstanceOf(TypeError);
    expect(cluster.message).toBe('REDIS_URL: entry 2 of the Redis Cluster seed list has a password with a "%" that is not percent-encoded (write a literal "%" as %25)');
    const first = thrown(() => redisTarget(`${url},redis://10.0.0.2:6379`, true));
    expect(first.message).toMatch(/^REDIS_URL: entry 1 of the Redis Cluster seed list has a password with a "%"/);
    const dir = mkdtempSync(join(tmpdir(), 'lc-config-redis-'));
    await expect(openBackends({ databaseUrl: `sqlite:${join(dir, 'db.sqlite')}`, redisUrl: `${url},redis://10.0.0.2:6379` })).rejects.toThrow(/^REDIS_URL: entry 1 .*write a literal "%" as %25\)$/);
    for (const error of [single, cluster, first]) expect(`${error.message} ${error.stack}`).not.toContain('SECRET');
    // An encoded one still reaches the Cluster's node options decoded.
    const target = redisTarget('redis://:a%25b@10.0.0.1:6379,redis://10.0.0.2:6379', true);
    expect('client' in target && target.client.options.redisOptions?.password).toBe('a%b');
    if ('client' in target) target.client.disconnect();
  });

  it('never repeats a secret or a URL that may hold a password', () => {
    const secret = 'hunter2-but-short';
    const problems = problemsOf({ LC_SESSION_SECRET: secret, REDIS_URL: 'http://user:pa55word@redis:6379', SMTP_URL: 'smtp://user:pa55word@' });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).not.toMatch(/hunter2|pa55word/);
  });
});

describe('production refuses to start', () => {
  it('starts with a complete, strong configuration', () => {
    expect(loadConfig(productionEnv()).production).toBe(true);
  });

  it('lists every missing key, secret and https address at once', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      'LC_STATE_KEYS is not set; production needs at least one 32-byte key (`npx livecomponents keygen` prints one)',
      'LC_SESSION_SECRET is not set; production needs at least 32 random bytes (`npx livecomponents keygen` prints one)',
      'APP_URL is not set; production needs the public https:// address of the app',
    ]);
  });

  it('refuses a weak state key, naming its index but not its value', () => {
    const zero = Buffer.alloc(32).toString('base64');
    expect(problemsOf({ ...productionEnv(), LC_STATE_KEYS: `${b64()},${zero}` })).toEqual([
      'LC_STATE_KEYS: entry at index 1 is weak (one value repeated); `npx livecomponents keygen` prints one',
    ]);
  });

  it.each([
    ['a repeated character', 'a'.repeat(40), 'one value repeated'],
    ['a repeated pattern', 'k7#Qz'.repeat(8), 'a short pattern repeated'],
    ['few distinct characters', 'abcdabcdbadcdcbaabdcacbdbcadcabdd', 'too few distinct characters'],
    ['a placeholder', 'please-changeme-before-deploying-this-app', 'it looks like a placeholder such as "changeme" or "secret"'],
    ['a placeholder', 'my-super-SECRET-session-key-for-prod-2024', 'it looks like a placeholder such as "changeme" or "secret"'],
  ])('refuses LC_SESSION_SECRET with %s', (_what, secret, reason) => {
    const problems = problemsOf({ ...productionEnv(), LC_SESSION_SECRET: secret });
    expect(problems).toEqual([`LC_SESSION_SECRET is weak (${reason}); \`npx livecomponents keygen\` prints one`]);
    expect(problems[0]).not.toContain(secret);
  });

  it('refuses short or shared tokens', () => {
    const env = productionEnv();
    // Under 16 characters is refused everywhere: the health and metrics routes would refuse it at start-up.
    expect(problemsOf({ ...env, HEALTH_TOKEN: 'health' })).toEqual(['HEALTH_TOKEN: must be at least 16 characters']);
    expect(problemsOf({ ...env, HEALTH_TOKEN: 'health-token-20chars', METRICS_TOKEN: env.LC_SESSION_SECRET as string })).toEqual([
      'HEALTH_TOKEN is weak (20 bytes; at least 32 are needed); `npx livecomponents keygen` prints one',
      'METRICS_TOKEN has the same value as LC_SESSION_SECRET; give each its own secret',
    ]);
  });

  it('refuses an http APP_URL: cookies could not be Secure', () => {
    expect(problemsOf({ ...productionEnv(), APP_URL: 'http://app.example.com' })).toEqual([
      'APP_URL must start with https:// in production',
      'APP_URL is not https, so cookies could not be Secure (the session cookie needs its __Host- prefix)',
    ]);
  });

  it('refuses a declared proxy without TRUST_PROXY, whether unset or false', () => {
    const expected = [
      'TRUST_PROXY is unset or false but BEHIND_PROXY=true: every client would share the proxy address (rate limits, logs); set the hop count or the proxy CIDR',
    ];
    expect(problemsOf({ ...productionEnv(), BEHIND_PROXY: 'true' })).toEqual(expected);
    expect(problemsOf({ ...productionEnv(), BEHIND_PROXY: 'true', TRUST_PROXY: 'false' })).toEqual(expected);
    expect(loadConfig({ ...productionEnv(), BEHIND_PROXY: 'true', TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
  });

  it('refuses CORS `*` (credentials are always sent)', () => {
    expect(problemsOf({ ...productionEnv(), CORS_ALLOWED_ORIGINS: 'https://app.example.com,*' })).toHaveLength(1);
  });

  it('reports a malformed value once, not again as missing', () => {
    expect(problemsOf({ ...productionEnv(), LC_SESSION_SECRET: 'short', APP_URL: 'nope' })).toEqual([
      'LC_SESSION_SECRET: too short (5 bytes; at least 32 are needed); `npx livecomponents keygen` prints one',
      'APP_URL: "nope" is not a URL such as https://app.example.com',
    ]);
  });

  it('leaves development alone: no keys needed, weak secrets and http allowed', () => {
    const config = loadConfig({ LC_SESSION_SECRET: 'changeme-changeme-changeme-changeme', APP_URL: 'http://localhost:3000', BEHIND_PROXY: 'true' });
    expect(config.production).toBe(false);
  });
});

describe('secret strength', () => {
  it('accepts what keygen prints', () => {
    for (let i = 0; i < 20; i++) {
      const text = b64();
      expect([placeholderReason(text), lowEntropyReason(Buffer.from(text), 10), lowEntropyReason(randomBytes(32), 16)]).toEqual([
        undefined,
        undefined,
        undefined,
      ]);
    }
  });

  it('agrees with createLiveComponents on the minimum length', () => {
    const ok = 'x'.repeat(31) + 'y';
    expect(decodeSecret(ok)).toHaveLength(32);
    expect(loadConfig({ LC_SESSION_SECRET: ok }).LC_SESSION_SECRET).toBe(ok);
    expect(() => decodeSecret(ok.slice(1))).toThrow(TypeError);
    expect(problemsOf({ LC_SESSION_SECRET: ok.slice(1) })).toHaveLength(1);
  });
});
