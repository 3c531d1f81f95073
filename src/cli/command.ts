/**
 * What the operational commands that change data (`move-data`, `revoke-sessions`) share: the I/O they
 * are given, and the refusal that ends them with one line and an exit code before anything changed.
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
