/**
 * `otlp:http://HOST:4318`: batches records and POSTs them as OTLP/HTTP JSON to `/v1/logs`.
 *
 * Hand-written over `fetch` rather than `@opentelemetry/sdk-logs` + `exporter-logs-otlp-http`:
 * those are 0.x (experimental) packages that bring the SDK's provider/processor machinery and
 * several dependencies for what is here one JSON mapping (otlp-format.ts) and one batching loop.
 * The wire format (OTLP 1.x, JSON encoding) is stable, so this cannot drift from the SDK.
 *
 * Batching: a POST when `maxBatch` records are waiting, every `intervalMs`, on `flush` and on
 * `close`. Retryable failures (network, 429, 502, 503, 504) keep the records for the next round,
 * up to `maxQueued`; other answers drop the batch. Problems go to `onError` once per outage.
 */
import { hostname } from 'node:os';
import { urlForMessage } from '../config-fields.js';
import { timerOption, wholeOption } from './destination.js';
import { exportRequest, toOtlpLogRecord, type OtlpLogRecord, type OtlpResource } from './otlp-format.js';
import { parseLine } from './record.js';
import type { DeliveryReport, LogSink } from './sink.js';

export interface OtlpLogOptions {
  /** Records per POST; reaching it sends at once. @default 512 */
  maxBatch?: number;
  /** Longest a record waits before being sent, in ms, at most 2^31 − 1 (a timer's limit). @default 1_000 */
  intervalMs?: number;
  /** Records kept while the collector is unreachable; beyond it the oldest are dropped. @default 10_000 */
  maxQueued?: number;
  /** Per-request timeout, in ms, at most 2^31 − 1 (a timer's limit). @default 10_000 */
  timeoutMs?: number;
  /**
   * Longest `close()` waits for the POST under way and a last one; then they are abandoned (and what
   * they carried counts as dropped). Below a shutdown's grace period, so a collector that accepts but
   * never answers cannot hold the exit. In ms, at most 2^31 − 1 (a timer's limit). @default 5_000
   */
  closeTimeoutMs?: number;
  /** Extra request headers (e.g. an authorization header some collectors need). @default {} */
  headers?: Record<string, string>;
  /** Injected for tests and proxies. @default globalThis.fetch */
  fetch?: typeof fetch;
}

const RETRYABLE = new Set([429, 502, 503, 504]);

/**
 * `https://user:pw@collector/…` as the URL to POST to and an `Authorization: Basic` header: `fetch`
 * refuses a URL holding credentials (every record was dropped), and collectors behind basic auth
 * take them as that header. An `authorization` in `options.headers` wins.
 */
function splitCredentials(url: string): { endpoint: string; authorization: Record<string, string> } {
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return { endpoint: url, authorization: {} };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { endpoint: parsed.toString(), authorization: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } };
}
const SCOPE = 'livecomponents';

