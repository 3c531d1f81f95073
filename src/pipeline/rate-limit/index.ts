/**
 * The rate-limit stage (PROTOCOL §3): one atomic store step per action call, keyed by client
 * (`u:<user id>` when signed in, else `ip:<client ip>`, IPv6 by network: client-ip.ts) and
 * component action. Every limited response carries `X-RateLimit-*` and the IETF draft-10
 * `RateLimit-Policy` / `RateLimit` fields; a refusal answers 429 `RATE_LIMIT_EXCEEDED` with
 * `Retry-After` and logs `excess_rate_limit_exceeded`.
 *
 * Allowlisted IPs skip the stage entirely: no store call and no rate-limit headers, since no
 * limit applies to them.
 *
 * An answer refused before the step (a CSRF refusal, a session that is gone, strict mode's spent
 * token) carries the same fields for the same action through `headersBeforeStep`: the numbers of
 * the step its first batch already took, when it took one, else a read-only peek (`rateLimitPeek`)
 * of the budget of its address, which charges nothing — a cross-site page cannot spend a signed-in
 * user's budget with requests that fail the CSRF check, and a forged cookie naming a user cannot
 * read that user's budget.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { systemClock, type Clock } from '../../core/clock.js';
import type { ResolvedAction, User } from '../../core/component.js';
import { LiveError } from '../../core/errors.js';
import { HEADERS } from '../../core/wire.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import { storeKeys } from '../../store/keys.js';
import type { RateLimitAlgorithm, RateLimitDecision, RateLimitPolicy, Store } from '../../store/types.js';
import { fail, takePrefetched, type ActionContext, type Stage } from '../types.js';
import { rateLimitCount, rateLimitSeconds } from '../options.js';
import { createClientIp } from './client-ip.js';

export interface RateLimitDefaults {
  /** @default 60 */
  limit?: number;
  /** @default 60 */
  windowSeconds?: number;
  /** @default 'gcra' */
  algorithm?: RateLimitAlgorithm;
}

export interface RateLimitStageOptions {
  /** Where the counters live; its `rateLimit` step is atomic. */
  store: Store;
  /** @default systemClock */
  clock?: Clock;
  /** Receives `excess_rate_limit_exceeded` on every refusal. */
  events: SecurityEventSink;
  /**
   * Policy of actions that set no `rateLimit` / `rateLimitWindow` / `rateLimitAlgorithm`.
   * @default { limit: 60, windowSeconds: 60, algorithm: 'gcra' }
   */
  defaults?: RateLimitDefaults;
  /**
   * CIDRs (IPv4 or IPv6; a bare address means one host) whose requests are never limited.
   * IPv4 ranges also match IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`).
   * @default []
   * @example ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1']
   */
  allowlist?: readonly string[];
  /**
   * Signed-out IPv6 clients are counted by their network of this many bits (32–128; 128: each
   * address alone). A host can take any address of its network, each a fresh budget otherwise.
   * IPv4 addresses are counted one by one.
   * @default 56
   */
  ipv6PrefixLength?: number;
  /**
   * When the store fails: `false` rethrows its error (answered 503 `SERVICE_UNAVAILABLE`);
   * `true` calls `onFailOpen` and lets the request through unlimited.
   * @default false
   */
  failOpen?: boolean;
  /** Told about each store failure let through by `failOpen` (log it; it must not throw). */
  onFailOpen?: (error: unknown) => void;
}

/** One policy with its header values computed once (`rateLimitRule`). */
export interface RateLimitRule {
  readonly policy: RateLimitPolicy;
  readonly windowSeconds: number;
  readonly limitHeader: string;
  /** `RateLimit-Policy` value, for example `"default";q=60;w=60`. */
  readonly policyHeader: string;
  /** The start of the `RateLimit` value, for example `"default";r=`. */
  readonly fieldPrefix: string;
}

interface ActionRules {
  readonly signedIn: RateLimitRule;
  readonly anonymous: RateLimitRule;
}

/** The stage, and the headers of the answers that never reached its step. */
export interface RateLimitStage extends Stage {
  /**
   * Writes the rate-limit fields on `ctx.headers` of an answer refused before this stage ran, with
   * the numbers the stage would have shown, computed and written by the same code: the decision of
   * the step already taken in the prefetch's batch when there was one (strict mode's spent token, a
   * session that is gone), for the client and action of `ctx`; else — the CSRF check failed, so the
   * cookie's user is unverified — the budget of the request's address for that action as it stands,
   * read with one `rateLimitPeek` (one store round trip, nothing charged).
   * Does nothing when the fields are there already (the stage ran) or the client is allowlisted;
   * when the store fails the answer goes without them (resolves all the same, never rejects).
   */
  headersBeforeStep(ctx: ActionContext): Promise<void>;
}

