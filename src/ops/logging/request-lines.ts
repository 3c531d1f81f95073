/**
 * Fastify's own request lines (`incoming request`, `request completed`) under the security
 * logger's flood limit (log-flood.ts, one mechanism for both). A request whose refusal line the
 * limit did not write (a 403 `malicious_csrf`, a 429 `excess_rate_limit_exceeded`, …: the
 * `summarised` events) does not get its request lines written either; they are counted, and the
 * summary of the refusal's window says how many (`request_lines_suppressed`). Without it 2,000
 * refusals from one client wrote 11 security lines but still 4,000 request lines, half the bytes.
 *
 * `incoming request` is written before any refusal, so it is held back by client: while a client's
 * refusals are being counted (it has a window that did not write its last line), its incoming lines
 * wait for the request's end: dropped with the completed line when the request was refused too
 * (its answer an error status, or none), else written then, just before the completed line (same
 * fields, a later `time`); a request ending without a completed line (cut, or answered by Fastify's
 * `frameworkErrors`) has it written, or counted, when its answer closes.
 *
 * Hot path: while no client anywhere is being counted, each request line costs one compare of a
 * module counter more than Fastify's controller; no Map lookup and no allocation. Only then does a
 * line look its request up (a WeakSet keyed by the request's headers object, which only the
 * request holds: a client cannot name another request, as it could with a request id it chose).
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { destinationOf } from './sink.js';

/** Counted request lines of one client (or, past the tracked limit, of all those clients). */
export interface QuietClient {
  /** Open while some window of the client counts lines; closed, its requests' lines are written again. */
  open: boolean;
  /** Request lines not written since the last summary that took the count. */
  suppressed: number;
  /** Events whose window for this client is counting (it closes when the last is summarised). */
  readonly events: Set<string>;
  /** Its gate's request lines (shared by the gate's clients). */
  readonly lines: GateLines;
}

/** What is known of the request lines written to a gate's destination. */
export interface GateLines {
  /**
   * A `FloodLogController` handled one of them while a client was counted (held it, or saw a marked
   * request end). Until then summaries do not count request lines: an app with Fastify's own
   * controller writes them all, whatever other server of the process made a `FloodLogController`.
   */
  controlled: boolean;
}

/** The request lines of the loggers writing to one destination: what the security logger marks. */
export interface RequestLineGate {
  /** Marks the request (by its headers object) whose refusal line was counted: its lines are too. */
  quiet(headers: object, client: string | undefined, event: string): QuietClient;
  /**
   * A window of `event` for `client` was summarised: the lines counted so far, taken (`undefined`
   * while no `FloodLogController` handled a line of this destination: Fastify writes them all); the
   * client reopened when no window of it counts.
   */
  release(client: string | undefined, event: string): number | undefined;
  /** Forgets every client (the security logger closed): their lines are written again. */
  close(): void;
}

/** Clients with counting windows, over all gates (the shared entry past the tracked limit too). */
let openClients = 0;
/**
 * Incoming lines held and not yet written or dropped. Both 0, every line takes Fastify's path. A
 * held request that never reaches `requestCompleted` (cut before its answer, or answered through
 * `frameworkErrors`) is taken off by its answer's `close`, its line written or counted there, else
 * such requests would keep every other request on the slow path for good.
 */
let heldLines = 0;
/** Refused requests whose lines are counted, to the client they count for. Weak: an aborted request leaves nothing behind. */
const marked = new WeakMap<object, QuietClient>();
/** Requests whose incoming line was held back. */
const held = new WeakSet<object>();
const gates = new WeakMap<object, { clients: Map<string, QuietClient>; keyOf: (ip: string) => string; lines: GateLines }>();
/** The client key of overflowed clients (past `maxClients`), whose incoming lines are never held (they could be anyone). */
const ALL = '\u0000all';

/**
 * The gate of `logger`'s destination (the security logger's `logger`, sharing it with Fastify's
 * request loggers), or `undefined` for a logger without one (nothing can then be matched).
 * `keyOf` maps a request's `ip` to the client key the flood limit uses.
 */
