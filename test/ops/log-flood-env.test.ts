/**
 * LOG_FLOOD_LIMIT and LOG_FLOOD_WINDOW_MS: the reference app's security-log flood limit from the
 * environment (docs/reference/config.md). Bad values stop start-up like any other variable's.
 */
import { expect, it } from 'vitest';
import { ConfigError, floodLimitOf, loadConfig } from '../../src/ops/config.js';
import { runDoctor } from '../../src/cli/doctor.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import { manualClock } from '../../src/core/clock.js';
import { recorder, refusal, summaries } from './flood-events.js';

const problemsOf = (env: Record<string, string>): readonly string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
};

it('unset: the library defaults; a number: that many lines and that window; 0: every line written', () => {
  expect(floodLimitOf(loadConfig({}))).toEqual({ linesPerWindow: 10, windowMs: 60_000 });
  expect(floodLimitOf(loadConfig({ LOG_FLOOD_LIMIT: '3', LOG_FLOOD_WINDOW_MS: '300000' }))).toEqual({ linesPerWindow: 3, windowMs: 300_000 });
  expect(floodLimitOf(loadConfig({ LOG_FLOOD_LIMIT: ' 0 ', LOG_FLOOD_WINDOW_MS: '1000' }))).toBe(false);
  expect(floodLimitOf(loadConfig({ LOG_FLOOD_LIMIT: '1000000', LOG_FLOOD_WINDOW_MS: '2147483647' }))).toEqual({ linesPerWindow: 1_000_000, windowMs: 2_147_483_647 });
});

it.each([
  ['LOG_FLOOD_LIMIT', '-1', 'LOG_FLOOD_LIMIT: must be a whole number of at least 0 (got "-1")'],
  ['LOG_FLOOD_LIMIT', '10/min', 'LOG_FLOOD_LIMIT: must be a whole number of at least 0 (got "10/min")'],
  ['LOG_FLOOD_LIMIT', 'off', 'LOG_FLOOD_LIMIT: must be a whole number of at least 0 (got "off")'],
  ['LOG_FLOOD_LIMIT', '1000001', 'LOG_FLOOD_LIMIT: must be at most 1000000 (got "1000001")'],
  ['LOG_FLOOD_WINDOW_MS', '0', 'LOG_FLOOD_WINDOW_MS: must be a whole number of at least 1 (got "0")'],
  ['LOG_FLOOD_WINDOW_MS', '60s', 'LOG_FLOOD_WINDOW_MS: must be a whole number of at least 1 (got "60s")'],
  ['LOG_FLOOD_WINDOW_MS', '2147483648', 'LOG_FLOOD_WINDOW_MS: must be at most 2147483647 ms (got "2147483648")'],
])('%s=%s stops start-up, and the doctor fails it under config', (name, value, message) => {
  expect(problemsOf({ [name]: value })).toEqual([message]);
  expect(runDoctor({ [name]: value }).lines).toContain(`FAIL config: ${message}`);
});

it('the security logger given floodLimitOf writes what the variables say', () => {
  const run = (env: Record<string, string>) => {
    const logger = recorder();
    const clock = manualClock();
    const events = createSecurityLogger({ logger, clock, floodLimit: floodLimitOf(loadConfig(env)) });
    for (let i = 0; i < 50; i++) {
      events.emit(refusal('203.0.113.7', i));
      clock.advance(100);
    }
    events.close();
    return { lines: logger.lines.length, summaries: summaries(logger.lines).map((l) => l.fields['suppressed']) };
  };
  expect(run({})).toEqual({ lines: 11, summaries: [40] });
  expect(run({ LOG_FLOOD_LIMIT: '3' })).toEqual({ lines: 4, summaries: [47] });
  // A window of 1 s: 10 lines each, and a summary each, for the 5 s of the flood.
  expect(run({ LOG_FLOOD_LIMIT: '2', LOG_FLOOD_WINDOW_MS: '1000' })).toEqual({ lines: 15, summaries: [8, 8, 8, 8, 8] });
  expect(run({ LOG_FLOOD_LIMIT: '0' })).toEqual({ lines: 50, summaries: [] });
});
