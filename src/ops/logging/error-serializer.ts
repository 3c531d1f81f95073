/**
 * The `err` serializer of `createLogger`: pino's own, plus three changes.
 *
 * 1. The message of an error with causes. pino's serializer writes `message` as the error's message
 *    followed by every cause's (`A: B: C`). Our errors often name their cause already (`PostgreSQL
 *    failed: connection refused`, whose cause is `connection refused`), and a wrapper of that
 *    (`Migrations could not start: PostgreSQL failed: …`) made the start-up line read `… PostgreSQL
 *    failed: X: PostgreSQL failed: X: X`. Here a cause's message is appended only when the text so far
 *    does not contain it already.
 * 2. A `LiveError` that only wraps its cause (`wrapperLabel`) is written as `internal error: <the
 *    cause's message>`, not the visitor's sentence before it (`Something went wrong on our side.: …`).
 * 3. The arguments of a failed command. ioredis attaches the command to its errors
 *    (`command: { name: 'auth', args: ['default', PASSWORD] }`, `{ name: 'hello', args: ['3', 'AUTH',
 *    'default', PASSWORD] }`), a Cluster's `ClusterAllFailedError` carries such an error in
 *    `lastNodeError`, an `AggregateError` in `errors`. pino copies every enumerable property, nested
 *    errors included, and neither redaction layer can tell a password among `args`. So every
 *    `command.args` in the serialized error (nested errors, arrays and objects, up to MAX_DEPTH levels
 *    and MAX_NODES objects) becomes `['[Redacted]']`; `command.name` stays. This runs only for logged
 *    errors, not for every line. Values the caller passed in are copied where changed, never modified:
 *    the same objects may still be in use (ioredis's retries, the caller's own handling).
 */
import pino from 'pino';
import { ERROR_CODES, isLiveError } from '../../core/errors.js';
import { CENSOR } from './redact.js';

const MAX_CAUSES = 10;
/** How far below the logged error `command.args` is looked for: nested errors, arrays and objects. */
const MAX_DEPTH = 8;
/** At most this many objects are looked at per logged error (a response body, a big config…). */
const MAX_NODES = 500;

/** The prototype of the objects pino's serializer builds: those are ours to change in place. */
const SERIALIZED_PROTO: unknown = Object.getPrototypeOf(pino.stdSerializers.err(new Error()));

export function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown;
  if (typeof serialized !== 'object' || serialized === null) return serialized;
  if (error instanceof Error) (serialized as { message: string }).message = messageWithNewCauses(error);
  return withoutCommandArgs(serialized, 0, { nodes: 0, seen: new Set() });
}

function messageWithNewCauses(error: Error): string {
  const label = wrapperLabel(error);
  let message = label === undefined ? error.message : '';
  const seen = new Set<unknown>([error]);
  let cause: unknown = error.cause;
  for (let depth = 0; cause instanceof Error && !seen.has(cause) && depth < MAX_CAUSES; depth++) {
    seen.add(cause);
    if (cause.message !== '' && !message.includes(cause.message)) message = message === '' ? cause.message : `${message}: ${cause.message}`;
    cause = cause.cause;
  }
  if (label === undefined) return message;
  return message === '' ? error.message : `${label}: ${message}`;
}

/**
 * For a `LiveError` that only wraps its cause — its message is the registry's sentence for the
 * visitor, the detail is in `cause` (a page's render bug or a typo in `view.mount`: 500
 * `INTERNAL_ERROR`; a store down: 503) — its code in words ("internal error"), written before the
 * cause's message instead of that sentence: the line read `Something went wrong on our side.:
 * Unknown component "countr:main" …`. Else `undefined`. The answer keeps its sentence; the stack,
 * causes included, is as pino writes it.
 */
function wrapperLabel(error: Error): string | undefined {
  if (!isLiveError(error) || !(error.cause instanceof Error)) return undefined;
  if (error.message !== ERROR_CODES[error.code].message) return undefined;
  return error.code.toLowerCase().replaceAll('_', ' ');
}

interface Walk {
  nodes: number;
  readonly seen: Set<object>;
}

/** `{ name, args }` with `args` censored, or undefined when `value` is not a command with arguments. */
function censoredCommand(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const args = (value as { args?: unknown }).args;
  if (!Array.isArray(args) || (args.length === 1 && args[0] === CENSOR)) return undefined;
  return { ...value, args: [CENSOR] };
}

/**
 * `value` with every `command.args` below it censored: the same value when there was none, else a
 * copy of each object or array on the way (pino's own serialized errors are changed in place).
 */
function withoutCommandArgs(value: unknown, depth: number, walk: Walk): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || walk.seen.has(value) || walk.nodes >= MAX_NODES) return value;
  // Dates, Buffers and the like are written by their own toJSON, not property by property.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  walk.nodes++;
  walk.seen.add(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const next = withoutCommandArgs(item, depth + 1, walk);
      if (next !== item) (copy ??= [...value])[i] = next;
    }
    return copy ?? value;
  }
  const source = value as Record<string, unknown>;
  let target: Record<string, unknown> | undefined = Object.getPrototypeOf(value) === SERIALIZED_PROTO ? source : undefined;
  for (const key of Object.keys(source)) {
    const child = source[key];
    const next = (key === 'command' ? censoredCommand(child) : undefined) ?? withoutCommandArgs(child, depth + 1, walk);
    if (next !== child) (target ??= { ...source })[key] = next;
  }
  return target ?? value;
}
