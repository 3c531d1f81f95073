/**
 * deploy/compose.yml through `docker-compose config` (Debian's docker-compose 1.29, which validates
 * against the Compose schema and interpolates variables without a Docker engine). Nothing is built
 * or started: no engine runs in CI.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runDoctor } from '../../src/cli/doctor.js';
import { DEPLOY, haveTool, list, record, run } from './tools.js';

const HAVE_COMPOSE = haveTool('docker-compose', 'version', 'apt-get install docker-compose', 'the compose file validation');

describe('the app services of deploy/compose.yml', () => {
  it('run under an init (PID 1 ignores signals it has no handler for; node would be PID 1)', () => {
    const file = parse(readFileSync(join(DEPLOY, 'compose.yml'), 'utf8'), { merge: true }) as unknown;
    for (const service of ['app1', 'app2']) expect(record(file, 'services', service).init, service).toBe(true);
  });
});

describe.skipIf(!HAVE_COMPOSE)('docker-compose config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-compose-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // An empty env file, so a developer's own deploy/.env never leaks into the test.
  const envFile = join(dir, 'empty.env');
  writeFileSync(envFile, '');
  const dotenv = {
    LC_SERVER_NAME: 'app.example.com',
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    POSTGRES_PASSWORD: randomBytes(32).toString('hex'),
    REDIS_PASSWORD: randomBytes(32).toString('hex'),
    METRICS_TOKEN: randomBytes(32).toString('hex'),
    HEALTH_TOKEN: randomBytes(32).toString('hex'),
  };
  const compose = (vars: Record<string, string>, ...args: string[]) =>
    run('docker-compose', ['--env-file', envFile, '-f', join(DEPLOY, 'compose.yml'), 'config', ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...vars },
    });

  it('accepts the file with every deploy/.env variable set', () => {
    const result = compose(dotenv, '-q');
    expect(result.status, result.stderr).toBe(0);
  });

  it('refuses to run without the secrets, naming what to set', () => {
    const result = compose({});
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/set \w+ in deploy\/\.env|npx livecomponents keygen/);
  });

  it('resolves to an app environment that passes the production doctor, with the secrets in place', () => {
    const result = compose(dotenv);
    expect(result.status, result.stderr).toBe(0);
    const resolved = parse(result.stdout) as unknown;
    const env = Object.fromEntries(Object.entries(record(resolved, 'services', 'app1', 'environment')).map(([k, v]) => [k, String(v)]));
    expect(env.LC_STATE_KEYS).toBe(dotenv.LC_STATE_KEYS);
    expect(env.REDIS_URL).toBe(`redis://:${dotenv.REDIS_PASSWORD}@redis:6379`);
    const report = runDoctor(env, { production: true });
    expect(report.ok, report.lines.filter((l) => l.startsWith('FAIL')).join('\n')).toBe(true);
    const redisCommand = list(resolved, 'services', 'redis', 'command').map(String);
    expect(redisCommand[redisCommand.indexOf('--requirepass') + 1]).toBe(dotenv.REDIS_PASSWORD);
  });
});
