/**
 * The `livecomponents` command (bin/livecomponents.js runs the compiled copy of this file).
 * `main` takes the arguments and an `io` with the environment and the output, and returns the exit
 * code: 0 success, 1 a failed check or operation, 2 a usage error or an unavailable command.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runDoctor, runDoctorConnected } from './doctor.js';
import { keygen } from './keygen.js';

export interface CliIo {
  /** The environment the commands read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Writes one line of normal output. */
  out(line: string): void;
  /** Writes one line of diagnostics. */
  err(line: string): void;
  /** Starts the reference app and resolves once it is starting. @default imports dist/examples/demo/main.js */
  serve?: () => Promise<unknown>;
  /** Loads the module that exports `cleanupTokensCommand(env)`. @default imports ../auth/cleanup.js */
  loadTokensCleanup?: () => Promise<unknown>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  /** The command and its options, as shown in the usage text. */
  readonly synopsis: string;
  readonly summary: string;
  readonly options: Options;
  run(values: Record<string, string | boolean | undefined>, io: CliIo): Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  serve: {
    synopsis: 'serve',
    summary: 'run the reference app (PORT, HOST and the other variables apply)',
    options: {},
    async run(_values, io) {
      await (io.serve ?? (() => import('../../examples/demo/main.js')))();
      return 0;
    },
  },
  doctor: {
    synopsis: 'doctor [--production] [--connect] [--json]',
    summary: 'check the environment against the production checklist (--connect: also ask Redis and the database, and try the folders the app writes to: run it on the app\'s host, as its user); exit 1 on any FAIL',
    options: { production: { type: 'boolean' }, connect: { type: 'boolean' }, json: { type: 'boolean' } },
    async run(values, io) {
      const options = { production: values.production === true };
      const report = values.connect === true ? await runDoctorConnected(io.env, options) : runDoctor(io.env, options);
      if (values.json === true) io.out(JSON.stringify({ ok: report.ok, production: report.production, checks: report.checks }, null, 2));
      else for (const line of report.lines) io.out(line);
      return report.ok ? 0 : 1;
    },
  },
  keygen: {
    synopsis: 'keygen [--rotate] [--rotate-session-secret]',
    summary: 'print new LC_STATE_KEYS and LC_SESSION_SECRET (--rotate: a new key before the current ones; --rotate-session-secret: a new LC_SESSION_SECRET, the current one in LC_SESSION_SECRET_FALLBACKS)',
    options: { rotate: { type: 'boolean' }, 'rotate-session-secret': { type: 'boolean' } },
    async run(values, io) {
      const result = keygen(io.env, { rotate: values.rotate === true, rotateSessionSecret: values['rotate-session-secret'] === true });
      result.out.forEach((line) => io.out(line));
      result.err.forEach((line) => io.err(line));
      return result.code;
    },
  },
  migrate: {
    synopsis: 'migrate',
    summary: 'bring the DATABASE_URL database to the latest schema',
    options: {},
    async run(_values, io) {
      // Loaded on demand: the SQL drivers are not needed by the other commands.
      const { migrateCommand } = await import('./migrate.js');
      return migrateCommand(io.env, { out: io.out, err: io.err });
    },
  },
  'move-data': {
    synopsis: 'move-data [options]',
    summary:
      'stop the app, then copy its SQLite file\'s data (users, tokens; sessions, state, idempotency records, rate limits) into PostgreSQL and Redis: --from sqlite:PATH (default sqlite:./data/livecomponents.db), --to-database postgres://… (default DATABASE_URL), --to-redis URL[,URL…] (default REDIS_URL), --redis-key-prefix P (default REDIS_KEY_PREFIX), --dry-run; each part moved is marked in the file, which the app, revoke-sessions and move-data then refuse; --unmark [--from sqlite:PATH]: clear that mark, to go back to the file as it was',
    options: {
      from: { type: 'string' },
      'to-database': { type: 'string' },
      'to-redis': { type: 'string' },
      'redis-key-prefix': { type: 'string' },
      'dry-run': { type: 'boolean' },
      unmark: { type: 'boolean' },
    },
    async run(values, io) {
      // Loaded on demand, like migrate: the SQL and Redis drivers.
      const { moveData } = await import('./move-data.js');
      const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
      return moveData(
        {
          from: text('from'),
          toDatabase: text('to-database'),
          toRedis: text('to-redis'),
          redisKeyPrefix: text('redis-key-prefix'),
          dryRun: values['dry-run'] === true,
          unmark: values.unmark === true,
        },
        { env: io.env, out: io.out, err: io.err },
      );
    },
  },
  'revoke-sessions': {
    synopsis: 'revoke-sessions (--all | --user EMAIL | --user-id ID [--user EMAIL] | --orphans) [--dry-run] [--key-prefix-empty]',
    summary:
      'sign everyone (--all) or one user (--user EMAIL) out: revoke their access tokens, browser sign-ins and refresh tokens and spend their unused reset tokens in DATABASE_URL, end their sessions and forget their trusted devices in REDIS_URL (REDIS_KEY_PREFIX, refused when no session is under it while other prefixes hold sessions; --key-prefix-empty: the app has no session under REDIS_KEY_PREFIX now, its Redis emptied, a fresh deploy or every session ended, go on though other prefixes hold sessions) or the SQLite store; after restoring a backup, or in an incident; --user-id ID: one user by id, also one whose account was deleted (its sessions outlive the DELETE; the id is in the security events user_created and authn_login_success), with --user EMAIL to forget that email\'s trusted devices too; --orphans: every user id the users table no longer has (accounts deleted, their ids not kept): the browser sign-ins naming one and the token rows left naming one; --dry-run counts only; Ctrl-C stops at a safe point (exit 130)',
    options: { all: { type: 'boolean' }, user: { type: 'string' }, 'user-id': { type: 'string' }, orphans: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, 'key-prefix-empty': { type: 'boolean' } },
    async run(values, io) {
      // Loaded on demand, like migrate: the SQL and Redis drivers.
      const { revokeSessions } = await import('./revoke-sessions.js');
      return revokeSessions(
        {
          all: values.all === true,
          user: typeof values.user === 'string' ? values.user : undefined,
          userId: typeof values['user-id'] === 'string' ? values['user-id'] : undefined,
          orphans: values.orphans === true,
          dryRun: values['dry-run'] === true,
          keyPrefixEmpty: values['key-prefix-empty'] === true,
        },
        { env: io.env, out: io.out, err: io.err },
      );
    },
  },
  'tokens:cleanup': {
    synopsis: 'tokens:cleanup',
    summary: 'delete expired and revoked auth tokens',
    options: {},
    run: tokensCleanup,
  },
};

