/**
 * Composes the ordered stages into one function, once, at start-up (Fastify-style: the hot path
 * only calls through a prebuilt chain).
 */
import type { ActionContext, Next, Outcome, Stage } from './types.js';

export type Pipeline = (ctx: ActionContext) => Promise<Outcome>;

export function composePipeline(stages: readonly Stage[], last: Next): Pipeline {
  let chain: Next = last;
  for (let i = stages.length - 1; i >= 0; i--) {
    const stage = stages[i] as Stage;
    const next = chain;
    chain = (ctx) => stage.run(ctx, next);
  }
  return chain;
}
