/**
 * The after-action batch on a store whose batch is not one transaction: Redis Cluster runs one script
 * per hash tag, and an idempotency record (`{i:…}`, or the user's scope) lives on another node than
 * the session's new state and instance lock (`{s:…}`). Sent as one batch, either script could fail
 * alone: the state stored with the record left pending (its release then let a retry with the key run
 * the action twice), or the record marked done over a state that was lost (a retry replayed 200 for an
 * action whose state was never stored).
 *
 * So there the batch goes in two steps (`splitCompletions`): first every op but the records'
 * compare-and-replace (the session's script: new state, renewal, lock release), then — only once that
 * succeeded — the compare-and-replace (pending → done). A record is never done before its state is
 * stored. When the second step fails the state is stored: the answer stays 200 and the
 * compare-and-replace is sent again in the background (it replaces only this request's own pending
 * value, so a repeat changes nothing more); a retry with the key meanwhile answers 409
 * `IDEMPOTENCY_KEY_IN_USE`. When the first step fails its outcome is unknown (its script may have run:
 * a timeout, a reply lost with its master), so the record is neither released nor completed until the
 * store says which (`evidenceOf`, `verdictOf`): the claims the step released (the instance lock) and
 * the keys it wrote (the new state) are asked of the same node, behind the late script (a store keeps
 * the scripts of one tag in order). Nothing stored → the record's claim is released (a retry runs the
 * action); stored → the record is completed (a retry replays it); neither provable → the claim is left
 * to expire after `idempotency.lockTtlMs`, after which a retry runs the action again.
 */
import type { StoreOp, StoreOpResult } from '../../store/types.js';
import { claimOf, replacedAfter, type PendingWrite } from './release-retry.js';

/** An after-action batch cut in two: the ops of each step, with their places in the batch. */
export interface SplitBatch {
  readonly first: StoreOp[];
  readonly firstAt: number[];
  /** The compare-and-replace pairs completing this request's claims, each as the adjacent pair it was queued as. */
  readonly completions: StoreOp[];
  readonly completionsAt: number[];
}

/**
 * `ops` cut before its compare-and-replace pairs (`deleteIfEquals` of a value this request claimed in
 * its first batch, `claims`, directly followed by a `claim` of the key); `null` when it has none.
 */
export function splitCompletions(ops: readonly StoreOp[], claims: readonly StoreOp[]): SplitBatch | null {
  let found = false;
  for (let i = 0; i < ops.length && !found; i++) found = isCompletion(ops, i, claims);
  if (!found) return null;
  const split: SplitBatch = { first: [], firstAt: [], completions: [], completionsAt: [] };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as StoreOp;
    if (isCompletion(ops, i, claims)) {
      split.completions.push(op, ops[i + 1] as StoreOp);
      split.completionsAt.push(i, i + 1);
      i++;
    } else {
      split.first.push(op);
      split.firstAt.push(i);
    }
  }
  return split;
}

/** Whether `ops[i]` opens a compare-and-replace of a claim this request made (`claims`). */
function isCompletion(ops: readonly StoreOp[], i: number, claims: readonly StoreOp[]): boolean {
  const op = ops[i] as StoreOp;
  return op.op === 'deleteIfEquals' && replacedAfter(ops, i) && claimOf(op, claims) !== undefined;
}

/**
 * `ops` with the second half (the `claim`) of each compare-and-replace of this request's claims left
 * out: its first half is then a plain release of the pending claim (`releasesOf`). Right on a store
 * whose batch is one transaction: a failed batch either ran whole (the delete then finds the record
 * done and changes nothing) or not at all (the claim is ours to release, and a retry with the key runs
 * the action); on one that splits it, only once the state is known not to be stored.
 */
export function withoutReplacements(ops: readonly StoreOp[], claims: readonly StoreOp[]): StoreOp[] {
  const kept: StoreOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    kept.push(ops[i] as StoreOp);
    if (isCompletion(ops, i, claims)) i++;
  }
  return kept;
}

/** The compare-and-replace pairs of `ops` (this request's records, pending → done), each to send until its claim's TTL from now. */
export function completionsOf(ops: readonly StoreOp[], claims: readonly StoreOp[]): PendingWrite[] {
  const now = performance.now();
  const completions: PendingWrite[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as StoreOp;
    if (op.op === 'deleteIfEquals' && replacedAfter(ops, i)) {
      const claim = claimOf(op, claims);
      if (claim !== undefined) completions.push({ ops: [op, ops[i + 1] as StoreOp], until: now + claim.ttlMs });
    }
  }
  return completions;
}

/** What a failed first step left behind, to ask the store: see `verdictOf`. */
export interface Evidence {
  /** The step's releases of this request's claims, then a `get` of every key the step `set`. */
  readonly ops: StoreOp[];
  readonly releases: number;
  /** The values the step wrote, in the order of the `get`s. */
  readonly written: string[];
}

/**
 * The question to ask after a failed first step: its releases of this request's claims, then a read
 * of every key it `set`. Only `set`s: a first step that completes a record carries the action's new
 * state as a `set` (`saveOp`); the state stage's `replaceIfEquals` (a re-seal, the same state under the
 * newest key) goes only with an action that wrote nothing, whose record is released, never completed.
 * Read back, it would also turn a step that ran but found the state changed meanwhile into `unknown`.
 */
export function evidenceOf(first: readonly StoreOp[], claims: readonly StoreOp[]): Evidence {
  const ops: StoreOp[] = [];
  for (const op of first) if (op.op === 'deleteIfEquals' && claimOf(op, claims) !== undefined) ops.push(op);
  const releases = ops.length;
  const written: string[] = [];
  for (const op of first) {
    if (op.op !== 'set') continue;
    ops.push({ op: 'get', key: op.key });
    written.push(op.value);
  }
  return { ops, releases, written };
}

/**
 * Whether the first step was stored, from the results of `evidence.ops` (sent after that step's late
 * script): `not-stored` when every release still found this request's claim and no key holds what the
 * step wrote (the script releasing it with the writes never ran, and now never will), `stored` when no release found it and every key
 * holds the value the step wrote (a sealed state is unique: only this request's script put it there),
 * else `unknown` (a claim lost with its master or expired, or the state overwritten since).
 */
export function verdictOf(evidence: Evidence, results: readonly StoreOpResult[]): 'stored' | 'not-stored' | 'unknown' {
  let released = 0;
  for (let i = 0; i < evidence.releases; i++) if (results[i] === true) released++;
  let kept = 0;
  for (let w = 0; w < evidence.written.length; w++) if (results[evidence.releases + w] === evidence.written[w]) kept++;
  if (released === 0 && kept === evidence.written.length) return 'stored';
  if (evidence.releases > 0 && released === evidence.releases && kept === 0) return 'not-stored';
  return 'unknown';
}
