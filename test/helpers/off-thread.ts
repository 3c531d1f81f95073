/**
 * Runs a module's functions on a worker thread, so a call that holds its thread (a regular
 * expression backtracking for minutes) fails by the test's timeout instead of blocking vitest until
 * it returns: on the test's own thread, a synchronous call cannot be interrupted, and the timeout is
 * only noticed when it ends. A call still running when its test ends takes the worker with it
 * (terminated; the next call starts a fresh one), so a stuck call does not slow the rest of the file.
 *
 * The worker compiles the module with tsx: the module and what it imports must not depend on vitest.
 */
import { Worker } from 'node:worker_threads';
import { onTestFinished } from 'vitest';

export interface OffThread {
  /** Starts the worker (loading the module) if it is not running; for a beforeAll, so no test pays for it. */
  ready(): Promise<void>;
  /** Calls the module's export `name` with `args` (structured-cloned both ways). */
  call<T>(name: string, ...args: unknown[]): Promise<T>;
  close(): Promise<void>;
}

interface Answer {
  id?: number;
  value?: unknown;
  error?: string;
  ready?: true;
}

interface Running {
  worker: Worker;
  started: Promise<void>;
  /** The calls sent to this worker and not answered yet, by id. */
  waiting: Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>;
}

export function offThread(module: URL): OffThread {
  let running: Running | undefined;
  let nextId = 0;

  function start(): Running {
    const worker = new Worker(new URL('./off-thread-worker.mjs', import.meta.url), { workerData: { module: module.href } });
    const waiting: Running['waiting'] = new Map();
    const started = new Promise<void>((resolve, reject) => {
      worker.on('message', (answer: Answer) => {
        if (answer.ready) return resolve();
        const call = waiting.get(answer.id as number);
        waiting.delete(answer.id as number);
        if (answer.error !== undefined) call?.reject(new Error(answer.error));
        else call?.resolve(answer.value);
      });
      const fail = (error: Error) => {
        reject(error);
        for (const call of waiting.values()) call.reject(error);
        waiting.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`the worker for ${module.pathname} exited (${code})`)));
    });
    started.catch(() => {}); // also reported to the calls
    running = { worker, started, waiting };
    return running;
  }

  async function stop(run: Running | undefined): Promise<void> {
    if (run === undefined) return;
    if (running === run) running = undefined;
    await run.worker.terminate();
  }

  return {
    ready: () => (running ?? start()).started,
    async call<T>(name: string, ...args: unknown[]): Promise<T> {
      const run = running ?? start();
      await run.started;
      const id = nextId++;
      const answer = new Promise<T>((resolve, reject) => run.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject }));
      run.worker.postMessage({ id, name, args });
      try {
        // Still running when the test ended (by its timeout): its thread is held, end it.
        onTestFinished(() => (run.waiting.has(id) ? stop(run) : undefined));
      } catch {
        // Not in a test (a beforeAll): nothing to end it at.
      }
      return answer;
    },
    close: () => stop(running),
  };
}
