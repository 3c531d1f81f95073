/**
 * The `ComponentContext` of one action: its `signal` is made on first use only (an
 * `AbortController` per action would cost every action, and most never look), and the executor
 * aborts it when the action runs past its deadline.
 */
import type { ComponentContext, User } from '../../core/component.js';

export class ActionComponentContext implements ComponentContext {
  #controller: AbortController | undefined;

  constructor(
    readonly user: User | null,
    readonly componentId: string,
    readonly instance: string,
  ) {}

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /** Aborts the signal with `reason`, when the action took it. */
  abort(reason: Error): void {
    this.#controller?.abort(reason);
  }
}
