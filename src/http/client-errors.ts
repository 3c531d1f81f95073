/**
 * Answers requests that Node's HTTP parser refused before Fastify saw them (a malformed request
 * line, headers over the size limit, a request that took too long to arrive) in the error shape of
 * PROTOCOL §3, with a stable code, as every other refusal — Fastify's default answers
 * `{"error":"Bad Request","message":"Client Error","statusCode":400}`, which has no `code`.
 * There is no request yet, so the `request_id` is a fresh UUID (also sent as `X-Request-Id`).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ERROR_CODES, type ErrorCode } from '../core/errors.js';
import { HEADERS } from '../core/wire.js';

/** What `clientErrorCode` reads of Node's parser error. */
export interface ParserError {
  code?: string;
  /** The chunk the parser was reading when it failed (Node: the current read, not the whole request). */
  rawPacket?: unknown;
  /** Where in `rawPacket` it failed; for an overflow, the end of the URL or header span that crossed the limit. */
  bytesParsed?: unknown;
}

/**
 * The code a parser error answers with. `bytesRead`: what the connection had read in all when it
 * failed (`socket.bytesRead`), which tells whether `rawPacket` is its first read.
 */
export function clientErrorCode(error: ParserError, bytesRead?: number): ErrorCode {
  if (error.code === 'HPE_HEADER_OVERFLOW') return requestLineOverflowed(error, bytesRead) ? 'URI_TOO_LONG' : 'HEADERS_TOO_LARGE';
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_TIMEOUT';
  return 'INVALID_REQUEST';
}

/** The start of a request line: a method token and one space, then a target with no space yet. */
const REQUEST_LINE_START_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ ]*$/;

/**
 * Whether a header overflow (`HPE_HEADER_OVERFLOW`: Node counts the request line and the headers
 * together against `maxHeaderSize`) happened in the request line: then it is the URL that is too long
 * (414), not the headers (431, which tells the user to clear cookies). Node reports it for both with
 * the same code and reason, and `bytesParsed` at the end of the span that crossed the limit; so the
 * line holding that point is read from `rawPacket`: a request line starts with a method and a space,
 * a header line with a name and a colon. Node's `rawPacket` is only the last read: a line with no line
 * break before it in the packet began there only if the packet is the connection's first read (else
 * it may go on from an earlier read: a header value such as `Bearer aaaa…` also looks like a method
 * and a target); when the long URL arrived over several reads, or in a later read, the answer stays 431.
 */
function requestLineOverflowed(error: ParserError, bytesRead: number | undefined): boolean {
  const packet = error.rawPacket;
  const at = error.bytesParsed;
  if (!Buffer.isBuffer(packet) || typeof at !== 'number' || at <= 0) return false;
  const lineStart = packet.lastIndexOf('\r\n', at - 1, 'latin1');
  if (lineStart === -1 && bytesRead !== packet.length) return false;
  const line = packet.toString('latin1', lineStart === -1 ? 0 : lineStart + 2, at);
  return REQUEST_LINE_START_RE.test(line);
}

/** PROTOCOL §3's error body of an answer given before Fastify has the request: `message` defaults to the code's. */
function errorBodyText(code: ErrorCode, requestId: string, message: string = ERROR_CODES[code].message): string {
  return JSON.stringify({ error: message, code, request_id: requestId });
}

/**
 * Answers, on Node's response object, a request that was formed but is refused before the app sees
 * it (serverOptions' server: no `Host`, an unsupported `Expect`): 400 `INVALID_REQUEST` in PROTOCOL's
 * shape with `message`, `request_id` also as `X-Request-Id`, and the connection closed (its body, if
 * any, is never read).
 * @returns the status answered.
 */
export function answerRefusedRequest(res: ServerResponse, requestId: string, message: string): number {
  const code: ErrorCode = 'INVALID_REQUEST';
  const { status } = ERROR_CODES[code];
  const body = errorBodyText(code, requestId, message);
  res.shouldKeepAlive = false;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [HEADERS.requestId]: requestId,
    connection: 'close',
  });
  res.end(body);
  return status;
}

/**
 * Node's parser error when the client closed its side of the connection in the middle of a request
 * (a body shorter than its `Content-Length`, headers never finished): the client hung up, it did not
 * send something malformed. Not answered, so the HTTP metrics count the request, if the app had it,
 * once as the 499 of a hang-up (and the app logs it as a client abort, see error-mapping.ts).
 */
const CLIENT_CLOSED_MID_REQUEST = 'HPE_INVALID_EOF_STATE';

/**
 * Fastify's `clientErrorHandler` (serverOptions wraps it). Like Fastify's own: nothing to do on a
 * reset or destroyed socket, nor (unlike Fastify's) on one the client closed mid-request; answer
 * when the socket is still writable; then close it (the connection's framing is lost).
 * @returns the status answered, or `null` when nothing was (so nothing is counted as answered).
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): number | null {
  if (error.code === 'ECONNRESET' || socket.destroyed) return null;
  if (error.code === CLIENT_CLOSED_MID_REQUEST) {
    socket.destroy();
    return null;
  }
  let answered: number | null = null;
  if (socket.writable) {
    const code = clientErrorCode(error, socket.bytesRead);
    socket.write(rawErrorAnswer(code, randomUUID()));
    answered = ERROR_CODES[code].status;
  }
  socket.destroy(error);
  return answered;
}

/**
 * The bytes of an answer in PROTOCOL's shape, for a socket no `ServerResponse` owns (a request Node's
 * parser refused, a CONNECT): `code`'s status and message, `request_id` also as `X-Request-Id`,
 * `Connection: close`, and `extraHeaders` (`Name: value` lines, each ending in CRLF).
 */
function rawErrorAnswer(code: ErrorCode, requestId: string, extraHeaders = ''): string {
  const { status } = ERROR_CODES[code];
  const body = errorBodyText(code, requestId);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${HEADERS.requestId}: ${requestId}\r\n${extraHeaders}Connection: close\r\n\r\n${body}`
  );
}

/**
 * Answers a CONNECT (Node hands it over with the bare socket, not a `ServerResponse`; without a
 * listener it closes the socket silently): 405 `METHOD_NOT_ALLOWED` with `Allow: allow` — this server
 * is no proxy — then closes the connection once the answer is written.
 * @returns the status answered, or `null` when the socket could no longer be written.
 */
export function answerConnect(socket: Socket, requestId: string, allow: string): number | null {
  if (!socket.writable) {
    socket.destroy();
    return null;
  }
  socket.end(rawErrorAnswer('METHOD_NOT_ALLOWED', requestId, `Allow: ${allow}\r\n`), () => socket.destroy());
  return ERROR_CODES.METHOD_NOT_ALLOWED.status;
}