/**
 * @example
 * const stage = createRateLimitStage({ store, events, allowlist: ['10.0.0.0/8'] });
 */
export function createRateLimitStage(options: RateLimitStageOptions): RateLimitStage {
  const { store, events } = options;
  const clock = options.clock ?? systemClock;
  const failOpen = options.failOpen ?? false;
  const onFailOpen = options.onFailOpen ?? null;
  const defaults = {
    limit: rateLimitCount('Rate limit', 'defaults.limit', options.defaults?.limit ?? 60),
    windowSeconds: rateLimitSeconds('Rate limit', 'defaults.windowSeconds', options.defaults?.windowSeconds ?? 60),
    algorithm: algorithmOf(options.defaults?.algorithm ?? 'gcra'),
  };
  const allowlist = options.allowlist && options.allowlist.length > 0 ? buildAllowlist(options.allowlist) : null;
  const clientIp = createClientIp(options.ipv6PrefixLength);
  const cache = new WeakMap<ResolvedAction, ActionRules>();

  function rulesFor(action: ResolvedAction): ActionRules {
    let rules = cache.get(action);
    if (rules === undefined) {
      // Components and route limiters check these at start-up too; an action built by hand is checked here.
      const windowSeconds = rateLimitSeconds('Rate limit', 'rateLimitWindow', action.rateLimitWindow ?? defaults.windowSeconds);
      const algorithm = algorithmOf(action.rateLimitAlgorithm ?? defaults.algorithm);
      const limit = rateLimitCount('Rate limit', 'rateLimit', action.rateLimit ?? defaults.limit);
      const signedIn = rateLimitRule(limit, windowSeconds, algorithm);
      const anonymousLimit = rateLimitCount('Rate limit', 'anonymousLimit', action.anonymousLimit ?? limit);
      rules = { signedIn, anonymous: anonymousLimit === limit ? signedIn : rateLimitRule(anonymousLimit, windowSeconds, algorithm) };
      cache.set(action, rules);
    }
    return rules;
  }

  /** The rule of this request, or `null` for an allowlisted client; `user`: whom it counts against (`null`: its address). */
  function ruleOf(ctx: ActionContext, user: User | null = ctx.user): RateLimitRule | null {
    if (allowlist !== null && isAllowlisted(allowlist, ctx.request.ip)) return null;
    const rules = rulesFor(ctx.action);
    return user === null ? rules.anonymous : rules.signedIn;
  }

  /** The store key of this request's counter. */
  function keyOf(ctx: ActionContext, user: User | null = ctx.user): string {
    const client = user === null ? `ip:${clientIp(ctx.request.ip)}` : `u:${user.id}`;
    return storeKeys.rateLimit(client, ctx.component.name, ctx.action.name);
  }

  async function headersBeforeStep(ctx: ActionContext): Promise<void> {
    if (ctx.headers[HEADERS.rateLimitLimit] !== undefined) return;
    const now = clock.now();
    const taken = takePrefetched(ctx, stage) as RateLimitDecision | undefined;
    if (taken !== undefined) {
      const rule = ruleOf(ctx);
      if (rule !== null) setRateLimitHeaders(ctx.headers, rule, taken, now);
      return;
    }
    // No step was taken: the request failed the CSRF check, so its cookie is unverified, and the
    // user it names is only claimed (anyone can write a cookie naming any user id). Its answer tells
    // the budget of its address, never a user's: another user's activity must not show through.
    const rule = ruleOf(ctx, null);
    if (rule === null) return;
    try {
      const [peeked] = await store.batch([{ op: 'rateLimitPeek', key: keyOf(ctx, null), policy: rule.policy, nowMs: now }]);
      setRateLimitHeaders(ctx.headers, rule, peeked as RateLimitDecision, now);
    } catch {
      // The store failed or timed out: no numbers to tell, and the refusal goes out as it is.
    }
  }

  const stage: RateLimitStage = {
    name: 'rate-limit',
    headersBeforeStep,
    // With failOpen the step keeps its own round trip, so its failure cannot fail the batch.
    prepare: failOpen
      ? undefined
      : (ctx) => {
          const rule = ruleOf(ctx);
          return rule === null ? null : { op: { op: 'rateLimit', key: keyOf(ctx), policy: rule.policy, nowMs: clock.now() } };
        },
    async run(ctx, next) {
      const rule = ruleOf(ctx);
      if (rule === null) return next(ctx);
      const { user } = ctx;
      const now = clock.now();
      let decision: RateLimitDecision;
      const prefetched = takePrefetched(ctx, stage);
      if (prefetched !== undefined) {
        // The key was only needed for the store step, which the prefetch already made.
        decision = prefetched as RateLimitDecision;
      } else {
        try {
          decision = await store.rateLimit(keyOf(ctx), rule.policy, now);
        } catch (error) {
          if (!failOpen) throw error;
          onFailOpen?.(error);
          return next(ctx);
        }
      }
      setRateLimitHeaders(ctx.headers, rule, decision, now);
      if (decision.allowed) return next(ctx);
      const retryAfter = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      events.emit({
        event: 'excess_rate_limit_exceeded',
        level: 'WARN',
        description:
          `Rate limit of ${rule.policy.limit} per ${rule.windowSeconds} s exceeded on ` +
          `${ctx.component.name}.${ctx.action.name} by ${user === null ? 'an anonymous client' : `user ${user.id}`}`,
        request: ctx.request,
      });
      return fail(
        new LiveError('RATE_LIMIT_EXCEEDED', {
          fields: { retry_after: retryAfter, limit: rule.policy.limit, window: rule.windowSeconds },
          headers: { [HEADERS.retryAfter]: String(retryAfter) },
        }),
      );
    },
  };
  return stage;
}