export function requestLineGate(logger: object, keyOf: (ip: string) => string): RequestLineGate | undefined {
  const stream = destinationOf(logger);
  if (typeof stream !== 'object' || stream === null) return undefined;
  const clients = new Map<string, QuietClient>();
  const lines: GateLines = { controlled: false };
  gates.set(stream, { clients, keyOf, lines });
  const forget = (key: string, c: QuietClient): void => {
    c.open = false;
    clients.delete(key);
    openClients--;
  };
  return {
    quiet(headers, client, event) {
      const key = client ?? ALL;
      let c = clients.get(key);
      if (c === undefined) {
        clients.set(key, (c = { open: true, suppressed: 0, events: new Set(), lines }));
        openClients++;
      }
      c.events.add(event);
      marked.set(headers, c);
      return c;
    },
    release(client, event) {
      const key = client ?? ALL;
      const c = clients.get(key);
      let n = 0;
      if (c !== undefined) {
        n = c.suppressed;
        c.suppressed = 0;
        c.events.delete(event);
        if (c.events.size === 0) forget(key, c);
      }
      return lines.controlled ? n : undefined;
    },
    close() {
      for (const [key, c] of clients) forget(key, c);
      if (gates.get(stream)?.clients === clients) gates.delete(stream);
    },
  };
}

/**
 * Fastify's log controller with the flood limit on request lines; pass it as `logController` (with
 * the same `requestIdLogLabel`). Behaves as Fastify's own for every request while no client is
 * being counted.
 */
export class FloodLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    // A request whose line is not written anyway (`disableRequestLogging`, a route's `logLevel`
    // above info) has nothing to hold or count.
    if (openClients !== 0 && !this.isLogDisabled(request) && writes(request.log, 'info') && holdIncoming(this, request, reply)) return;
    super.incomingRequest(request, reply);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (openClients !== 0 || heldLines !== 0) {
      const headers = request.raw.headers;
      const c = marked.get(headers);
      const wasHeld = held.delete(headers);
      if (wasHeld) heldLines--;
      if (c !== undefined) {
        marked.delete(headers);
        c.lines.controlled = true;
        if (c.open && refusedBy(reply)) {
          // Only lines Fastify would write are counted (not with `disableRequestLogging`, nor
          // under a route's `logLevel`: /metrics and /health write none at info).
          if (wasHeld) c.suppressed++;
          if (!this.isLogDisabled(request) && writes(reply.log, error ? 'error' : 'info')) c.suppressed++;
          return;
        }
      }
      // Admitted (or its client's count already summarised): its held incoming line, late.
      if (wasHeld) super.incomingRequest(request, reply);
    }
    super.requestCompleted(error, request, reply);
  }
}

/** Whether `log` writes lines of `level` (a logger without `isLevelEnabled` is taken to). */
function writes(log: object, level: 'info' | 'error'): boolean {
  const { isLevelEnabled } = log as { isLevelEnabled?: (level: string) => boolean };
  return isLevelEnabled === undefined || isLevelEnabled.call(log, level);
}

/**
 * Whether a marked request was refused: its answer is an error status, or none went out (cut). An
 * event counted for a request that was then served (`malicious_cors` of an `/api` request CORS only
 * leaves without its headers) does not take the request's lines: else a client adding a foreign
 * `Origin` would have its served requests' lines dropped past the first ten.
 */
function refusedBy(reply: FastifyReply): boolean {
  return reply.statusCode >= 400 || !reply.raw.headersSent;
}

/** Holds the incoming line of a request from a client being counted; true when held. */
function holdIncoming(controller: LogController, request: FastifyRequest, reply: FastifyReply): boolean {
  const gate = gates.get(destinationOf(request.log) as object);
  if (gate === undefined) return false;
  gate.lines.controlled = true;
  if (!gate.clients.has(gate.keyOf(request.ip))) return false;
  const headers = request.raw.headers;
  held.add(headers);
  heldLines++;
  // Still held when its answer closes, the request has not reached `requestCompleted`: cut before
  // its answer, answered where Fastify never calls it (`frameworkErrors`: a URL its router refuses),
  // or its async onResponse hooks still running. Its incoming line is settled now, as Fastify's own
  // controller would have it: counted when the request was refused by a counted line, else written
  // (never lost); a `requestCompleted` coming later deals with the completed line alone.
  const res = reply.raw;
  res.once('close', () => {
    if (!held.delete(headers)) return;
    heldLines--;
    const c = marked.get(headers);
    if (c !== undefined) c.lines.controlled = true;
    if (c !== undefined && c.open && refusedBy(reply)) c.suppressed++;
    else LogController.prototype.incomingRequest.call(controller, request, reply);
  });
  return true;
}

/** Incoming lines held now, over all apps: 0 once every held request has ended (or been cut). */
export function heldRequestLines(): number {
  return heldLines;
}
