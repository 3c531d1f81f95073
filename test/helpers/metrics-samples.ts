/** What the HTTP metrics of `createMetrics` hold, read back for tests. */
import { METRIC_NAMES, type Metrics } from '../../src/ops/metrics/index.js';

/** `http_requests_total` and the duration histogram's `_count`, each as `method route status_code → value`. */
export async function httpSamples(metrics: Metrics): Promise<{ requests: Record<string, number>; timed: Record<string, number> }> {
  const key = (l: Record<string, unknown>) => `${String(l.method)} ${String(l.route)} ${String(l.status_code)}`;
  const requests = (await metrics.registry.getSingleMetric(METRIC_NAMES.httpRequests)!.get()).values;
  const duration = (await metrics.registry.getSingleMetric(METRIC_NAMES.httpRequestDuration)!.get()).values as { metricName?: string; labels: Record<string, unknown>; value: number }[];
  return {
    requests: Object.fromEntries(requests.map((v) => [key(v.labels), v.value])),
    timed: Object.fromEntries(duration.filter((v) => v.metricName?.endsWith('_count')).map((v) => [key(v.labels), v.value])),
  };
}
