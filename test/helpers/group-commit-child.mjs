// Another app process on one SQLite file, for src/store/sqlite/group-commit-processes.test.ts (forked
// with tsx, from the sources). argv: url, label, rounds, claims per round, steps per round. Each round
// is one turn of calls ('B' going through the keys from the last round) (one group commit) with a write the file's trigger refuses among them, so every
// group rolls back whole and runs again. Waits for 'go' on IPC, then prints one JSON line.
import BetterSqlite3 from 'better-sqlite3';
import { createSqliteStore } from '../../src/store/sqlite/index.ts';

const [url, label, roundsArg, claimsArg, stepsArg] = process.argv.slice(2);
const policy = { algorithm: 'gcra', limit: Number(process.env.LC_TEST_LIMIT), windowMs: 3_600_000 };

// Counts the ROLLBACKs of whole groups (the first try of a group that threw).
const statement = Object.getPrototypeOf(new BetterSqlite3(':memory:').prepare('SELECT 1'));
const run = statement.run;
let rollbacks = 0;
statement.run = function (...args) {
  if (this.source === 'ROLLBACK') rollbacks++;
  return run.apply(this, args);
};

const store = await createSqliteStore({ url, timeoutMs: 60_000, sweepIntervalMs: 0 });
process.send?.('ready');
await new Promise((resolve) => process.once('message', resolve));
const won = [];
let admitted = 0;
let refused = 0;
let boomRejected = 0;
const unexpected = [];
const rounds = Number(roundsArg);
for (let n = 0; n < rounds; n++) {
  // 'B' claims the rounds' keys from the last: the two meet in the middle, racing for the same keys.
  const r = label === 'B' ? rounds - 1 - n : n;
  const claims = [];
  for (let i = 0; i < Number(claimsArg); i++) {
    const key = `idem:${r}:${i}`;
    claims.push(store.claim(key, label, 3_600_000).then((holder) => holder === null && won.push(key)));
  }
  const steps = [];
  for (let i = 0; i < Number(stepsArg); i++) steps.push(store.rateLimit('rl', policy, Date.now()).then((d) => (d.allowed ? admitted++ : refused++)));
  const boom = store.set('lc-test-boom', 'x', 60_000).then(
    () => unexpected.push('boom written'),
    () => boomRejected++,
  );
  const settled = await Promise.allSettled([...claims, ...steps, boom]);
  for (const s of settled) if (s.status === 'rejected') unexpected.push(String(s.reason));
}
await store.close();
process.stdout.write(`${JSON.stringify({ label, won, admitted, refused, boomRejected, rollbacks, unexpected })}\n`);
process.disconnect?.();
