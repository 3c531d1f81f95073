/**
 * Helpers for the deployment kit tests: where deploy/ is, which external tools exist, free ports.
 *
 * A suite that needs a tool (nginx, promtool, ansible-playbook, docker-compose, systemd-analyze,
 * openssl) calls `haveTool`. When the tool is missing, the suite fails under CI (`process.env.CI`
 * set: .ci/run installs every one of them) and otherwise skips with one loud warning line.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The project root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The deployment kit folder, with a trailing slash. */
export const DEPLOY = `${ROOT}deploy/`;

export function readDeploy(path: string): string {
  return readFileSync(`${DEPLOY}${path}`, 'utf8');
}

/**
 * Whether `command` runs (`command versionArg` exits 0). Under CI a missing tool throws, which fails
 * the test file; elsewhere it prints one warning line and returns false so the suite skips.
 */
export function haveTool(command: string, versionArg: string, install: string, what: string): boolean {
  const probe = spawnSync(command, [versionArg], { stdio: 'ignore' });
  if (probe.error === undefined && probe.status === 0) return true;
  const message = `${command} not found: ${what} did not run (Debian: ${install}).`;
  if (process.env.CI) throw new Error(`${message} It is required under CI; .ci/run installs it.`);
  console.warn(`\n⚠⚠⚠ SKIPPED: ${message} ⚠⚠⚠\n`);
  return false;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (no shell) and returns its exit status and output. */
export function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A loopback TCP port nobody listens on right now. */
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
