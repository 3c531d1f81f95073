/**
 * Helpers for the deployment kit tests: where deploy/ is, which external tools exist, free ports.
 *
 * A suite that needs a tool (nginx, promtool, ansible-playbook, docker-compose, systemd-analyze,
 * openssl) calls `haveTool`. When the tool is missing, the suite fails under CI (`process.env.CI`
 * set: .ci/run installs every one of them) and otherwise skips with one loud warning line.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

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

/**
 * Whether `command` runs, for a tool CI does not install (kubectl): never throws, and warns once
 * when it is missing, so the suite that needs it skips everywhere, CI included.
 */
export function haveOptionalTool(command: string, probeArgs: readonly string[], what: string): boolean {
  const probe = spawnSync(command, probeArgs, { stdio: 'ignore' });
  if (probe.error === undefined && probe.status === 0) return true;
  console.warn(`\n⚠⚠⚠ SKIPPED: ${command} not found: ${what} did not run (optional; CI does not install it). ⚠⚠⚠\n`);
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

export { freePort } from '../helpers/ports.js';

/** Every file under deploy/ (relative paths), sorted. */
export function deployFiles(dir = ''): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(`${DEPLOY}${dir}`, { withFileTypes: true })) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory()) found.push(...deployFiles(`${path}/`));
    else found.push(path);
  }
  return found.sort();
}

/**
 * The YAML documents of a deploy/ file, with `<<` merge keys resolved (compose uses them). Any
 * error or warning of the parser throws, naming the file.
 */
export function yamlDocuments(path: string): unknown[] {
  const docs = parseAllDocuments(readDeploy(path), { merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${path}: ${problems.map((p) => p.message).join('; ')}`);
  }
  return list.map((doc) => doc.toJS({ maxAliasCount: 100 }) as unknown);
}

/** The one YAML document of a deploy/ file. */
export function yamlDocument(path: string): unknown {
  const docs = yamlDocuments(path);
  if (docs.length !== 1) throw new Error(`${path}: expected one YAML document, found ${docs.length}`);
  return docs[0];
}

/** `value` followed along `path` (object keys, array indexes); throws naming the path where it breaks. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const [i, key] of path.entries()) {
    if (current === null || typeof current !== 'object' || !(key in current)) {
      throw new Error(`no ${path.slice(0, i + 1).join('.')} in ${JSON.stringify(current)?.slice(0, 200)}`);
    }
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/** `at(...)` that must be an array. */
export function list(value: unknown, ...path: (string | number)[]): unknown[] {
  const found = at(value, ...path);
  if (!Array.isArray(found)) throw new Error(`${path.join('.')} is not a list: ${JSON.stringify(found)}`);
  return found as unknown[];
}

/** `at(...)` that must be a plain object. */
export function record(value: unknown, ...path: (string | number)[]): Record<string, unknown> {
  const found = at(value, ...path);
  if (found === null || typeof found !== 'object' || Array.isArray(found)) {
    throw new Error(`${path.join('.')} is not a mapping: ${JSON.stringify(found)}`);
  }
  return found as Record<string, unknown>;
}