/** The auth module's clean-up, by path: the command works as soon as that module is built. */
const TOKENS_CLEANUP_MODULE = '../auth/cleanup.js';
const MISSING_CLEANUP = /^Cannot find module '[^']*auth[/\\]cleanup\.[jt]s'/;

async function tokensCleanup(_values: unknown, io: CliIo): Promise<number> {
  const load = io.loadTokensCleanup ?? (() => import(TOKENS_CLEANUP_MODULE));
  let command: unknown;
  try {
    command = ((await load()) as { cleanupTokensCommand?: unknown }).cleanupTokensCommand;
  } catch (error) {
    // Only the module itself being absent means "not available"; a broken module is an error.
    if (!(error instanceof Error && MISSING_CLEANUP.test(error.message))) throw error;
  }
  if (typeof command !== 'function') {
    io.err('livecomponents tokens:cleanup: not available in this build (the auth module with cleanupTokensCommand is missing)');
    return 2;
  }
  return (await command(io.env)) as number;
}

const SYNOPSIS_WIDTH = Math.max(...Object.values(COMMANDS).map((c) => c.synopsis.length));

/** The usage text, one line each. */
export function usage(): string[] {
  return [
    'usage: livecomponents <command> [options]',
    '',
    'commands:',
    ...[...Object.values(COMMANDS), { synopsis: 'help', summary: 'show this text' }].map(
      (c) => `  ${c.synopsis.padEnd(SYNOPSIS_WIDTH)}  ${c.summary}`,
    ),
  ];
}

/**
 * Runs one command.
 * @param argv the arguments after the program name, for example `['doctor', '--json']`
 * @param io environment and output
 * @default io process.env, process.stdout (an output that cannot be written makes the exit code 1)
 *   and console.error
 * @returns the exit code
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const code = await runCommand(argv, io);
  return stdoutFailed ? Math.max(code, 1) : code;
}

async function runCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    usage().forEach((line) => io.out(line));
    return 0;
  }
  const command = name === undefined ? undefined : Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.err(name === undefined ? 'livecomponents: no command given' : `livecomponents: unknown command "${name}"`);
    usage().forEach((line) => io.err(line));
    return 2;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    let tokens;
    ({ values, tokens } = parseArgs({ args: [...rest], options: { ...command.options, help: { type: 'boolean', short: 'h' } }, strict: true, tokens: true }));
    refuseRepeatedValues(tokens);
  } catch (error) {
    io.err(`livecomponents ${name}: ${error instanceof Error ? error.message : String(error)}`);
    io.err(`usage: livecomponents ${command.synopsis}`);
    return 2;
  }
  if (values.help === true) {
    io.out(`usage: livecomponents ${command.synopsis}`);
    io.out(`  ${command.summary}`);
    return 0;
  }
  try {
    return await command.run(values, io);
  } catch (error) {
    io.err(`livecomponents ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/**
 * An option that takes a value given twice: parseArgs keeps the last one, so `revoke-sessions --user a
 * --user b` signed out b alone and said nothing of a. Every command takes one value per option.
 */
function refuseRepeatedValues(tokens: ReturnType<typeof parseArgs>['tokens']): void {
  const seen = new Set<string>();
  for (const token of tokens ?? []) {
    if (token.kind !== 'option' || token.value === undefined) continue;
    if (seen.has(token.name)) throw new Error(`--${token.name} is given more than once; it takes one value (run the command once per value)`);
    seen.add(token.name);
  }
}

/** Writing to stdout failed (other than EPIPE); `stdoutBroken`: any error, the stream is done. */
let stdoutFailed = false;
let stdoutBroken = false;

function processIo(): CliIo {
  let watching = false;
  return {
    env: process.env,
    out(line) {
      // Not console.log: it ignores write errors, so `keygen > /dev/full` printed nothing and exited 0.
      // Watched from the first line on only: `serve` writes none, and the app's own logging keeps its behaviour.
      if (!watching) {
        watching = true;
        process.stdout.on('error', onStdoutError);
      }
      process.stdout.write(`${line}\n`);
    },
    err: (line) => console.error(line),
  };
}

/**
 * A write error reaches stdout's 'error' event, maybe after `main` returned: so both the returned
 * code and process.exitCode say 1. EPIPE is a reader that stopped reading (`| head`): not an error.
 */
function onStdoutError(error: NodeJS.ErrnoException): void {
  // After the first error the stream is destroyed: later lines only add ERR_STREAM_DESTROYED.
  if (stdoutBroken) return;
  stdoutBroken = true;
  if (error.code === 'EPIPE') return;
  stdoutFailed = true;
  process.exitCode = 1;
  console.error(`livecomponents: cannot write the output (${error.message})`);
}
