/**
 * Where each interpolation of an `html` template lands, read from the template's static strings alone
 * with a small HTML tokenizer: interpolated values are escaped (`& < > " ' \``), so they cannot move
 * the tokenizer to another state. `html` builds one `Plan` per TemplateStringsArray (identity-stable
 * per call site) and keeps it in a WeakMap, so a render costs a lookup plus its escaping.
 */
import {
  AMBIGUOUS_MESSAGE, attributeRule, CODE_URL_MESSAGE, COMMENT_END_MESSAGE, DYNAMIC_VALUE_MESSAGE, LINK_PAGE_RELS, MARKUP_DECLARATION_MESSAGE, META_NAME_MESSAGE,
  PARAMS_MESSAGE, REFRESH_MESSAGE, refusal, RESOURCE_ATTRS, resourceMessage, SCRIPT_MESSAGE, STYLE_MESSAGE, TAG_NAME_MESSAGE, UNQUOTED_MESSAGE,
} from './html-rules.js';
import { AFTER_NAME, DYNAMIC, META_NAMED, META_PLAIN, NAME, ORIGIN, REFUSED, STYLE, TAGGED, URL_LIST, VALUE, type Plan } from './html-plan.js';
import { decodeAttribute, listInner, originSettled, rootAt, runsCode, urlStart } from './html-urls.js';
import { ATTR } from './wire.js';

/** Text only up to their end tag (RCDATA and raw text); `script` and `style` refuse interpolations. */
const RAW_TAGS: ReadonlySet<string> = new Set(['title', 'textarea', 'style', 'script', 'xmp', 'iframe', 'noembed', 'noframes', 'noscript']);

const enum S {
  Data, TagOpen, EndTagOpen, TagName, BeforeAttrName, AttrName, AfterAttrName, BeforeAttrValue,
  ValueDouble, ValueSingle, ValueUnquoted, AfterValueQuoted, SelfClosing, MarkupDecl, Comment, BogusComment, Raw, Plaintext,
}

const SPACE = /[\t\n\f\r ]/;
const LETTER = /[a-zA-Z]/;
/** Static text after a value in a comment that the value (`-`, `--`, or nothing) could make its end. */
const COMMENT_END_AFTER = /^-?!?>/;

