/**
 * The `status_code` label. A handler may answer any status from 100 to 599 (Fastify's `reply.code`
 * range, and more through `reply.raw`), some taken from the request (`reply.code(Number(query.c))`):
 * as it was, each became a series of its own per method and route, up to 500 per route, which a
 * client could create at will. A status Node knows (`http.STATUS_CODES`: 200, 404, 418, 503…) and
 * 499 (`CLIENT_CLOSED_REQUEST`) keep their own value; any other integer from 100 to 999 is counted
 * under its class (`4xx` for 420, `5xx` for 555): still matched by `status_code=~"5.."` alerts, so
 * a 5xx-rate alert keeps counting it. Anything else is `other` (Node sends none of those).
 */
import { STATUS_CODES } from 'node:http';
import { CLIENT_CLOSED_REQUEST, OTHER_STATUS } from './names.js';

/**
 * Read once, at load: an app or library adding to `STATUS_CODES` later adds no label value, so the
 * set of series cannot grow while the process runs.
 */
const OWN_LABEL_STATUSES: ReadonlySet<number> = new Set([...Object.keys(STATUS_CODES).map(Number), CLIENT_CLOSED_REQUEST]);

/** `"404"`, `"499"`; `"4xx"` for a status Node does not name; `"other"` for no status at all. */
export function statusCodeLabel(statusCode: number): string {
  if (OWN_LABEL_STATUSES.has(statusCode)) return String(statusCode);
  if (Number.isInteger(statusCode) && statusCode >= 100 && statusCode <= 999) return `${Math.floor(statusCode / 100)}xx`;
  return OTHER_STATUS;
}
