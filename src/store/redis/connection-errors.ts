/**
 * Connection errors as the store may show and log them: never keys, values or credentials (ioredis
 * attaches the failed command to its errors, and the arguments of `AUTH`/`HELLO` are the password),
 * and the refusals that will not heal by themselves, reported even without `onConnectionError`.
 */
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { redisCredentialsOf } from '../../ops/config-fields.js';
import { censorLine } from '../../ops/logging/redact.js';
import { withoutEchoedArguments } from './connection.js';

/** Writes a refusal that will not heal by itself to stderr (the default of `onConnectionError` for those). */
export function reportRefusal(error: Error): void {
  console.error(`livecomponents: ${error.message}`);
}

/** Errors of a refused password or permission: they do not heal by reconnecting. */
export const ACCESS_ERROR = /\b(?:WRONGPASS|NOAUTH|NOPERM)\b/;

/** The passwords the client sends (URL and options), to keep out of messages. */
export function passwordsOf(url: string | undefined, client: Redis | Cluster): string[] {
  const found: (string | undefined)[] = [];
  if (url !== undefined) {
    try {
      found.push(redisCredentialsOf(new URL(url)).password);
    } catch {
      // not a URL the store checked (a unix socket path…): nothing to add
    }
  }
  const options = client.options as RedisOptions & ClusterOptions;
  found.push(options.password, options.redisOptions?.password);
  // Too short a "password" would censor ordinary words of the message.
  return found.filter((p): p is string => typeof p === 'string' && p.length >= 4);
}

/**
 * A connection error as it may be shown and logged: the client's message (a Cluster's with its
 * last node's error), without the command ioredis attaches (the arguments of AUTH and HELLO hold
 * the password) and with any URL credentials or known password censored; `code` kept; `hint`
 * (what to fix, from `schemeHint`) in brackets after it.
 */
export function safeConnectionError(error: Error, secrets: readonly string[], hint?: string): Error {
  const cause = (error as { lastNodeError?: unknown }).lastNodeError;
  let message = withoutEchoedArguments(error.message) + (cause instanceof Error && !error.message.includes(cause.message) ? ` (${withoutEchoedArguments(cause.message)})` : '');
  if (hint !== undefined) message += ` (${hint})`;
  for (const secret of secrets) message = message.split(secret).join('[Redacted]');
  message = censorLine(message);
  if (message.length > 300) message = `${message.slice(0, 299)}…`;
  const safe = new Error(message);
  safe.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') (safe as Error & { code: string }).code = code;
  return safe;
}
