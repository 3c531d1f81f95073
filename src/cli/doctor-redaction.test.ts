// The redaction check against a logging module that lost entries and no longer censors text
// (a module mock, so it lives in its own file).
import { describe, expect, it, vi } from 'vitest';
import { runDoctor } from './doctor.js';

vi.mock('../ops/logging/redact.js', () => ({
  REDACT_PATHS: ['req.headers.cookie', 'password'],
  censorLine: (line: string) => line,
}));

describe('doctor redaction check', () => {
  it('fails when required fields are missing from the redaction list or text is not censored', () => {
    const report = runDoctor({});
    expect(report.lines.filter((l) => l.startsWith('FAIL'))).toEqual([
      'FAIL redaction: the redaction list (src/ops/logging/redact.ts) misses req.headers.authorization, res.headers["set-cookie"], refresh_token',
      'FAIL redaction: a test line with a bearer token, a session cookie and a password was not censored',
    ]);
  });
});
