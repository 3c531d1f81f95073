/**
 * Redaction in two layers, so no password, token, cookie or key reaches a log line (PROTOCOL §5).
 *
 * 1. Structured: pino `redact` paths for the fields where secrets live (headers, credentials in
 *    bodies). Fast and exact, but pino paths have a fixed depth and do not see inside strings.
 * 2. Textual, on the finished JSON line (pino's `hooks.streamWrite`, so every strategy gets it):
 *    - any value whose key names a secret, at any depth: a string (`"refresh_token":"…"`), a list
 *      of strings, or a whole object or list (`"credentials":{"user":"u","value":"…"}`), whose inner
 *      keys may name nothing secret; numbers, booleans and null stay (`"tokens_revoked":3`);
 *    - JSON held in a string (a raw request body logged as text: `"body":"{\"password\":…}"`):
 *      read and censored by these same rules, then written back as a string;
 *    - our own token formats inside free text: CSRF tokens (`v1.` + base64url), `Bearer`/`Basic`
 *      credentials, JWTs, and `name=value` pairs whose name is a secret (`lc_session=…` in a cookie
 *      header, `?token=…` in a logged URL);
 *    - the password of a URL (`postgres://app:PASSWORD@db/app`, in an error message or a config value),
 *      also one holding `@`, `#`, `/`, `"` or `\` (censorUrlPasswords);
 *    - header lists: the value after a secret name in `rawHeaders` (`['Authorization', 'Token …']`)
 *      and in `[name, value]` entries (`[['authorization', 'Token …']]`).
 *    A bare random string in a sentence cannot be told from an id, so it is not guessed at: code
 *    must not put secrets in messages, and the e2e test (test/logging/redaction.test.ts) checks it.
 *
 * Every line an attacker can shape passes through here (the "incoming request" line holds the raw
 * URL), so every pattern must run in linear time: a pattern with two quantifiers that can take the
 * same characters, such as `[\w-]*token[\w-]*=`, backtracks polynomially, and `?token-token-…` in
 * a 6 KB URL held the event loop for seconds. The rules kept below: a pattern begins only at the
 * start of a run of its characters (a lookbehind, or a literal such as `Bearer`), and each quantified
 * run is followed by a character that run cannot hold, so a failed attempt costs one pass over its
 * run and no position is tried twice. Whether a `name=` names a secret is decided in code, after the
 * match, rather than by a keyword in the middle of the pattern.
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
 * A key (in JSON) or a name (in `name=value` text, tested with its `=`) names a secret when it
 * contains one of these words. JSON keys keep numbers, so counters such as `tokens_revoked: 3` stay
 * readable. `pass` and `pw` only count as words of their own (`pass`, `db_pass`, `x-pass`, `pw`,
 * `new_pw`), not inside `compass`, `passenger` or `pwm`. `auth` only as the whole name or its last
 * word (`auth`, `basic_auth`, `x-auth`): `author`, `authorized`, `oauth` and `auth_method` stay.
 */
const SECRET_KEY_RE = /passw(?:or)?d|pwd|passcode|passphrase|(?<![a-z])(?:pass|pw)(?![a-z])|(?<![a-z])auth(?:=|$)|secret|token|authorization|cookie|session|api[_-]?key|private[_-]?key|state[_-]?keys|credential/i;
/** camelCase names ending in `Auth` (`basicAuth`, `proxyAuth`): case matters here, so `oauth` and `author` stay. */
const CAMEL_AUTH_RE = /[a-z]Auth=?$/;

function namesSecret(name: string): boolean {
  return SECRET_KEY_RE.test(name) || CAMEL_AUTH_RE.test(name);
}

/**
 * `"key":"string"` or `"key":["s1","s2"]` in serialized JSON. Keys with escapes are left alone.
 * Linear: a quote inside a logged string is escaped (`\"`), and `[^"\\]` stops at the backslash, so
 * text an attacker controls cannot open a key; the string bodies are unambiguous.
 */
