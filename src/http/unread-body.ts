/**
 * Answers given before a request's body is read: in `onRequest` (a refused source, a rate limit), a
 * media type no parser takes (Fastify's 415, or the not-found handler's 404/405, which Fastify runs
 * without reading the body), an app's hook that answers, a GET page served with a body announced,
 * `serverOptions()`' own answers (load shedding, `OPTIONS *`). Node then reads what is left of an
 * unread body to its end on a kept-alive connection, whatever the route's `bodyLimit` says: a
 * cross-site `text/plain` post announcing 64 MiB to the action route, a foreign-Origin JSON post of
 * 32 MiB to the auth API, a POST of 8 MiB to a GET-only page (405) were read whole (probed over a
 * socket, every byte accepted, `Connection: keep-alive`). So such an answer closes the connection, as
 * Fastify does after a parser error (413): the plugin's `onSend` hook does it for every answer that
 * passes through Fastify (`bodyUnread`), `serverOptions()`' handlers for their own, and its server
 * ends the connection after an answer written past `onSend` (a hijacked reply).
 *
 * HTTP/2 (which `serverOptions()` refuses: it ends at the proxy) has no `Connection` header; a
 * stream's unread body is the proxy's to limit.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** `application/json`, with parameters or none: the one body type the action route and the auth API parse. */
export const JSON_MEDIA_TYPE = /^\s*application\/json\s*(?:;|$)/i;

/** Whether an HTTP/1 request announces a body (a length above 0, or chunks). HTTP/2 has no `Connection` header. */
export function announcesBody(req: IncomingMessage): boolean {
  const { headers } = req;
  return req.httpVersionMajor === 1 && (headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0'));
}

/**
 * Whether an answer to `req` now would leave part of its body on the wire for Node to read: a body
 * was announced and Node's parser does not have all of it yet (`complete`). A body all received but
 * not read (a small one that came with the head) is no cost: Node drops what it buffered, and the
 * connection stays open. Only once the parser is past it, though: an answer given in the very read
 * that brought the head (every hook before it synchronous: a callback `onRequest` refusal, the
 * not-found handler, Fastify's 415) sees the body not yet parsed, and closes — so the plugin's `onSend`
 * and a refusal of ours wait for the read to be parsed (`afterHeadParsed`). `readableEnded` (the body
 * read to its end): for `inject`'s requests, which have no `complete`.
 *
 * Any size counts, even 10 bytes still to come: a request whose body is refused unread is a mistake
 * or an attack (a form posted to the wrong path, a foreign post), rare enough that the client's next
 * request paying for a new connection costs nothing that matters, while a size below which the rest is
 * read (a length to compare, none at all for chunks) would be one more rule to get wrong.
 *
 * After a body was read (an action), one property read: `complete` is true.
 */
export function bodyUnread(req: IncomingMessage): boolean {
  return req.complete !== true && req.readableEnded !== true && announcesBody(req);
}

/**
 * Runs `then` once Node's parser is past the read that brought `request`'s head: at once when no body
 * is left unread (none announced, or all in), else at the event loop's next check phase
 * (`setImmediate`). Node emits the request as soon as its head is parsed, in the middle of that read,
 * and parses the rest of the read (a small body that came with the head) only after — after the
 * microtasks too (Node 20 parses in C++, each callback into JS its own scope: measured, `complete` is
 * still false in a microtask or a `nextTick`, true in a `setImmediate`). A refusal answered there saw
 * that body as not yet in (`bodyUnread`) and closed a connection a keep-alive client was about to use
 * again. After the wait, only a body still on its way (8 MiB announced, 1 KiB sent) counts as unread.
 * For refusals answered before the body is read (`refuseForeignForms`, the auth API's guard); the
 * answer itself then decides with `closeIfBodyUnread`. And for the plugin's `onSend`, which decides so
 * for every answer (the not-found handler's 404/405, Fastify's 415, an app hook's refusal), and for
 * `serverOptions()`' answers before routing (a URL the router refuses; `afterRawHeadParsed`). Answers
 * before the body only: one turn of the loop each, nothing on an admitted request's way.
 */
export function afterHeadParsed(request: FastifyRequest, then: () => void): void {
  afterRawHeadParsed(request.raw, then);
}

/**
 * `afterHeadParsed` for Node's request, where Fastify has none yet: `serverOptions()`' own answers
 * before routing (`OPTIONS *`, load shedding's 503), given in the read that brought the head as the
 * not-found handler's are.
 */
export function afterRawHeadParsed(req: IncomingMessage, then: () => void): void {
  if (bodyUnread(req)) setImmediate(then);
  else then();
}

/** `afterHeadParsed` as a promise, for an `async` hook. */
export function headParsed(request: FastifyRequest): Promise<void> {
  return new Promise((resolve) => afterHeadParsed(request, resolve));
}

/**
 * `Connection: close` on `reply` when `request`'s body is not all in (`bodyUnread`, the plugin's
 * `onSend` check): Node would otherwise read the rest to its end. For answers of hooks that may run in
 * an app without the plugin (the auth API, `refuseForeignForms`); call it as the answer is given,
 * after `afterHeadParsed` when that is before the body is read.
 */
export function closeIfBodyUnread(request: FastifyRequest, reply: FastifyReply): void {
  if (bodyUnread(request.raw)) reply.header('connection', 'close');
}
