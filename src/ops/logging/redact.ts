/**
 * Redaction in two layers, so no password, token, cookie or key reaches a log line (PROTOCOL §5).
 *
 * 1. Structured: pino `redact` paths for the fields where secrets live (headers, credentials in
 *    bodies). Fast and exact, but pino paths have a fixed depth and do not see inside strings.
 * 2. Textual, on the finished JSON line (pino's `hooks.streamWrite`, so every strategy gets it):
 *    - any string value whose key names a secret, at any depth (`"refresh_token":"…"`);
 *    - our own token formats inside free text: CSRF tokens (`v1.` + base64url), `Bearer`/`Basic`
 *      credentials, JWTs, and `name=value` pairs whose name is a secret (`lc_session=…` in a cookie
 *      header, `?token=…` in a logged URL).
 *    A bare random string in a sentence cannot be told from an id, so it is not guessed at: code
 *    must not put secrets in messages, and the e2e test (test/logging/redaction.test.ts) checks it.
 *
 * `idempotency-key` stays visible on purpose: it is a replay handle, not a credential, and
 * operators need it to trace retries.
 */

export const CENSOR = '[Redacted]';

/** pino `redact` paths (layer 1). Wildcards match one level: top-level names are listed too. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-csrf-token"]',
  'headers["set-cookie"]',
  ...['password', 'token', 'access_token', 'refresh_token', 'csrf_token', '_csrf_token', 'secret'].flatMap((k) => [k, `*.${k}`]),
];

/**
 * A key names a secret when it contains one of these words. Only string values (and arrays of
 * strings) are censored, so counters such as `tokens_revoked: 3` stay readable.
 */
const SECRET_KEY_RE = /passw(?:or)?d|passphrase|secret|token|authorization|cookie|session|api[_-]?key|private[_-]?key|state[_-]?keys|credential/i;

/** `"key":"string"` or `"key":["s1","s2"]` in serialized JSON. Keys with escapes are left alone. */
const JSON_PAIR_RE = /"([^"\\]*)":("(?:[^"\\]|\\.)*"|\[(?:"(?:[^"\\]|\\.)*",?)*\])/g;

/** Textual patterns: each match keeps its group 1 (a label) and loses the rest. */
const TEXT_PATTERNS: readonly RegExp[] = [
  // name=value where the name is a secret: cookies (`lc_session=`), query strings, form bodies.
  /\b([\w-]*(?:token|passw(?:or)?d|secret|session|api[_-]?key)[\w-]*=)[^&;,\s"\\]+/gi,
  // CSRF tokens (src/pipeline/csrf/token.ts): "v1." then at least 64 base64url characters.
  /\b(v1\.)[A-Za-z0-9_-]{64,}/g,
  // HTTP credentials in free text.
  /\b((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/-]{8,}=*/g,
  // JWTs (header.payload.signature, the header always starts with `{"` → eyJ).
  /()\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]+/g,
];

function censorPair(match: string, key: string, value: string): string {
  if (!SECRET_KEY_RE.test(key)) return match;
  return value.startsWith('[') ? `"${key}":["${CENSOR}"]` : `"${key}":"${CENSOR}"`;
}

/** Layer 2: censors a serialized log line. Pure; applied to every line before any destination. */
export function censorLine(line: string): string {
  let out = line.replace(JSON_PAIR_RE, censorPair);
  for (const re of TEXT_PATTERNS) out = out.replace(re, `$1${CENSOR}`);
  return out;
}
