/**
 * The `ComponentContext` of one action: its `signal` is made on first use only (an
 * `AbortController` per action would cost every action, and most never look), and it is aborted
 * when the action's async steps run past their deadline.
 *
 * It also keeps that deadline: the params schema, `authorize` and `run` share one `actionTimeoutMs`
 * budget, since the locks the action holds (the instance lock, the idempotency claim, both taken in
 * the first store round trip) must outlive all three. The budget starts with the first step that
 * returns a promise: synchronous steps cost no timer and no clock read.
 */
import type { ComponentContext, User } from '../../core/component.js';

export class ActionComponentContext implements ComponentContext {
  #controller: AbortController | undefined;
  /** `performance.now()` by which the async steps must have settled; 0 until the first one. */
  #deadline = 0;

  constructor(
    readonly user: User | null,
    readonly componentId: string,
    readonly instance: string,
    /** The runtime's `actionTimeoutMs`. */
    readonly timeoutMs: number,
  ) {}

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /** Aborts the signal with `reason`, when the action took it. */
  abort(reason: Error): void {
    this.#controller?.abort(reason);
  }

  /**
   * Starts the budget again at the next async step: after the action waited for its instance lock
   * (another request on the instance, perhaps another process), whose wait is not the action's time,
   * and whose end renews the claims the budget protects. An async params schema checked before the
   * wait had started it: the wait then ate `run`'s time, and a run that had done its work answered 500.
   */
  restartBudget(): void {
    this.#deadline = 0;
  }

  /** The ms left of the budget, which starts at the first call. */
  remainingMs(): number {
    const now = performance.now();
    if (this.#deadline === 0) this.#deadline = now + this.timeoutMs;
    return Math.max(0, this.#deadline - now);
  }
}
