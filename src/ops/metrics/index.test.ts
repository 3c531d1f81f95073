import { register as globalRegistry, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SECURITY_EVENTS, type SecurityEvent } from '../security-events.js';
import { createMetrics, METRIC_NAMES, type Metrics } from './index.js';

/** The samples of one metric, as `labels → value` (labels in a stable text form). */
async function samples(metrics: Metrics, name: string): Promise<Map<string, number>> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return new Map(values.map((v) => [JSON.stringify(v.labels), v.value]));
}

const event = (name: string): SecurityEvent => ({ event: name as SecurityEvent['event'], level: 'WARN', description: 'test' });

describe('createMetrics', () => {
  it('fills a registry of its own, never prom-client global one', async () => {
    const before = (await globalRegistry.getMetricsAsJSON()).length;
    const a = createMetrics();
    const b = createMetrics();
    a.observeHttp('GET', '/x', 200, 0.01);
    expect(a.registry).not.toBe(b.registry);
    expect(a.registry).not.toBe(globalRegistry);
    expect((await samples(a, METRIC_NAMES.httpRequests)).size).toBe(1);
    expect((await samples(b, METRIC_NAMES.httpRequests)).size).toBe(0);
    expect((await globalRegistry.getMetricsAsJSON()).length).toBe(before);
  });

  it('collects the default metrics, without the gauges prom-client names like counters', async () => {
    const text = await createMetrics().render();
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    expect(text).toContain('# TYPE nodejs_active_handles gauge');
    expect(text).not.toMatch(/^# TYPE \w+_total gauge$/m);
    expect(await createMetrics({ defaultMetrics: false }).render()).not.toContain('process_cpu');
  });

  it('uses the given registry and prefixes every name', async () => {
    const registry = new Registry();
    const metrics = createMetrics({ registry, prefix: 'shop_' });
    expect(metrics.registry).toBe(registry);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('shop_http_requests_total');
    expect(names).toContain('shop_process_cpu_seconds_total');
    expect(names.every((n) => n.startsWith('shop_'))).toBe(true);
  });

  it.each([['1abc'], ['with-dash_'], [42]])('refuses the prefix %j with LC_INVALID_OPTION', (prefix) => {
    expect(() => createMetrics({ prefix: prefix as string })).toThrow(expect.objectContaining({ code: 'LC_INVALID_OPTION' }));
  });

  it('refuses a registry that is not a prom-client Registry', () => {
    expect(() => createMetrics({ registry: {} as Registry })).toThrow(/registry must be a prom-client Registry/);
  });
});

describe('observeHttp', () => {
  it('labels method, route template and status code; unmatched and odd methods are bounded', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.observeHttp('GET', '/items/:id', 200, 0.002);
    metrics.observeHttp('GET', '/items/:id', 200, 0.004);
    metrics.observeHttp('POST', null, 404, 0.001);
    metrics.observeHttp('PROPFIND', null, 404, 0.001);
    expect(await samples(metrics, METRIC_NAMES.httpRequests)).toEqual(
      new Map([
        ['{"method":"GET","route":"/items/:id","status_code":"200"}', 2],
        ['{"method":"POST","route":"unmatched","status_code":"404"}', 1],
        ['{"method":"OTHER","route":"unmatched","status_code":"404"}', 1],
      ]),
    );
    const text = await metrics.render();
    const labels = 'method="GET",route="/items/:id",status_code="200"';
    expect(text).toContain(`http_request_duration_seconds_bucket{le="0.005",${labels}} 2\n`);
    expect(text).toContain(`http_request_duration_seconds_count{${labels}} 2\n`);
    expect(text).toContain(`http_request_duration_seconds_sum{${labels}} 0.006\n`);
  });
});

describe('countUnroutedRequest', () => {
  it('counts under route unmatched with a bounded method, and times nothing', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.countUnroutedRequest('GET', 400);
    metrics.countUnroutedRequest(null, 431);
    metrics.countUnroutedRequest('FOO', 400);
    expect(await samples(metrics, METRIC_NAMES.httpRequests)).toEqual(
      new Map([
        ['{"method":"GET","route":"unmatched","status_code":"400"}', 1],
        ['{"method":"OTHER","route":"unmatched","status_code":"431"}', 1],
        ['{"method":"OTHER","route":"unmatched","status_code":"400"}', 1],
      ]),
    );
    expect((await samples(metrics, METRIC_NAMES.httpRequestDuration)).size).toBe(0);
  });
});

