/**
 * The deployment kit's data files, read as the tools would read them: every YAML and JSON file
 * parses; the Kubernetes manifests, the compose file and the monitoring files have the structure
 * and names the app needs; and the environment each deployment gives the app passes the production
 * doctor (`livecomponents doctor --production`), variable by variable.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/cli/doctor.js';
import { ERROR_CODES } from '../../src/core/errors.js';
import { ENV_VARIABLES } from '../../src/ops/config.js';
import { HEALTH_ROUTES } from '../../src/ops/health/index.js';
import { createMetrics, METRIC_NAMES } from '../../src/ops/metrics/index.js';
import { SECURITY_EVENTS } from '../../src/ops/security-events.js';
import { exposedSeriesNames, labelMatchers, type LabelMatcher, metricNames } from './promql.js';
import { parseAllDocuments } from 'yaml';
import { at, DEPLOY, deployFiles, haveOptionalTool, list, readDeploy, record, run, yamlDocument, yamlDocuments } from './tools.js';

/** Strong throwaway values for every secret a deployment leaves to the operator. */
const SECRETS: Record<string, string> = {
  LC_STATE_KEYS: randomBytes(32).toString('base64'),
  LC_SESSION_SECRET: randomBytes(32).toString('base64'),
  METRICS_TOKEN: randomBytes(32).toString('hex'),
  HEALTH_TOKEN: randomBytes(32).toString('hex'),
  POSTGRES_PASSWORD: randomBytes(32).toString('hex'),
  REDIS_PASSWORD: randomBytes(32).toString('hex'),
  DATABASE_URL: 'postgres://livecomponents:secret@db.internal:5432/livecomponents',
  REDIS_URL: 'redis://redis.internal:6379',
  LC_SERVER_NAME: 'app.example.com',
};

/** Runs the production doctor on `env`; the failing lines are the assertion message. */
function expectProductionReady(env: Record<string, string>, where: string): void {
  const unknown = Object.keys(env).filter((name) => !(ENV_VARIABLES as readonly string[]).includes(name));
  expect(unknown, `${where} sets variables the app does not read`).toEqual([]);
  const report = runDoctor(env, { production: true });
  expect(report.ok, `${where}:\n${report.lines.filter((l) => l.startsWith('FAIL')).join('\n')}`).toBe(true);
}

describe('every YAML and JSON file in deploy/', () => {
  const files = deployFiles();

  it('parses', () => {
    const data = files.filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(data.length).toBeGreaterThanOrEqual(15);
    for (const file of data) {
      if (file.endsWith('.json')) expect(() => JSON.parse(readDeploy(file)), file).not.toThrow();
      else expect(yamlDocuments(file).length, file).toBeGreaterThan(0);
    }
  });

  it('holds no real secret: env examples leave every secret empty', () => {
    for (const file of files.filter((f) => /env\.example$/.test(f))) {
      for (const line of readDeploy(file).split('\n')) {
        const m = /^(LC_STATE_KEYS|LC_SESSION_SECRET|METRICS_TOKEN|HEALTH_TOKEN|POSTGRES_PASSWORD|REDIS_PASSWORD)=(.*)$/.exec(line);
        if (m) expect(m[2], `${file}: ${m[1]}`).toBe('');
      }
    }
  });
});

/**
 * A kustomize `envs:` file as kustomize reads it (api/kv): leading white space dropped, empty lines
 * and `#` lines skipped, the key up to the first `=`, the rest of the line verbatim (quotes included).
 */