/**
 * A policy and its header values, built once at start-up. `name` is the draft-10 policy name the
 * `RateLimit-Policy` and `RateLimit` fields carry (`"default"` for actions and the auth routes).
 */
export function rateLimitRule(limit: number, windowSeconds: number, algorithm: RateLimitAlgorithm, name = 'default'): RateLimitRule {
  return {
    policy: { algorithm, limit, windowMs: windowSeconds * 1000 },
    windowSeconds,
    limitHeader: String(limit),
    policyHeader: `"${name}";q=${limit};w=${windowSeconds}`,
    fieldPrefix: `"${name}";r=`,
  };
}

/**
 * Writes the legacy `X-RateLimit-*` fields and the IETF draft-10 structured fields of one step of
 * `rule` (the only writer of these headers: actions, auth routes and the per-account sign-in limit).
 */
export function setRateLimitHeaders(headers: Record<string, string>, rule: RateLimitRule, decision: RateLimitDecision, now: number): void {
  const remaining = String(decision.remaining);
  headers[HEADERS.rateLimitLimit] = rule.limitHeader;
  headers[HEADERS.rateLimitRemaining] = remaining;
  headers[HEADERS.rateLimitReset] = String(Math.ceil((now + decision.resetMs) / 1000));
  headers[HEADERS.rateLimitPolicy] = rule.policyHeader;
  // `t`: until more quota comes (draft-10), so a 429's `t` equals its Retry-After, never later.
  headers[HEADERS.rateLimit] = `${rule.fieldPrefix}${remaining};t=${Math.ceil(decision.nextMs / 1000)}`;
}

function algorithmOf(value: RateLimitAlgorithm): RateLimitAlgorithm {
  if (value !== 'gcra' && value !== 'sliding-window') throw new TypeError(`Rate limit: unknown algorithm "${String(value)}"`);
  return value;
}

/** Parses the allowlist once; a malformed entry fails start-up rather than being ignored. */
function buildAllowlist(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = (slash === -1 ? entry : entry.slice(0, slash)).trim();
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
    const prefixText = slash === -1 ? null : entry.slice(slash + 1).trim();
    const prefix = prefixText === null ? null : Number(prefixText);
    const max = family === 'ipv4' ? 32 : 128;
    if (family === null || (prefix !== null && !(/^\d{1,3}$/.test(prefixText ?? '') && prefix <= max))) {
      throw new TypeError(`Rate limit: allowlist entry "${entry}" is not an IPv4 or IPv6 address or CIDR`);
    }
    if (prefix === null) list.addAddress(address, family);
    else list.addSubnet(address, prefix, family);
  }
  return list;
}

function isAllowlisted(list: BlockList, ip: string): boolean {
  if (isIPv4(ip)) return list.check(ip, 'ipv4');
  if (isIPv6(ip)) return list.check(ip, 'ipv6');
  return false;
}
