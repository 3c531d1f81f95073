/**
 * The dashboard's "Secret fallbacks in use (key rotation)" panel: it shows every `secret` label of
 * `livecomponents_secret_fallback_used_total` summed over the instances, reads 0 (not "No data")
 * for a secret whose older value is no longer used. No alert fires on its counts (a rotation in
 * progress is expected to count; docs/operations.md "Secret fallbacks"): only on their silence while
 * a fallback is still configured (LiveComponentsSecretRotationUnfinished). Beside it, "Secret fallbacks
 * configured" shows the gauge per secret and instance.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { METRIC_NAMES, SECRET_FALLBACKS } from '../../src/ops/metrics/names.js';
import { labelMatchers, metricNames, withoutGrafanaVariables } from './promql.js';
import { at, haveTool, list, readDeploy, run, yamlDocument } from './tools.js';

const TITLE = 'Secret fallbacks in use (key rotation)';
const dashboard = JSON.parse(readDeploy('grafana/livecomponents-dashboard.json')) as unknown;
const panel = list(dashboard, 'panels').find((p) => at(p, 'title') === TITLE);

describe('secret fallbacks panel', () => {
  it('queries the counter by secret, every secret label shown, on the templated data source; only the unfinished-rotation alert reads it', () => {
    expect(panel, TITLE).toBeDefined();
    const targets = list(panel, 'targets');
    expect(targets).toHaveLength(1);
    const expr = String(at(targets[0], 'expr'));
    expect(metricNames(expr)).toEqual([METRIC_NAMES.secretFallbackUsed]);
    expect(expr).toMatch(/^sum by \(secret\) \(increase\(/);
    expect(labelMatchers(expr).filter((m) => m.label === 'secret')).toEqual([]);
    expect(at(targets[0], 'legendFormat')).toBe('{{secret}}');
    expect(at(panel, 'datasource', 'uid')).toBe('${datasource}');
    const description = String(at(panel, 'description'));
    for (const secret of SECRET_FALLBACKS) expect(description, secret).toContain(secret);
    // The counter alone fires nothing (a rotation in progress counts): the one rule that reads it
    // fires on its silence while a fallback is still configured.
    const rules = list(yamlDocument('prometheus/alerts.yml'), 'groups').flatMap((g) => list(g, 'rules'));
    const readers = rules.filter((r) => metricNames(String(at(r, 'expr'))).includes(METRIC_NAMES.secretFallbackUsed));
    expect(readers.map((r) => [at(r, 'alert'), metricNames(String(at(r, 'expr'))).sort()])).toEqual([
      ['LiveComponentsSecretRotationUnfinished', [METRIC_NAMES.secretFallbackUsed, METRIC_NAMES.secretFallbacksConfigured]],
    ]);
  });
});

const HAVE_PROMTOOL = haveTool('promtool', '--version', 'apt-get install prometheus', 'the secret fallbacks panel query check');

describe.skipIf(!HAVE_PROMTOOL)('secret fallbacks panel, promtool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-fallback-panel-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sums the instances per secret, and reads 0 for a secret no longer used or never used', () => {
    const expr = withoutGrafanaVariables(String(at(list(panel, 'targets')[0], 'expr')));
    writeFileSync(join(dir, 'panel-rules.yml'), stringify({ groups: [{ name: 'panel', rules: [{ record: 'dashboard:fallbacks', expr }] }] }));
    const series = (instance: string, secret: string, values: string) => ({
      series: `${METRIC_NAMES.secretFallbackUsed}{job="livecomponents", instance="${instance}", secret="${secret}"}`,
      values,
    });
    const sample = (secret: string, value: number) => ({ labels: `dashboard:fallbacks{secret="${secret}"}`, value });
    const tests = [
      {
        interval: '1m',
        input_series: [
          // Old CSRF tokens still arriving at both instances: 2 and 1 a minute.
          series('a', 'session_secret', '0+2x20'),
          series('b', 'session_secret', '0+1x20'),
          // State sealed with the old key read for 5 minutes, then no more.
          series('a', 'state_key', '0+1x5 5x15'),
          series('b', 'state_key', '0x20'),
          // Tokens: the scraper and the probe moved before this started.
          series('a', 'metrics_token', '0x20'),
          series('a', 'health_token', '0x20'),
        ],
        promql_expr_test: [
          {
            expr: 'dashboard:fallbacks',
            eval_time: '15m',
            exp_samples: [sample('health_token', 0), sample('metrics_token', 0), sample('session_secret', 15), sample('state_key', 0)],
          },
        ],
      },
    ];
    writeFileSync(join(dir, 'panel.test.yml'), stringify({ rule_files: ['panel-rules.yml'], evaluation_interval: '1m', tests }));
    const result = run('promtool', ['test', 'rules', join(dir, 'panel.test.yml')]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });
});
