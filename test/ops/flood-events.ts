/** What the security logger's flood tests share: a recorder standing for pino, and a refusal event. */
import type { SecurityEvent } from '../../src/ops/security-events.js';
import type { EventLogger } from '../../src/ops/security-logger.js';

export interface Written {
  fields: Record<string, unknown>;
  msg: string;
}

/** An EventLogger keeping what it was given. */
export function recorder(): EventLogger & { lines: Written[] } {
  const lines: Written[] = [];
  const keep = (fields: object, msg: string): void => void lines.push({ fields: { ...fields } as Record<string, unknown>, msg });
  return { lines, info: keep, warn: keep, error: keep };
}

export const refusal = (ip: string, i = 0, event: SecurityEvent['event'] = 'excess_rate_limit_exceeded'): SecurityEvent => ({
  event,
  level: 'WARN',
  description: `Rate limit of 60 per 60 s exceeded on counter.increment by an anonymous client (${i})`,
  request: { ip, method: 'POST', url: '/api/livecomponents/action', headers: { 'user-agent': 'flood/1' }, requestId: `req-${i}` },
});

/** The summary lines among `lines`. */
export const summaries = (lines: Written[]): Written[] => lines.filter((l) => l.fields['suppressed'] !== undefined);