export function createOtlpSink(url: string, serviceName: string, options: OtlpLogOptions, { onError, onDropped }: DeliveryReport): LogSink {
  const maxBatch = wholeOption('otlp.maxBatch', options.maxBatch, 512);
  const maxQueued = Math.max(wholeOption('otlp.maxQueued', options.maxQueued, 10_000), maxBatch);
  const timeoutMs = timerOption('otlp.timeoutMs', options.timeoutMs, 10_000);
  const closeTimeoutMs = timerOption('otlp.closeTimeoutMs', options.closeTimeoutMs, 5_000);
  /** Aborted when `close` has waited `closeTimeoutMs`: ends the POST under way at once. */
  const closeAbort = new AbortController();
  const intervalMs = timerOption('otlp.intervalMs', options.intervalMs, 1_000);
  const doFetch = options.fetch ?? globalThis.fetch;
  const { endpoint, authorization } = splitCredentials(url);
  const own = options.headers ?? {};
  const headers = { 'content-type': 'application/json', ...(Object.keys(own).some((name) => name.toLowerCase() === 'authorization') ? {} : authorization), ...own };
  /** The URL as messages show it: no credentials, no query (`?api_key=`); they go to stderr. */
  const label = urlForMessage(url);
  const resource: OtlpResource = { serviceName, hostName: hostname(), pid: process.pid };
  const queue: OtlpLogRecord[] = [];
  let failing = false;
  let dropReported = false;
  let closing: Promise<void> | undefined;
  let sizeDrainQueued = false;
  /** Exports run one after another, so records arrive in order and a flush waits for all before it. */
  let chain: Promise<boolean> = Promise.resolve(true);
  /** Drains queued on `chain` and not finished yet. */
  let pending = 0;

  // A tick while a drain is still pending adds nothing: a collector that takes up to `timeoutMs` to
  // fail would otherwise pile up one waiting drain per interval (~78,000 a day of outage), and `close`
  // would wait for all of them.
  const timer = setInterval(() => {
    if (pending === 0) void drain();
  }, intervalMs);
  timer.unref();

  function report(error: Error): void {
    if (!failing) onError(error);
    failing = true;
  }

  /** POSTs one batch. True when the batch is done with (sent, or refused for good). */
  async function send(batch: OtlpLogRecord[]): Promise<boolean> {
    try {
      const res = await doFetch(endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(exportRequest(batch, resource, SCOPE)),
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), closeAbort.signal]),
      });
      const text = await res.text();
      if (res.ok) {
        failing = false;
        dropReported = false;
        const rejected = Math.min(partialRejections(text), batch.length);
        if (rejected > 0) {
          onError(new Error(`otlp ${label}: collector rejected ${rejected} log record(s)`));
          onDropped(rejected);
        }
        return true;
      }
      report(new Error(`otlp ${label}: HTTP ${res.status}`));
      if (RETRYABLE.has(res.status)) return false;
      onDropped(batch.length); // refused for good: sending it again would be refused again
      return true;
    } catch (error) {
      report(new Error(`otlp ${label}: ${(error as Error).message}`, { cause: error }));
      return false;
    }
  }

  /** Sends everything queued, batch by batch; stops at the first retryable failure. */
  function drain(): Promise<boolean> {
    pending++;
    chain = chain.then(async () => {
      try {
        while (queue.length > 0) {
          const batch = queue.splice(0, maxBatch);
          if (!(await send(batch))) {
            queue.unshift(...batch);
            trim();
            return false;
          }
        }
        return true;
      } finally {
        pending--;
      }
    });
    return chain;
  }

  function trim(): void {
    if (queue.length <= maxQueued) return;
    onDropped(queue.splice(0, queue.length - maxQueued).length);
    if (!dropReported) onError(new Error(`otlp ${label}: queue full, dropping the oldest log records`));
    dropReported = true;
  }

  return {
    write(line) {
      if (closing !== undefined) return;
      queue.push(toOtlpLogRecord(parseLine(line), Date.now()));
      trim();
      // During an outage only the interval retries, so a busy server does not hammer a dead collector.
      if (queue.length >= maxBatch && !failing && !sizeDrainQueued) {
        sizeDrainQueued = true;
        void drain().finally(() => (sizeDrainQueued = false));
      }
    },
    flush(cb) {
      void drain().then((ok) => cb(ok ? undefined : new Error(`otlp ${label}: records still queued`)));
    },
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        // Not unref'd: a process whose server has closed would otherwise end while this waits.
        const giveUp = setTimeout(() => closeAbort.abort(new Error(`close gave up after ${closeTimeoutMs} ms`)), closeTimeoutMs);
        // What is under way finishes (within closeTimeoutMs); then one more attempt, unless the last one
        // just failed and could be retried (an outage: a last try would only wait again).
        const ok = (await chain) ? await drain() : queue.length === 0;
        clearTimeout(giveUp);
        if (!ok) {
          onError(new Error(`otlp ${label}: closed with ${queue.length} log record(s) undelivered`));
          onDropped(queue.length);
        }
        queue.length = 0;
      })();
      return closing;
    },
  };
}

/** `ExportLogsServiceResponse.partialSuccess.rejectedLogRecords`, 0 when absent. */
function partialRejections(text: string): number {
  try {
    const body = JSON.parse(text) as { partialSuccess?: { rejectedLogRecords?: number | string } };
    return Number(body.partialSuccess?.rejectedLogRecords ?? 0) || 0;
  } catch {
    return 0;
  }
}
