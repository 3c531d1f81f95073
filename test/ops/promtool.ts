/**
 * `promtool check metrics` (Debian package `prometheus`) for the metrics tests. Missing under CI
 * (`process.env.CI`) is a failure; elsewhere the check is skipped with one loud warning line.
 */
import { spawnSync } from 'node:child_process';

export type PromtoolAvailability = { state: 'up' } | { state: 'skip' | 'fail'; reason: string };

export function promtoolAvailability(): PromtoolAvailability {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.error === undefined && probe.status === 0) return { state: 'up' };
  const reason = `promtool is not installed (apt-get install prometheus): ${probe.error?.message ?? `exit ${probe.status}`}`;
  return { state: process.env.CI ? 'fail' : 'skip', reason };
}

/** Feeds exposition text to `promtool check metrics`; resolves its exit code and what it printed. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const res = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: res.status, output: `${res.stdout}${res.stderr}`.trim() };
}
