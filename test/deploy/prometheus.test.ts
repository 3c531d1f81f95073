/**
 * The Prometheus files with promtool: the alert rules load, their unit tests pass (series that must
 * and must not fire each alert), the scrape configuration loads, and every Grafana panel query is
 * valid PromQL (each becomes a recording rule that `promtool check rules` parses).
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { withoutGrafanaVariables } from './promql.js';
import { at, DEPLOY, haveTool, list, readDeploy, run, yamlDocument } from './tools.js';

const HAVE_PROMTOOL = haveTool('promtool', '--version', 'apt-get install prometheus', 'the Prometheus rule and config checks');

describe.skipIf(!HAVE_PROMTOOL)('promtool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-promtool-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('check rules: deploy/prometheus/alerts.yml loads', () => {
    const result = run('promtool', ['check', 'rules', join(DEPLOY, 'prometheus/alerts.yml')]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('test rules: every alert fires on the series in its test file, and only there', () => {
    // alerts-rotation.test.yml: the alert whose windows are days, evaluated hourly.
    const files = ['prometheus/alerts.test.yml', 'prometheus/alerts-rotation.test.yml'];
    const result = run('promtool', ['test', 'rules', ...files.map((f) => join(DEPLOY, f))]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout.match(/SUCCESS/g)).toHaveLength(files.length);
    // Every alert of alerts.yml is exercised by at least one test case.
    const alerts = list(yamlDocument('prometheus/alerts.yml'), 'groups').flatMap((g) =>
      list(g, 'rules').map((r) => String(at(r, 'alert'))),
    );
    const tested = new Set(
      files.flatMap((f) => list(yamlDocument(f), 'tests').flatMap((t) => list(t, 'alert_rule_test').map((c) => String(at(c, 'alertname'))))),
    );
    expect(alerts.filter((a) => !tested.has(a))).toEqual([]);
  });

  it('check config: deploy/prometheus/prometheus.yml loads (with a token file in place)', () => {
    // promtool opens credentials_file; point it at a file that exists, changing nothing else.
    const shipped = readDeploy('prometheus/prometheus.yml');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'test-token\n');
    const copy = shipped.replace(/credentials_file: \S+/, `credentials_file: ${tokenFile}`);
    expect(copy).not.toBe(shipped);
    writeFileSync(join(dir, 'prometheus.yml'), copy);
    copyFileSync(join(DEPLOY, 'prometheus/alerts.yml'), join(dir, 'alerts.yml'));
    const result = run('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('the 5xx ratio panel reads 0 (not "No data") when nothing failed, and leaves probes and scrapes out', () => {
    const dashboard = JSON.parse(readDeploy('grafana/livecomponents-dashboard.json')) as unknown;
    const panel = list(dashboard, 'panels').find((p) => at(p, 'title') === '5xx ratio');
    const expr = withoutGrafanaVariables(String(at(panel, 'targets', 0, 'expr')));
    writeFileSync(join(dir, 'ratio-rules.yml'), stringify({ groups: [{ name: 'ratio', rules: [{ record: 'dashboard:ratio', expr }] }] }));
    const series = (route: string, status: string, perMinute: number) => ({
      series: `http_requests_total{job="livecomponents", instance="a", method="GET", route="${route}", status_code="${status}"}`,
      values: `0+${perMinute}x20`,
    });
    const ratioAt10m = (value: number) => [{ expr: 'dashboard:ratio', eval_time: '10m', exp_samples: [{ labels: 'dashboard:ratio', value }] }];
    const tests = [
      // No 5xx series exists at all: prom-client only has the status codes it answered.
      { interval: '1m', input_series: [series('/', '200', 100)], promql_expr_test: ratioAt10m(0) },
      // A readiness 503 storm and scrapes: no failed request.
      { interval: '1m', input_series: [series('/', '200', 100), series('/health/ready', '503', 60), series('/metrics', '200', 1000)], promql_expr_test: ratioAt10m(0) },
      // 25 of 100 app requests fail; the scrapes do not dilute it.
      { interval: '1m', input_series: [series('/', '200', 75), series('/', '500', 25), series('/metrics', '200', 1000)], promql_expr_test: ratioAt10m(0.25) },
    ];
    writeFileSync(join(dir, 'ratio.test.yml'), stringify({ rule_files: ['ratio-rules.yml'], evaluation_interval: '1m', tests }));
    const result = run('promtool', ['test', 'rules', join(dir, 'ratio.test.yml')]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('every Grafana panel query is valid PromQL', () => {
    const dashboard = JSON.parse(readDeploy('grafana/livecomponents-dashboard.json')) as unknown;
    const exprs = list(dashboard, 'panels').flatMap((p) => (at(p, 'type') === 'row' ? [] : list(p, 'targets').map((t) => String(at(t, 'expr')))));
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    const rules = exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr: withoutGrafanaVariables(expr) }));
    const file = join(dir, 'dashboard-rules.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const result = run('promtool', ['check', 'rules', file]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
  });
});