/** A fragment that starts as attributes do (html` title="${x}"`): read as inside a tag, not as text. */
const ATTRIBUTE_START = /^[\t\n\f\r ]*[^\t\n\f\r "'<>/=]+[\t\n\f\r ]*=[\t\n\f\r ]*["']/;

/** A tag whose attributes a fragment or name put among them may make load a resource, or refresh the page. */
const isTaggedTag = (tag: string): boolean => RESOURCE_ATTRS[tag] !== undefined || tag === 'meta';

/** The attributes that name a `<meta>` that is not an http-equiv one. */
const META_NAMES: ReadonlySet<string> = new Set(['name', 'property', 'itemprop']);

/**
 * `inTag`: read the template as attributes (as inside a tag), for a fragment put where an attribute
 * name goes; by default, as attributes only when its first static string starts like one. `outerTag`:
 * the tag such a fragment is put into (`TAGGED`), whose rel or http-equiv outside it is not known here.
 */
export function analyse(strings: readonly string[], inTag = ATTRIBUTE_START.test(strings[0] ?? ''), outerTag = ''): Plan {
  const n = strings.length - 1;
  // In a <meta>: whether the outer tag may have an http-equiv (0), has none (1), has none and a name (2).
  const outerMeta = outerTag === META_NAMED ? 2 : outerTag === META_PLAIN ? 1 : outerTag === 'meta' ? 0 : -1;
  const kinds = new Uint8Array(n);
  const refusals: (string | undefined)[] = new Array<string | undefined>(n);
  const tags: (string | undefined)[] = [];
  let urls = null as { open: Int32Array; close: Int32Array; mode: Uint8Array; roots: Int32Array; inner: Uint8Array } | null;
  let state = (inTag ? S.BeforeAttrName : S.Data) as S;
  let buf = ''; // tag name, comment tail, or raw-text end tag in progress
  let isEnd = false;
  let selfClosing = false;
  let tag = outerMeta >= 0 ? 'meta' : outerTag;
  let attr = '';
  let dynamicName = false;
  let foreign = 0; // depth of <svg>/<math>
  // After an <svg> or <math>, whether the browser is in foreign content is not known from here on (a <p>
  // or </div> leaves it, a stray </svg> does not), so <title>, <textarea>… are read as markup, and their
  // raw-text reading is kept alongside: `shadow` is its end tag ("</title"), `shadowAt` how much of it
  // the text has matched, `shadowInData` whether its "<" was in text. Where the two readings part (that
  // end tag inside a comment or an attribute value), every later value is refused.
  let sawForeign = false;
  let shadow = '';
  let shadowAt = 0;
  let shadowInData = false;
  let ambiguous = false;
  let rawTag = '';
  // The attribute value being read.
  let valueStatic = ''; // its static text so far
  let valueText = ''; // its static text so far, with U+0001 for each interpolation
  let valueFirst = -1; // its first interpolation
  let valueCount = 0;
  let valueStart = [0, 0];
  let urlPending = false;
  let originAtRender = false; // the value starts with a value, in a resource URL: ORIGIN kinds
  // In the tag being read: whether its first rel is known to name a page only (1) or not (2), and
  // why a <meta content> is refused (its http-equiv is, or may be, refresh); the <link href> and
  // <meta content> values whose kind waits for the end of the tag (rel and http-equiv may come after
  // them), with their kind as a resource. The outer tag's rel and http-equiv are not known here.
  let rel = outerTag === 'link' ? 2 : 0;
  let refresh = outerMeta === 0 ? META_NAME_MESSAGE : undefined;
  // In a <meta>: whether it writes an http-equiv with a value, or a name (META_NAMES); its TAGGED values.
  let equiv = false;
  let named = outerMeta === 2;
  let metaTagged: number[] = [];
  // Whether a template read as attributes ended the tag it started in: the outer template's attributes
  // after it would go to the tag it ends in, which the outer template did not read (<img ${html` alt=""><script `} src="${x}">).
  let ended = false;
  let codeUrl = false; // the static text before the value's first interpolation starts a javascript:… URL
  let waiting: [number, number, string | undefined][] = [];

  const refuse = (i: number, message: string): void => {
    kinds[i] = REFUSED;
    refusals[i] = refusal(message, strings, i);
  };
  const startAttr = (name: string, dynamic: boolean): void => {
    attr = name;
    dynamicName = dynamic;
    state = S.AttrName;
    // An attribute fragment or name before the first rel may hold a rel of its own, which would win.
    if (dynamic && rel === 0) rel = 2;
  };
  /** At the end of a tag (or of the template inside one): the <link href> and <meta content> values that wait on rel / http-equiv. */
  const settleTag = (): void => {
    if (tag === 'meta') {
      // A fragment in a <meta> that writes no http-equiv: its content takes a value if it, or the tag, names the meta.
      if (outerMeta === 1 && (!named || equiv)) refresh ??= META_NAME_MESSAGE;
      const plain = refresh === undefined && !equiv && outerMeta !== 0;
      for (const i of metaTagged) tags[i] = !plain ? 'meta' : named ? META_NAMED : META_PLAIN;
    }
    metaTagged = [];
    for (const [i, kind, message] of waiting) {
      if (tag === 'meta' || tag === '') {
        if (refresh !== undefined) refuse(i, refresh);
      } else if (rel !== 1) {
        kinds[i] = kind;
        refusals[i] = message;
      }
    }
    waiting = [];
  };
  const openValue = (j: number, offset: number): void => {
    valueStatic = '';
    valueText = '';
    valueFirst = -1;
    valueCount = 0;
    valueStart = [j, offset];
    urlPending = false;
  };
  const closeValue = (j: number, offset: number): void => {
    if (urlPending && urls !== null) urls.close[j] = offset;
    urlPending = false;
    // <meta ${'http-equiv'}="refresh">: the http-equiv is not known. A fragment naming one is refused at render (html.ts).
    if (dynamicName && tag === 'meta') refresh ??= META_NAME_MESSAGE;
    if (!dynamicName && attr === 'rel' && rel === 0) {
      const rels = decodeAttribute(valueStatic).toLowerCase().split(/[\t\n\f\r ]+/).filter((r) => r !== '');
      rel = valueCount === 0 && rels.length > 0 && rels.every((r) => LINK_PAGE_RELS.has(r)) ? 1 : 2;
    }
    if (!dynamicName && attr === 'http-equiv') equiv = true;
    if (!dynamicName && META_NAMES.has(attr)) named = true;
    if (!dynamicName && attr === 'http-equiv' && (valueCount > 0 || decodeAttribute(valueStatic).trim().toLowerCase() === 'refresh')) refresh = REFRESH_MESSAGE;
    if (!dynamicName && attr === ATTR.params && valueCount > 0 && (valueCount > 1 || valueStatic !== '')) {
      for (let k = valueFirst; k < valueFirst + valueCount; k++) if (kinds[k] === VALUE) refuse(k, PARAMS_MESSAGE);
    }
  };
  const emitTag = (): void => {
    state = S.Data;
    settleTag();
    ended = true;
    if (isEnd) {
      if (foreign > 0 && (tag === 'svg' || tag === 'math')) foreign--;
      return;
    }
    // <noscript> is raw text where scripting is on (the page) and markup where it is off (DOMParser,
    // which the client parses updates with): both readings, as for the raw text after an <svg>.
    if (tag === 'script' || tag === 'style' || (!sawForeign && tag !== 'noscript' && RAW_TAGS.has(tag))) {
      if (foreign === 0 || !selfClosing) {
        state = S.Raw;
        rawTag = tag;
        buf = '';
      }
    } else if (RAW_TAGS.has(tag)) {
      if (shadow === '') shadow = `</${tag}`;
    } else if (!sawForeign && tag === 'plaintext') state = S.Plaintext;
    else if ((tag === 'svg' || tag === 'math') && !selfClosing) {
      foreign++;
      sawForeign = true;
    }
  };
  const interpolation = (i: number): void => {
    const afterName = state === S.AttrName || state === S.AfterAttrName;
    if (ambiguous || shadowAt > 0) {
      refuse(i, AMBIGUOUS_MESSAGE);
      shadowAt = 0;
      return;
    }
    switch (state) {
      case S.Data:
      case S.BogusComment:
      case S.Plaintext:
        return;
      case S.Comment:
        buf = 'x';
        if (COMMENT_END_AFTER.test(strings[i + 1] ?? '')) refuse(i, COMMENT_END_MESSAGE);
        return;
      case S.Raw:
        if (rawTag === 'script' || rawTag === 'style') {
          refuse(i, rawTag === 'script' ? SCRIPT_MESSAGE : STYLE_MESSAGE);
        } else if (buf !== '') refuse(i, TAG_NAME_MESSAGE);
        buf = '';
        return;
      case S.TagOpen:
      case S.EndTagOpen:
      case S.TagName:
        refuse(i, TAG_NAME_MESSAGE);
        return;
      case S.MarkupDecl:
        refuse(i, MARKUP_DECLARATION_MESSAGE);
        return;
      case S.BeforeAttrValue:
      case S.ValueUnquoted:
        refuse(i, UNQUOTED_MESSAGE);
        state = S.ValueUnquoted;
        return;
      case S.ValueDouble:
      case S.ValueSingle:
        attributeValue(i);
        valueText += '\u0001';
        return;
      case S.AttrName:
        startAttr(attr, true);
        break;
      default: // before or after an attribute name, after a value, after `/`
        startAttr('', true);
    }
    // Right after a name (hr${…}, href ${…}), what the value renders must not give that name a value.
    kinds[i] = isTaggedTag(tag) ? TAGGED : afterName ? AFTER_NAME : NAME;
    tags[i] = tag;
    if (tag === 'meta') metaTagged.push(i);
  };
  const attributeValue = (i: number): void => {
    if (valueCount++ === 0) valueFirst = i;
    kinds[i] = VALUE;
    if (dynamicName) {
      if (tag === 'meta') refuse(i, META_NAME_MESSAGE);
      else if (valueCount === 1 && valueStatic === '') {
        kinds[i] = DYNAMIC;
        tags[i] = tag;
      }
      else refuse(i, DYNAMIC_VALUE_MESSAGE);
      return;
    }
    const rule = attributeRule(attr, tag);
    if (rule.startsWith('!')) refuse(i, rule.slice(1));
    else if (rule === 'style') kinds[i] = STYLE;
    else if (rule === 'url' && (valueCount === 1 ? (codeUrl = runsCode(urlStart(valueStatic))) : codeUrl)) refuse(i, CODE_URL_MESSAGE);
    else if (rule === 'text' && attr === 'content' && (tag === 'meta' || tag === '')) waiting.push([i, VALUE, undefined]);
    else if (rule === 'resource' || rule === 'url' || rule === 'urls') url(i, rule);
  };
  const url = (i: number, rule: 'resource' | 'url' | 'urls'): void => {
    const first = valueCount === 1;
    // href="/${x}", srcset="/a.png 1x, /${x} 2x": a / or \ the value starts with would make //host,
    // another origin (keepRoot, at render). A list's later values may start a candidate of their own.
    const opensHere = valueStart[0] === i;
    const at = first || rule === 'urls' ? rootAt(opensHere ? (strings[i] ?? '').slice(valueStart[1]) : (strings[i] ?? ''), opensHere, rule === 'urls') : -1;
    if (rule === 'resource') {
      // A <link> waits for its rel: as a page's URL, it is an ordinary one.
      const later = tag === 'link';
      if (first) originAtRender = valueStatic === '';
      const message = refusal(resourceMessage(tag, attr), strings, i);
      // After a / alone, the value cannot leave the origin: a path from the root.
      const kind = originAtRender ? ORIGIN : first && at < 0 && !originSettled(urlStart(valueStatic)) ? REFUSED : VALUE;
      if (later) waiting.push([i, kind, kind === VALUE ? undefined : message]);
      else if (kind !== VALUE) {
        kinds[i] = kind;
        refusals[i] = message;
      }
    }
    if (first && (at >= 0 || rule === 'urls' || valueStatic.includes('&') || !/[/?#:]/.test(valueStatic))) {
      const size = strings.length;
      urls ??= {
        open: new Int32Array(size).fill(-1), close: new Int32Array(size).fill(-1), mode: new Uint8Array(size), roots: new Int32Array(size).fill(-1), inner: new Uint8Array(size),
      };
      urls.open[valueStart[0] ?? 0] = valueStart[1] ?? 0;
      urls.mode[valueStart[0] ?? 0] = rule === 'urls' ? URL_LIST : 0;
      urlPending = true;
    }
    // srcset="/img/${x} 2x": a separator in x would start a candidate of its own, from any origin.
    if (rule === 'urls' && urls !== null) urls.inner[i] = listInner(attr, valueText);
    if (at >= 0 && urls !== null) urls.roots[i] = (opensHere ? (valueStart[1] ?? 0) : 0) + at;
  };

  for (let j = 0; j <= n; j++) {
    const s = strings[j] ?? '';
    for (let k = 0; k < s.length; k++) {
      const c = s[k] as string;
      if (shadow !== '') {
        if (c === '<') {
          shadowAt = 1;
          shadowInData = state === S.Data;
        } else if (shadowAt === shadow.length) {
          if (SPACE.test(c) || c === '/' || c === '>') {
            ambiguous ||= !shadowInData;
            shadow = '';
          }
          shadowAt = 0;
        } else if (shadowAt > 0) shadowAt = c.toLowerCase() === shadow[shadowAt] ? shadowAt + 1 : 0;
      }
      switch (state) {
        case S.Data:
          if (c === '<') state = S.TagOpen;
          break;
        case S.TagOpen:
          if (LETTER.test(c)) {
            isEnd = false;
            selfClosing = false;
            buf = c.toLowerCase();
            state = S.TagName;
            rel = 0;
            refresh = undefined;
            equiv = false;
            named = false;
          } else if (c === '/') state = S.EndTagOpen;
          else if (c === '!') {
            buf = '';
            state = S.MarkupDecl;
          } else if (c === '?') state = S.BogusComment;
          else {
            state = S.Data;
            k--;
          }
          break;
        case S.EndTagOpen:
          if (LETTER.test(c)) {
            isEnd = true;
            selfClosing = false;
            buf = c.toLowerCase();
            state = S.TagName;
          } else state = c === '>' ? S.Data : S.BogusComment;
          break;
        case S.TagName:
          if (SPACE.test(c) || c === '/' || c === '>') {
            tag = buf;
            state = S.BeforeAttrName;
            k--;
          } else buf += c.toLowerCase();
          break;
        case S.BeforeAttrName:
        case S.AfterValueQuoted:
          if (c === '/') state = S.SelfClosing;
          else if (c === '>') emitTag();
          else if (!SPACE.test(c)) startAttr(c.toLowerCase(), false);
          else state = S.BeforeAttrName;
          break;
        case S.AttrName:
          if (SPACE.test(c)) state = S.AfterAttrName;
          else if (c === '/') state = S.SelfClosing;
          else if (c === '>') emitTag();
          else if (c === '=') state = S.BeforeAttrValue;
          else attr += c.toLowerCase();
          break;
        case S.AfterAttrName:
          if (c === '/') state = S.SelfClosing;
          else if (c === '>') emitTag();
          else if (c === '=') state = S.BeforeAttrValue;
          else if (!SPACE.test(c)) startAttr(c.toLowerCase(), false);
          break;
        case S.BeforeAttrValue:
          if (c === '"' || c === "'") {
            state = c === '"' ? S.ValueDouble : S.ValueSingle;
            openValue(j, k + 1);
          } else if (c === '>') emitTag();
          else if (!SPACE.test(c)) {
            state = S.ValueUnquoted;
            openValue(j, k);
          }
          break;
        case S.ValueDouble:
        case S.ValueSingle:
          if (c === (state === S.ValueDouble ? '"' : "'")) {
            closeValue(j, k);
            state = S.AfterValueQuoted;
          } else {
            valueStatic += c;
            valueText += c;
          }
          break;
        case S.ValueUnquoted:
          if (SPACE.test(c)) {
            closeValue(j, k);
            state = S.BeforeAttrName;
          } else if (c === '>') {
            closeValue(j, k);
            emitTag();
          } else valueStatic += c;
          break;
        case S.SelfClosing:
          if (c === '>') {
            selfClosing = true;
            emitTag();
          } else {
            state = S.BeforeAttrName;
            k--;
          }
          break;
        case S.MarkupDecl:
          buf += c;
          if (buf === '--') {
            buf = '';
            state = S.Comment;
          } else if (buf !== '-') {
            state = S.BogusComment;
            if (c === '>') state = S.Data;
          }
          break;
        case S.Comment:
          buf += c;
          if (buf === '>' || buf === '->' || buf.endsWith('-->') || buf.endsWith('--!>')) state = S.Data;
          else if (buf.length > 4) buf = buf.slice(-4);
          break;
        case S.BogusComment:
          if (c === '>') state = S.Data;
          break;
        case S.Raw:
          if (c === '<') buf = '<';
          else if (buf !== '') {
            const end = `</${rawTag}`;
            if (buf.length === end.length && (SPACE.test(c) || c === '/' || c === '>')) {
              isEnd = true;
              tag = rawTag;
              state = S.BeforeAttrName;
              k--;
            } else if (buf.length < end.length && c.toLowerCase() === end[buf.length]) buf += c.toLowerCase();
            else buf = '';
          }
          break;
        case S.Plaintext:
          break;
      }
    }
    if (j < n) interpolation(j);
  }
  if (urlPending && urls !== null) urls.close[n] = (strings[n] ?? '').length;
  settleTag();
  const open = inTag
    ? ended || !(state === S.BeforeAttrName || state === S.AttrName || state === S.AfterAttrName || state === S.AfterValueQuoted || state === S.SelfClosing)
    : !(state === S.Data || state === S.Comment || state === S.BogusComment || state === S.Plaintext || (state === S.Raw && rawTag !== 'script' && rawTag !== 'style'));
  return { kinds, refusals, tags, urls, inTag, open };
}
