/**
 * The security logger's sweep timer (src/ops/log-flood.ts) when a summary fails to write (a full
 * disk, the destination throwing): the windows left are summarised by a later sweep, not left until
 * the next refusal line or the close (their clients' request lines held all that time).
 */
import { expect, it } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import { createSecurityLogger, type EventLogger } from '../../src/ops/security-logger.js';
import { refusal } from '../ops/flood-events.js';
import { waitUntil } from '../helpers/wait-until.js';

it('a summary the timer fails to write leaves the other windows to the next sweep, which writes them', async () => {
  let failures = 0;
  const written: Record<string, unknown>[] = [];
  const keep = (fields: object): void => {
    const line = { ...fields } as Record<string, unknown>;
    // The first summary fails; the disk has room again for the next.
    if (failures === 0 && line['suppressed'] !== undefined) {
      failures++;
      throw new Error('ENOSPC');
    }
    written.push(line);
  };
  const logger: EventLogger = { info: keep, warn: keep, error: keep };
  const clock = manualClock();
  const events = createSecurityLogger({ logger, clock, floodLimit: { linesPerWindow: 1, windowMs: 1 } });
  // Two clients, each a window with 4 lines counted (the clock stands still: the windows stay open).
  for (const ip of ['203.0.113.7', '198.51.100.9']) for (let i = 0; i < 5; i++) events.emit(refusal(ip, i));
  clock.advance(2);
  // The timer's sweep: the first summary throws (caught there).
  await waitUntil('the first summary to fail', () => failures === 1);
  // No further line: only a timer can write the second window's summary.
  await waitUntil('the second summary', () => written.some((l) => l['suppressed'] !== undefined), { seen: () => written.length });
  expect(written.filter((l) => l['suppressed'] !== undefined)).toMatchObject([{ suppressed: 4, suppressed_client: '198.51.100.9' }]);
  events.close();
});
