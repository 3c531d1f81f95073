// The worker side of off-thread.ts: loads one TypeScript module (through tsx, as the worker has no
// vitest to compile it) and runs the calls it is sent, one at a time, answering each by its id.
import { parentPort, workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

const mod = await tsImport(workerData.module, workerData.module);
parentPort.on('message', async ({ id, name, args }) => {
  try {
    parentPort.postMessage({ id, value: await mod[name](...args) });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
});
parentPort.postMessage({ ready: true });