describe('observeAction', () => {
  it('counts by component, action and outcome, and observes seconds', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.observeAction({ component: 'counter', action: 'increment', outcome: 'ok', durationMs: 3 });
    metrics.observeAction({ component: 'counter', action: 'increment', outcome: 'ok', durationMs: 7 });
    metrics.observeAction({ component: 'counter', action: 'increment', outcome: 'RATE_LIMIT_EXCEEDED', durationMs: 1 });
    metrics.observeAction({ component: 'payment', action: 'processPayment', outcome: 'user 42 did something', durationMs: 1 });
    expect(await samples(metrics, METRIC_NAMES.actions)).toEqual(
      new Map([
        ['{"component":"counter","action":"increment","outcome":"ok"}', 2],
        ['{"component":"counter","action":"increment","outcome":"RATE_LIMIT_EXCEEDED"}', 1],
        ['{"component":"payment","action":"processPayment","outcome":"unknown"}', 1],
      ]),
    );
    const text = await metrics.render();
    const ok = 'component="counter",action="increment",outcome="ok"';
    expect(text).toContain(`livecomponents_action_duration_seconds_sum{${ok}} 0.01\n`);
    expect(text).toContain(`livecomponents_action_duration_seconds_count{${ok}} 2\n`);
    expect(text).toContain(`livecomponents_action_duration_seconds_bucket{le="0.005",${ok}} 1\n`);
    expect(text).toContain(`livecomponents_action_duration_seconds_bucket{le="0.01",${ok}} 2\n`);
  });
});

describe('countSecurityEvent', () => {
  it('starts every known event at 0 and counts authn_* in the auth counter too', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const authn = SECURITY_EVENTS.filter((e) => e.startsWith('authn_'));
    expect([...(await samples(metrics, METRIC_NAMES.securityEvents)).values()]).toEqual(SECURITY_EVENTS.map(() => 0));
    expect([...(await samples(metrics, METRIC_NAMES.authEvents)).keys()]).toEqual(authn.map((e) => JSON.stringify({ event: e })));

    metrics.countSecurityEvent(event('malicious_csrf'));
    metrics.countSecurityEvent(event('authn_login_fail'));
    metrics.countSecurityEvent(event('authn_login_fail'));
    metrics.countSecurityEvent(event('not_a_known_event'));

    const security = await samples(metrics, METRIC_NAMES.securityEvents);
    expect(security.size).toBe(SECURITY_EVENTS.length);
    expect(security.get('{"event":"malicious_csrf"}')).toBe(1);
    expect(security.get('{"event":"authn_login_fail"}')).toBe(2);
    expect([...security.values()].reduce((a, b) => a + b, 0)).toBe(3);
    const auth = await samples(metrics, METRIC_NAMES.authEvents);
    expect(auth.size).toBe(authn.length);
    expect(auth.get('{"event":"authn_login_fail"}')).toBe(2);
    expect([...auth.values()].reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('leaves out an event logged with counted: false (one only an existing account causes), in both counters', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.countSecurityEvent({ ...event('authn_token_created'), counted: false });
    metrics.countSecurityEvent({ ...event('excess_rate_limit_exceeded'), counted: false });
    metrics.countSecurityEvent({ ...event('authn_token_created'), counted: true });
    expect((await samples(metrics, METRIC_NAMES.securityEvents)).get('{"event":"authn_token_created"}')).toBe(1);
    expect((await samples(metrics, METRIC_NAMES.securityEvents)).get('{"event":"excess_rate_limit_exceeded"}')).toBe(0);
    expect((await samples(metrics, METRIC_NAMES.authEvents)).get('{"event":"authn_token_created"}')).toBe(1);
  });
});

describe('droppedLogRecords', () => {
  it('reads the running total at each scrape and counts only what was added since', async () => {
    let total = 0;
    const metrics = createMetrics({ defaultMetrics: false, droppedLogRecords: () => total });
    const value = async (): Promise<number | undefined> => (await samples(metrics, METRIC_NAMES.logRecordsDropped)).get('{}');
    expect(await value()).toBe(0);
    total = 7;
    expect(await value()).toBe(7);
    expect(await value()).toBe(7); // a second scrape adds nothing
    total = 9;
    expect(await value()).toBe(9);
    expect(await metrics.render()).toContain(`# TYPE ${METRIC_NAMES.logRecordsDropped} counter\n${METRIC_NAMES.logRecordsDropped} 9`);
  });

  it('is 0 without a reader, and refuses a reader that is not a function', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect((await samples(metrics, METRIC_NAMES.logRecordsDropped)).get('{}')).toBe(0);
    expect(() => createMetrics({ droppedLogRecords: 3 as unknown as () => number })).toThrow(/droppedLogRecords must be a function/);
  });
});

describe('clock skew', () => {
  it('exposes the last reading per service, signed, in seconds; no sample before a service was read', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const name = METRIC_NAMES.clockSkew;
    expect(name).toBe('livecomponents_clock_skew_seconds');
    expect(await metrics.render()).toContain(`# TYPE ${name} gauge\n`);
    expect(await metrics.render()).not.toMatch(new RegExp(`^${name}\\{`, 'm'));
    const observe = metrics.observeClockSkew;
    observe('redis', 0.25);
    observe('postgresql', -86_400.5);
    observe('redis', 1.5);
    const text = await metrics.render();
    expect(text.split('\n').filter((l) => l.startsWith(`${name}{`))).toEqual([`${name}{service="redis"} 1.5`, `${name}{service="postgresql"} -86400.5`]);
  });
});
