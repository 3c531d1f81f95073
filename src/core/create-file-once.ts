/**
 * Creates a development secret's file once, however many processes start together (Node's cluster
 * module, PM2, two `npm start`s on one folder): each would otherwise find it missing, write its own,
 * and keep using it, so every process but the last to write held a secret the others refuse.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, unlinkSync, writeFileSync } from 'node:fs';

/**
 * Writes `text` to a private temporary file (mode 0600), then links it into place only if `file` is
 * absent, so a concurrent reader never sees a half-written file. Where the file system has no hard
 * links, falls back to an exclusive create. False when another process created `file` first: read
 * theirs.
 */
export function createFileOnce(file: string, text: string): boolean {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    linkSync(temp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
    return createExclusive(file, text);
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // never created
    }
  }
}

function createExclusive(file: string, text: string): boolean {
  try {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}
