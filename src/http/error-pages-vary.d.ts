/**
 * Types of @fastify/cors' `vary.js` (a dependency already; the file ships untyped), whose
 * `createAddFieldnameToVary` error-pages.ts uses to add `Accept` to `Vary` as CORS adds `Origin`.
 */
declare module '@fastify/cors/vary.js' {
  import type { FastifyReply } from 'fastify';
  /** A function adding `fieldname` to a reply's `Vary`: once, case-insensitively, `*` kept. */
  export function createAddFieldnameToVary(fieldname: string): (reply: FastifyReply) => void;
}
