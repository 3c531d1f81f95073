/**
 * Just enough PromQL reading for the deployment tests: the metric names an expression selects and
 * its label matchers. Syntax itself is checked by promtool (test/deploy/prometheus.test.ts).
 */

const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan',
]);

export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** Replaces Grafana's variables with values PromQL accepts, so Grafana queries can be checked. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$instance', '.*');
}

/** The label matchers of every selector in `expr`, in order. */
export function labelMatchers(expr: string): LabelMatcher[] {
  const found: LabelMatcher[] = [];
  for (const block of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const m of (block[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      found.push({ label: m[1] as string, op: m[2] as LabelMatcher['op'], value: m[3] as string });
    }
  }
  return found;
}

/** The metric names `expr` selects (functions, keywords, labels and durations left out). */
export function metricNames(expr: string): string[] {
  const bare = withoutGrafanaVariables(expr)
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const name = m[1] as string;
    if (m[2] !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/**
 * Every series name a Prometheus exposition text declares (`# TYPE` lines), with the `_bucket`,
 * `_sum` and `_count` series of histograms and summaries.
 */
export function exposedSeriesNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return names;
}
