/**
 * The model probe's rate-limit bookkeeping (test/helpers/model-probe.ts): each budget's GCRA
 * arrival time (PROTOCOL §2) and the bounds it puts on the answers of the limiter.
 *
 * Rate limits run on the store's real clock (Redis's own time on Redis), so the model keeps each
 * budget's arrival time as an interval [lo, hi] from the request's send and answer times: an
 * answer is refused only where no time in that span could give it.
 */
import type { LightMyRequestResponse } from 'fastify';
import { fail, POLICY, rateClient, type ActionRequest } from './model-probe-model.js';

/** The GCRA arrival time of one budget, known within [lo, hi] (ms). */
interface Bucket {
  lo: number;
  hi: number;
}

/** The budgets of one run, by `<rate-limit client>|<component>.<action>`. */
export class Budgets {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * Which of `reqs` (sent at once within [t0, t1], valid tokens) the limiter admitted (anything
   * but 429), checked against GCRA: per budget, the admissions must be possible one after another,
   * and a refusal possible after them. Requests with other tokens never reach the limiter.
   */
  admitGroup(reqs: ActionRequest[], answers: LightMyRequestResponse[], t0: number, t1: number): boolean[] {
    const admitted = answers.map((res, i) => (reqs[i] as ActionRequest).token === 'valid' && res.statusCode !== 429);
    const byBucket = new Map<string, number[]>();
    for (const [i, req] of reqs.entries()) {
      if (req.token !== 'valid') continue;
      const k = `${rateClient(req.session)}|${req.component}.${req.action}`;
      byBucket.set(k, [...(byBucket.get(k) ?? []), i]);
    }
    for (const [k, indices] of byBucket) {
      const policy = POLICY[k.split('|')[1] as string] as { limit: number; window: number };
      const T = (policy.window * 1000) / policy.limit;
      const slack = policy.window * 1000 - T;
      const b = this.buckets.get(k) ?? { lo: -Infinity, hi: -Infinity };
      const yes = indices.filter((i) => admitted[i]).length;
      for (let j = 0; j < yes; j++) {
        // Admitted at some t in [t0, t1] needs TAT - t <= slack: impossible if even the latest t fails.
        if (b.lo - t1 > slack + 1) fail(`${k}: admission ${j + 1} of ${yes} in a group of ${indices.length}, but the model's budget is spent (arrival ${b.lo - t1} ms ahead of the latest possible time, slack ${slack})`);
        b.lo = Math.max(b.lo, t0) + T;
        b.hi = Math.max(b.hi, t1) + T;
      }
      if (indices.length === 1 && yes === 1) {
        // X-RateLimit-Remaining after this admission: floor((depth - (TAT - t)) / T), t in [t0, t1]
        // (one more either way for the store's rounding to its grid).
        const depth = policy.window * 1000;
        const low = Math.max(0, Math.floor((depth - (b.hi - t0)) / T) - 1);
        const high = Math.min(policy.limit - 1, Math.floor((depth - (b.lo - t1)) / T) + 1);
        const i = indices[0] as number;
        const told = Number((answers[i] as LightMyRequestResponse).headers['x-ratelimit-remaining']);
        if (!(told >= low && told <= high)) fail(`${k}: X-RateLimit-Remaining ${told} after an admission, the model allows ${low}..${high}`);
      }
      if (yes < indices.length && b.hi - t0 <= slack - 1) {
        fail(`${k}: ${indices.length - yes} of ${indices.length} refused with 429, but the model's budget still had room after ${yes} admissions`);
      }
      this.buckets.set(k, b);
    }
    return admitted;
  }

  /** A step the app may or may not have taken: only the late end of the budget's arrival time moves. */
  maybeCharge(bucket: string, now: number): void {
    const policy = POLICY[bucket.split('|')[1] as string] as { limit: number; window: number };
    const b = this.buckets.get(bucket) ?? { lo: -Infinity, hi: -Infinity };
    b.hi = Math.max(b.hi, now) + (policy.window * 1000) / policy.limit;
    this.buckets.set(bucket, b);
  }}