const JSON_PAIR_RE = /"([^"\\]*)":("(?:[^"\\]|\\.)*"|\[(?:"(?:[^"\\]|\\.)*",?)*\])/g;

/** The name of a `name=value` pair: a whole run of name characters (never the middle of one), then `=`. */
const PAIR_NAME_RE = /(?<![\w-])[\w-]+=/g;
/** Its value, up to the next separator of cookies, query strings and form bodies. Sticky: read where the name ended. */
const PAIR_VALUE_RE = /[^&;,\s"\\]+/y;

/**
 * Where a URL's password begins: `scheme://user:` (user may be empty, as in `redis://:PASSWORD@`).
 * A user cannot hold `: / ? # @ [ ]` (RFC 3986; `[` starts an IPv6 host such as `http://[::1]:80`).
 */
const URL_USER_RE = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^\s:@/?#"\\[\]]*:/gi;
/**
 * How far a password can reach from there: up to whitespace, the end of the JSON string (a bare
 * `"`, or a `\` other than `\"` and `\\`: `\n` is a line break) or the `://` of a next URL. Sticky,
 * and no `://` inside, so the runs of two URLs never overlap and the whole line is read once.
 */
const URL_REST_RE = /(?:[^\s"\\:]|\\["\\]|:(?!\/\/))*/y;
/** `/`, `?` and `#`: the end of a URL's authority. */
const AUTHORITY_END = new Set([0x2f, 0x3f, 0x23]);
const AT = 0x40;
const PORT_RE = /^\d+$/;

/** The last `@` in `text` within [from, to), or -1. Never looks before `from` (lastIndexOf would). */
function lastAt(text: string, from: number, to: number): number {
  for (let i = to - 1; i >= from; i--) if (text.charCodeAt(i) === AT) return i;
  return -1;
}

/**
 * Censors the password of every URL: from `scheme://user:` to the `@` that ends the userinfo, which
 * may itself hold `@`, `#`, `/`, `?`, `"` or `\` (raw, as people write them in a connection string).
 * That `@` is the last one before the first `/`, `?` or `#`, as a URL parser reads `u:p@ss@host`;
 * when there is none there, the password holds one of those (`u:pa/ss@host/db`) and the last `@` of
 * the run ends it, unless what comes before that first `/`, `?` or `#` is only digits: then it is a
 * port, as in `http://registry:4873/@scope/pkg`, and nothing is censored. Whitespace ends the run,
 * so a password holding a space is censored only when an `@` comes before the space.
 */
function censorUrlPasswords(text: string): string {
  let out = '';
  let from = 0;
  URL_USER_RE.lastIndex = 0;
  for (let user = URL_USER_RE.exec(text); user !== null; user = URL_USER_RE.exec(text)) {
    const start = user.index + user[0].length;
    URL_REST_RE.lastIndex = start;
    URL_REST_RE.test(text);
    const end = URL_REST_RE.lastIndex;
    let stop = start;
    while (stop < end && !AUTHORITY_END.has(text.charCodeAt(stop))) stop++;
    let at = lastAt(text, start, stop);
    if (at === -1 && stop < end && !PORT_RE.test(text.slice(start, stop))) at = lastAt(text, stop, end);
    if (at <= start) continue; // no `@`, or an empty password (`redis://:@host`)
    out += text.slice(from, start) + CENSOR;
    from = URL_USER_RE.lastIndex = at;
  }
  return out + text.slice(from);
}

/** Keys of header lists written as `[name, value, name, value…]` (Node's `rawHeaders`, undici's `headers`). */
const HEADER_LIST_KEY_RE = /^(?:raw)?(?:headers|trailers)$/i;

/** A `[name, value]` entry inside an array (`[...headers.entries()]`, fetch's `headers: [[…]]`). */
const HEADER_ENTRY_RE = /([[,])\["([^"\\]*)","(?:[^"\\]|\\.)*"\]/g;

/** The JSON array of strings `list` with the value after every secret name censored. */
function censorHeaderList(list: string): string {
  let items: unknown;
  try {
    items = JSON.parse(list);
  } catch {
    return list;
  }
  if (!Array.isArray(items)) return list;
  let changed = false;
  for (let i = 0; i + 1 < items.length; i += 2) {
    const name: unknown = items[i];
    if (typeof name === 'string' && namesSecret(name) && items[i + 1] !== CENSOR) {
      items[i + 1] = CENSOR;
      changed = true;
    }
  }
  return changed ? JSON.stringify(items) : list;
}

function censorHeaderEntry(match: string, before: string, name: string): string {
  return namesSecret(name) ? `${before}["${name}","${CENSOR}"]` : match;
}

/** Textual patterns: each match keeps its group 1 (a label) and loses the rest. */
const TEXT_PATTERNS: readonly RegExp[] = [
  // CSRF tokens (src/pipeline/csrf/token.ts): "v1." then at least 64 base64url characters.
  /\b(v1\.)[A-Za-z0-9_-]{64,}/g,
  // HTTP credentials in free text.
  /\b((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/-]{8,}=*/g,
  // JWTs (header.payload.signature, the header always starts with `{"` → eyJ). The lookbehind,
  // not `\b`, starts it once per run: `\b` also matches after every `-` of `eyJ-eyJ-…`.
  /()(?<![\w-])eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]+/g,
];

/**
 * Censors the values of `name=value` pairs whose name is a secret. A loop rather than one
 * `replace`: after a harmless name the search goes on right behind its `=`, so the `token=` of
 * `next=/reset?token=…` is still found; a single pattern would have consumed it as `next`'s value.
 */
function censorPairs(text: string): string {
  let out = '';
  let from = 0;
  PAIR_NAME_RE.lastIndex = 0;
  for (let name = PAIR_NAME_RE.exec(text); name !== null; name = PAIR_NAME_RE.exec(text)) {
    if (!namesSecret(name[0])) continue;
    const valueStart = name.index + name[0].length;
    PAIR_VALUE_RE.lastIndex = valueStart;
    if (!PAIR_VALUE_RE.test(text)) continue;
    out += text.slice(from, valueStart) + CENSOR;
    from = PAIR_NAME_RE.lastIndex = PAIR_VALUE_RE.lastIndex;
  }
  return out + text.slice(from);
}

function censorPair(match: string, key: string, value: string): string {
  if (!namesSecret(key)) {
    if (value.startsWith('[')) return HEADER_LIST_KEY_RE.test(key) ? `"${key}":${censorHeaderList(value)}` : match;
    return value.startsWith('"{') || value.startsWith('"[') ? `"${key}":${censorJsonInString(value)}` : match;
  }
  return value.startsWith('[') ? `"${key}":["${CENSOR}"]` : `"${key}":"${CENSOR}"`;
}

/**
 * A JSON string value (with its quotes) whose text is itself JSON, as when a raw body is logged as
 * text: censored by `censorLine` and written back as a string; anything else comes back as it was.
 * Each level of nesting doubles the escapes, so the levels are few and each is read once.
 */
function censorJsonInString(value: string): string {
  let text: unknown;
  try {
    text = JSON.parse(value);
    if (typeof text !== 'string') return value;
    JSON.parse(text);
  } catch {
    return value;
  }
  const censored = censorLine(text);
  return censored === text ? value : JSON.stringify(censored);
}

/** `"key":` followed by an object or a list: where a secret key's whole value may have to go. */
const JSON_CONTAINER_KEY_RE = /"([^"\\]*)":(?=[[{])/g;

/**
 * Where the JSON object or list that opens at `start` ends (the index after its closing bracket),
 * reading strings by their escapes; -1 when the line ends first. One pass over the value.
 */
function containerEnd(line: string, start: number): number {
  let depth = 0;
  for (let i = start; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote, past escaped characters.
      for (i++; i < line.length && line.charCodeAt(i) !== 0x22; i++) if (line.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i + 1;
  }
  return -1;
}

/** Matches a list holding only strings, which `censorPair` censors keeping its shape (`["[Redacted]"]`). */
const STRING_LIST_RE = /^\[(?:"(?:[^"\\]|\\.)*",?)*\]$/;

/**
 * Replaces the whole object or list under every secret-named key with `"[Redacted]"`: the keys
 * inside (`{"user":"u","value":"…"}` under `credentials`) need not name anything secret. The search
 * resumes after each censored value, so nothing is read twice.
 */
function censorSecretContainers(line: string): string {
  let out = '';
  let from = 0;
  JSON_CONTAINER_KEY_RE.lastIndex = 0;
  for (let key = JSON_CONTAINER_KEY_RE.exec(line); key !== null; key = JSON_CONTAINER_KEY_RE.exec(line)) {
    if (!namesSecret(key[1] ?? '')) continue;
    const start = key.index + key[0].length;
    const end = containerEnd(line, start);
    if (end === -1) break;
    if (STRING_LIST_RE.test(line.slice(start, end))) continue;
    out += `${line.slice(from, start)}"${CENSOR}"`;
    from = JSON_CONTAINER_KEY_RE.lastIndex = end;
  }
  return from === 0 ? line : out + line.slice(from);
}

/** Layer 2: censors a serialized log line. Pure; applied to every line before any destination. */
export function censorLine(line: string): string {
  let out = censorPairs(censorSecretContainers(line).replace(JSON_PAIR_RE, censorPair));
  if (out.includes('["')) out = out.replace(HEADER_ENTRY_RE, censorHeaderEntry);
  out = censorUrlPasswords(out);
  for (const re of TEXT_PATTERNS) out = out.replace(re, `$1${CENSOR}`);
  return out;
}
