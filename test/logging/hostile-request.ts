/**
 * One request to the reference app logging as in production, reduced to what redact.test.ts checks:
 * plain data, so off-thread.ts can run it on a worker thread (a backtracking pattern then fails the
 * test by its timeout instead of holding vitest's thread until it returns).
 */
import { loggedApp } from './logged-app.js';

export interface LoggedRequest {
  status: number;
  /** The `req.url` of every "incoming request" line. */
  incomingUrls: string[];
  /** The whole log output. */
  text: string;
}

export async function logRequest(url: string): Promise<LoggedRequest> {
  const ctx = await loggedApp();
  let status: number;
  try {
    status = (await ctx.request({ method: 'GET', url })).statusCode;
  } finally {
    await ctx.close();
  }
  const incoming = ctx.out.records().filter((r) => r['msg'] === 'incoming request');
  return { status, incomingUrls: incoming.map((r) => (r['req'] as { url: string }).url), text: ctx.out.text() };
}
