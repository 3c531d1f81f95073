/**
 * What the operational commands that change data (`move-data`, `revoke-sessions`) share: the I/O they
 * are given, the refusal that ends them with one line and an exit code before anything changed, and
 * `runCommand`, which turns a run's end into that line and code.
 */

/** The environment a command reads and its two kinds of output line; `cwd` resolves relative `sqlite:` paths. */
export interface CommandIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  out(line: string): void;
  err(line: string): void;
  /** The folder relative `sqlite:` paths are resolved against. @default process.cwd() */
  readonly cwd?: string | undefined;
}

/** A refusal: printed as one line; exit code 1, or 2 for a usage error. */
export class Refusal extends Error {
  constructor(
    message: string,
    readonly code: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/**
 * Runs one command's `run` and turns its end into the exit code: 0 when it returns, the code of a
 * `Refusal` (printed as `NAME: message`), 1 for any other error (printed the same way). A code `run`
 * returns itself (an interrupted run's, say) stands.
 */
export async function runCommand(name: string, io: Pick<CommandIo, 'err'>, run: () => Promise<number | void>): Promise<number> {
  try {
    return (await run()) ?? 0;
  } catch (error) {
    io.err(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof Refusal ? error.code : 1;
  }
}

/** A Redis URL (or a Cluster's seeds, comma-separated) without credentials, for a message: scheme, hosts and database. */
export function redisDescription(url: string): string {
  return url
    .split(',')
    .map((u) => {
      try {
        const parsed = new URL(u.trim());
        return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
      } catch {
        return '(unparsable URL)';
      }
    })
    .join(',');
}