function kustomizeEnvFile(text: string): Record<string, string> {
  const data: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=value: ${line}`);
    data[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return data;
}

describe('Kubernetes manifests', () => {
  const kustomization = yamlDocument('kubernetes/kustomization.yaml');
  const resources = list(kustomization, 'resources').map((r) => `kubernetes/${String(r)}`);
  const generators = record(kustomization).configMapGenerator === undefined ? [] : list(kustomization, 'configMapGenerator');
  const generatedFiles = generators.flatMap((g) => list(g, 'envs').map((f) => `kubernetes/${String(f)}`));
  // The ConfigMap as kustomize generates it (before the hash suffix is added to its name).
  const generated = generators.map((g) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: String(at(g, 'name')) },
    data: Object.assign({}, ...list(g, 'envs').map((f) => kustomizeEnvFile(readDeploy(`kubernetes/${String(f)}`)))) as Record<string, string>,
  }));
  const docs = [...resources.flatMap((f) => yamlDocuments(f)), ...generated];
  const ofKind = (kind: string) => {
    const found = docs.filter((d) => at(d, 'kind') === kind);
    if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
    return found[0];
  };
  const deployment = ofKind('Deployment');
  const selector = record(deployment, 'spec', 'selector', 'matchLabels');
  const podSpec = record(deployment, 'spec', 'template', 'spec');
  const container = record(podSpec, 'containers', 0);
  const portNamed = (name: string) => list(container, 'ports').find((p) => at(p, 'name') === name);

  it('kustomization uses every file of the folder: the manifests as resources, the settings through the generator', () => {
    expect([...resources, ...generatedFiles].sort()).toEqual(deployFiles('kubernetes/').filter((f) => f !== 'kubernetes/kustomization.yaml'));
  });

  it('the ConfigMap the pods read is generated (a hashed name), so a changed setting rolls the pods', () => {
    // envFrom is read only when a pod starts: a plain ConfigMap resource changes under running pods
    // and nothing restarts them. A generated one gets a new name, which changes the pod template.
    const listed = resources.flatMap((f) => yamlDocuments(f)).filter((d) => at(d, 'kind') === 'ConfigMap');
    expect(listed.map((d) => at(d, 'metadata', 'name')), 'a ConfigMap listed under resources').toEqual([]);
    const refs = list(container, 'envFrom').map((e) => at(e, 'configMapRef', 'name'));
    expect(refs).toEqual(generators.map((g) => at(g, 'name')));
    expect(kustomization).not.toHaveProperty('generatorOptions.disableNameSuffixHash', true);
    for (const g of generators) expect(g, String(at(g, 'name'))).not.toHaveProperty('options.disableNameSuffixHash', true);
  });

  it('a Deployment scaled by an HPA sets no spec.replicas (every apply would reset the count)', () => {
    const hpas = docs.filter((d) => at(d, 'kind') === 'HorizontalPodAutoscaler');
    expect(hpas.length).toBeGreaterThan(0);
    for (const hpa of hpas) {
      const target = record(hpa, 'spec', 'scaleTargetRef');
      const scaled = docs.filter((d) => at(d, 'kind') === target.kind && at(d, 'metadata', 'name') === target.name);
      expect(scaled.length, `the target of HPA ${String(at(hpa, 'metadata', 'name'))}`).toBe(1);
      expect(record(scaled[0], 'spec'), `${String(target.kind)} ${String(target.name)}`).not.toHaveProperty('replicas');
    }
  });

  it('Deployment: three probes on the app’s health routes, through the named http port', () => {
    const probes = {
      startupProbe: HEALTH_ROUTES.startup,
      livenessProbe: HEALTH_ROUTES.live,
      readinessProbe: HEALTH_ROUTES.ready,
    };
    for (const [probe, path] of Object.entries(probes)) {
      expect(at(container, probe, 'httpGet', 'path'), probe).toBe(path);
      expect(at(container, probe, 'httpGet', 'port'), probe).toBe('http');
    }
    expect(portNamed('http')).toBeDefined();
    const env = record(ofKind('ConfigMap'), 'data');
    expect(at(portNamed('http'), 'containerPort')).toBe(Number(env.PORT));
    expect(at(portNamed('metrics'), 'containerPort')).toBe(Number(env.METRICS_PORT));
  });

  it('Deployment: runs as non-root, read-only, without privileges', () => {
    expect(at(podSpec, 'securityContext', 'runAsNonRoot')).toBe(true);
    expect(at(podSpec, 'securityContext', 'runAsUser')).toBeGreaterThan(0);
    expect(at(container, 'securityContext', 'allowPrivilegeEscalation')).toBe(false);
    expect(at(container, 'securityContext', 'readOnlyRootFilesystem')).toBe(true);
    expect(list(container, 'securityContext', 'capabilities', 'drop')).toEqual(['ALL']);
    expect(at(podSpec, 'automountServiceAccountToken')).toBe(false);
  });

  it('Deployment: secrets come from a Secret by secretKeyRef, never from the ConfigMap or a literal', () => {
    const env = list(container, 'env');
    for (const name of ['LC_STATE_KEYS', 'LC_SESSION_SECRET', 'DATABASE_URL', 'REDIS_URL', 'METRICS_TOKEN', 'HEALTH_TOKEN']) {
      const entry = env.find((e) => at(e, 'name') === name);
      expect(entry, name).toBeDefined();
      expect(at(entry, 'valueFrom', 'secretKeyRef', 'key'), name).toBe(name);
      expect(entry, name).not.toHaveProperty('value');
      expect(record(ofKind('ConfigMap'), 'data'), name).not.toHaveProperty(name);
    }
  });

  it('Deployment: rolling updates never drop below the current capacity', () => {
    expect(at(deployment, 'spec', 'strategy', 'rollingUpdate', 'maxUnavailable')).toBe(0);
    const labels = record(deployment, 'spec', 'template', 'metadata', 'labels');
    expect(labels).toMatchObject(selector);
  });

  it('Service, PodDisruptionBudget and HPA target the Deployment’s pods', () => {
    expect(record(ofKind('Service'), 'spec', 'selector')).toEqual(selector);
    for (const port of list(ofKind('Service'), 'spec', 'ports')) {
      expect(portNamed(String(at(port, 'targetPort'))), `Service targetPort ${String(at(port, 'targetPort'))}`).toBeDefined();
    }
    const pdb = ofKind('PodDisruptionBudget');
    expect(at(pdb, 'apiVersion')).toBe('policy/v1');
    expect(record(pdb, 'spec', 'selector', 'matchLabels')).toEqual(selector);
    const hpa = ofKind('HorizontalPodAutoscaler');
    expect(at(hpa, 'apiVersion')).toBe('autoscaling/v2');
    expect(record(hpa, 'spec', 'scaleTargetRef')).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: at(deployment, 'metadata', 'name') });
    // A budget that needs as many pods as the minimum would block every node drain.
    expect(Number(at(pdb, 'spec', 'minAvailable'))).toBeLessThan(Number(at(hpa, 'spec', 'minReplicas')));
    expect(Number(at(hpa, 'spec', 'minReplicas'))).toBeGreaterThanOrEqual(2);
  });

  it('NetworkPolicy and Ingress use the Deployment’s labels and port names', () => {
    const policy = ofKind('NetworkPolicy');
    expect(record(policy, 'spec', 'podSelector', 'matchLabels')).toEqual(selector);
    for (const rule of list(policy, 'spec', 'ingress')) {
      for (const port of list(rule, 'ports')) expect(portNamed(String(at(port, 'port'))), String(at(port, 'port'))).toBeDefined();
    }
    const backend = at(ofKind('Ingress'), 'spec', 'rules', 0, 'http', 'paths', 0, 'backend', 'service');
    expect(at(backend, 'name')).toBe(at(ofKind('Service'), 'metadata', 'name'));
    expect(at(backend, 'port', 'name')).toBe('http');
  });

  it('the pod environment (ConfigMap + Secret) passes the production doctor', () => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(record(ofKind('ConfigMap'), 'data'))) env[k] = String(v);
    for (const entry of list(container, 'env')) env[String(at(entry, 'name'))] = SECRETS[String(at(entry, 'name'))] ?? '';
    expectProductionReady(env, 'kubernetes');
  });

  const HAVE_KUBECTL = haveOptionalTool('kubectl', ['version', '--client'], '`kubectl kustomize deploy/kubernetes`');

  it.skipIf(!HAVE_KUBECTL)('kubectl kustomize renders it: one ConfigMap with a hashed name, and the Deployment reads that name', () => {
    const result = run('kubectl', ['kustomize', `${DEPLOY}kubernetes`]);
    expect(result.status, result.stderr).toBe(0);
    const rendered = parseAllDocuments(result.stdout).map((d) => d.toJS() as unknown);
    const kinds = rendered.map((d) => String(at(d, 'kind'))).sort();
    expect(kinds).toEqual([...docs.map((d) => String(at(d, 'kind')))].sort());
    const maps = rendered.filter((d) => at(d, 'kind') === 'ConfigMap');
    expect(maps.length).toBe(1);
    const name = String(at(maps[0], 'metadata', 'name'));
    expect(name).toMatch(/^livecomponents-[a-z0-9]{10}$/);
    // kustomize reads config.properties as this test does.
    expect(record(maps[0], 'data')).toEqual(record(ofKind('ConfigMap'), 'data'));
    const dep = rendered.find((d) => at(d, 'kind') === 'Deployment');
    expect(list(dep, 'spec', 'template', 'spec', 'containers', 0, 'envFrom').map((e) => at(e, 'configMapRef', 'name'))).toEqual([name]);
    expect(record(dep, 'spec')).not.toHaveProperty('replicas');
    // The Secret is not generated: its references keep the plain name.
    for (const e of list(dep, 'spec', 'template', 'spec', 'containers', 0, 'env')) expect(at(e, 'valueFrom', 'secretKeyRef', 'name')).toBe('livecomponents');
  });
});

/** Compose's `${NAME}`, `${NAME:?message}` and `${NAME:-default}` against `vars`. */
function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g, (_m, name: string, kind?: string, arg?: string) => {
    const value = vars[name];
    if (value !== undefined && value !== '') return value;
    if (kind === '-') return arg ?? '';
    throw new Error(`compose needs ${name}: ${arg ?? ''}`);
  });
}

describe('compose file', () => {
  const compose = yamlDocument('compose.yml');
  const services = record(compose, 'services');
  const appServices = ['app1', 'app2'];

  it('runs two app instances, Redis, PostgreSQL and nginx', () => {
    expect(Object.keys(services).sort()).toEqual(['app1', 'app2', 'nginx', 'postgres', 'redis']);
  });

  it('gives both instances the same image, Redis and PostgreSQL, and publishes no app port', () => {
    for (const name of appServices) {
      const env = record(services, name, 'environment');
      expect(String(env.REDIS_URL), name).toMatch(/^redis:\/\/.*@redis:6379$/);
      expect(String(env.DATABASE_URL), name).toMatch(/^postgres:\/\/livecomponents:.*@postgres:5432\/livecomponents$/);
      expect(env.INSTANCES, name).toBe(String(appServices.length));
      expect(record(services, name, 'depends_on')).toEqual({ redis: { condition: 'service_healthy' }, postgres: { condition: 'service_healthy' } });
      expect(services[name], name).not.toHaveProperty('ports');
      expect(at(services, name, 'build', 'dockerfile')).toBe('deploy/Dockerfile');
    }
    expect(at(services, 'app1', 'environment')).toEqual(at(services, 'app2', 'environment'));
    expect(at(compose, 'networks', 'backend', 'internal')).toBe(true);
    for (const name of ['redis', 'postgres']) expect(list(services, name, 'healthcheck', 'test').length, name).toBeGreaterThan(1);
  });

  it('points nginx at the shipped template, both instances and their port', () => {
    const nginx = record(services, 'nginx');
    const env = record(nginx, 'environment');
    const port = String(at(services, 'app1', 'environment', 'PORT'));
    expect([env.LC_UPSTREAM_1, env.LC_UPSTREAM_2]).toEqual(appServices.map((s) => `${s}:${port}`));
    const template = list(nginx, 'volumes').map(String).find((v) => v.includes('livecomponents.conf.template'));
    const source = String(template).split(':')[0] as string;
    expect(existsSync(`${DEPLOY}${source}`), source).toBe(true);
    expect(String(template)).toContain(':/etc/nginx/templates/');
    expect(env.NGINX_ENVSUBST_FILTER).toBe('^LC_');
  });

  it('the app environment, filled from deploy/.env, passes the production doctor', () => {
    const raw = record(services, 'app1', 'environment');
    const env = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, interpolate(String(v), SECRETS)]));
    expectProductionReady(env, 'compose');
    // Every variable it needs from deploy/.env is listed in env.example.
    const needed = new Set([...readDeploy('compose.yml').matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]));
    const listed = new Set([...readDeploy('env.example').matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect([...needed].filter((n) => !listed.has(n))).toEqual([]);
  });
});

describe('systemd environment', () => {
  it('unit Environment= plus the env example, secrets filled in, passes the production doctor', () => {
    const unit = readDeploy('systemd/livecomponents@.service');
    const env: Record<string, string> = {};
    for (const m of unit.matchAll(/^Environment=(.*)$/gm)) {
      for (const pair of (m[1] as string).split(/\s+/)) {
        const [k, ...v] = pair.split('=');
        env[k as string] = v.join('=').replace('%i', '3001');
      }
    }
    for (const m of readDeploy('systemd/livecomponents.env.example').matchAll(/^([A-Z0-9_]+)=(.*)$/gm)) {
      env[m[1] as string] = (m[2] as string) || (SECRETS[m[1] as string] ?? '');
    }
    expect(env.PORT).toBe('3001');
    expectProductionReady(env, 'systemd');
  });
});

describe('monitoring files use the metrics the app exports', () => {
  const exported = (async () => {
    const metrics = createMetrics();
    return new Set([...exposedSeriesNames(await metrics.render()), 'up']);
  })();
  const dashboard = JSON.parse(readDeploy('grafana/livecomponents-dashboard.json')) as unknown;
  const panels = list(dashboard, 'panels').filter((p) => at(p, 'type') !== 'row');
  const dashboardExprs = panels.flatMap((p) => list(p, 'targets').map((t) => String(at(t, 'expr'))));
  const rules = list(yamlDocument('prometheus/alerts.yml'), 'groups').flatMap((g) => list(g, 'rules'));
  const alertExprs = rules.map((r) => String(at(r, 'expr')));

  it('reads metric names and matchers out of PromQL', () => {
    const expr = 'histogram_quantile(0.95, sum by (le, job) (rate(a_bucket{job="x", route!~"/h.*"}[5m]))) / on(job) group_left b + time() - c offset 5m';
    expect(metricNames(expr).sort()).toEqual(['a_bucket', 'b', 'c']);
    expect(labelMatchers(expr)).toEqual([
      { label: 'job', op: '=', value: 'x' },
      { label: 'route', op: '!~', value: '/h.*' },
    ]);
    expect(exposedSeriesNames('# TYPE h histogram\n# TYPE c counter\n')).toEqual(new Set(['h', 'h_bucket', 'h_sum', 'h_count', 'c']));
  });

  it('every dashboard panel has a query, on the templated data source', () => {
    expect(panels.length).toBeGreaterThanOrEqual(10);
    for (const panel of panels) {
      expect(list(panel, 'targets').length, String(at(panel, 'title'))).toBeGreaterThan(0);
      expect(at(panel, 'datasource', 'uid'), String(at(panel, 'title'))).toBe('${datasource}');
    }
  });

  it('dashboard and alerts select only exported series, and show every metric of the app’s own', async () => {
    const names = await exported;
    for (const expr of [...dashboardExprs, ...alertExprs]) {
      expect(metricNames(expr).filter((n) => !names.has(n)), expr).toEqual([]);
    }
    const used = new Set([...dashboardExprs, ...alertExprs].flatMap(metricNames));
    for (const name of Object.values(METRIC_NAMES)) {
      expect([...used].some((u) => u === name || u === `${name}_bucket`), name).toBe(true);
    }
  });

  it('label values they match exactly are ones the app emits', () => {
    const outcomes = new Set(['ok', ...Object.keys(ERROR_CODES)]);
    const events = new Set<string>(SECURITY_EVENTS);
    const jobs = list(yamlDocument('prometheus/prometheus.yml'), 'scrape_configs').map((c) => at(c, 'job_name'));
    for (const expr of [...dashboardExprs, ...alertExprs]) {
      for (const m of labelMatchers(expr)) {
        if (m.op !== '=') continue;
        if (m.label === 'outcome') expect(outcomes.has(m.value), `${m.value} in ${expr}`).toBe(true);
        if (m.label === 'event') expect(events.has(m.value), `${m.value} in ${expr}`).toBe(true);
        if (m.label === 'job') expect(jobs, expr).toContain(m.value);
      }
    }
  });

  it('every security event shows in a dashboard panel', () => {
    const shown = new Set<string>();
    for (const expr of dashboardExprs) {
      const names = metricNames(expr);
      const candidates = names.includes(METRIC_NAMES.securityEvents)
        ? SECURITY_EVENTS
        : names.includes(METRIC_NAMES.authEvents)
          ? SECURITY_EVENTS.filter((e) => e.startsWith('authn_'))
          : [];
      const eventMatchers = labelMatchers(expr).filter((m) => m.label === 'event');
      for (const event of candidates) if (eventMatchers.every((m) => matches(m, event))) shown.add(event);
    }
    expect(SECURITY_EVENTS.filter((e) => !shown.has(e))).toEqual([]);
  });

  it('every alert has a severity, a summary and a description', () => {
    expect(rules.length).toBeGreaterThanOrEqual(10);
    for (const rule of rules) {
      expect(['critical', 'warning'], String(at(rule, 'alert'))).toContain(at(rule, 'labels', 'severity'));
      expect(String(at(rule, 'annotations', 'summary')).length).toBeGreaterThan(10);
      expect(String(at(rule, 'annotations', 'description')).length).toBeGreaterThan(10);
    }
  });
});

/** Whether a label value passes one PromQL matcher (regexes are anchored, as in PromQL). */
function matches(m: LabelMatcher, value: string): boolean {
  if (m.op === '=') return value === m.value;
  if (m.op === '!=') return value !== m.value;
  const full = new RegExp(`^(?:${m.value})$`).test(value);
  return m.op === '=~' ? full : !full;
}
