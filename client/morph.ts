/** Morphing a component root into its new server-rendered HTML (idiomorph keeps focus and input state). */
import { Idiomorph } from 'idiomorph';
import { ATTR } from '../src/core/wire.js';
import { parseFragment } from './html.js';

/** The named form fields of an element (no buttons: they hold no typed value). */
export const NAMED_FIELDS = 'input[name], select[name], textarea[name]';

/** Input types that take no typing: focused, they still take the server's value, label and `checked`. */
const NOT_TEXT_ENTRY: readonly string[] = ['checkbox', 'radio', 'button', 'submit', 'reset', 'image', 'file', 'range', 'color'];

/** Whether `el` is a control the user may be typing or choosing in. */
function isTextEntry(el: Element | null): boolean {
  if (el instanceof HTMLInputElement) return !NOT_TEXT_ENTRY.includes(el.type);
  return el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement || (el instanceof HTMLElement && el.isContentEditable);
}

type Field = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;

/**
 * Where a field or button is across re-renders without an `id`: its form's `data-lc-action` and
 * `data-lc-params`, its own `data-lc-params` (each row's "Remove" button outside a form has its own;
 * not its own action: a "Follow" button re-rendered as "Unfollow" is the same button), and its name.
 */
const placeKey = (el: Element): string => {
  const form = el.closest('form');
  return [form?.getAttribute(ATTR.action), form?.getAttribute(ATTR.params), el.getAttribute(ATTR.params), el.getAttribute('name')].join('\n');
};

/**
 * What identifies a field across re-renders without an `id`: its `placeKey` — and, without a name,
 * what kind of field it is (tag, input type, read-only, editable), so that an element of another kind
 * inserted before it is not taken for it.
 */
const fieldKey = (el: Element): string =>
  placeKey(el) + (el.hasAttribute('name') ? '' : [el.tagName, (el as Field).type, (el as HTMLInputElement).readOnly, (el as HTMLElement).isContentEditable]);

/** The fields and editable elements of `root` with key `key` (none without one: no scan), in tree order: the focused one is found again by its rank among them. */
const fieldsLike = (root: Element, key: string | false): Field[] =>
  key ? [...root.querySelectorAll<Field>('input,select,textarea,[contenteditable]')].filter((el) => fieldKey(el) === key) : [];

/** A field the user changed, and how to find its counterpart after a morph: key, rank, type, and how many fields had the key. */
export type NotedField = [key: string, rank: number, value: string, type: string, count: number];

/**
 * The text fields, textareas and single selects of `form` that the user changed (their value is not
 * the one the markup gave), each with its key and rank among the fields of `root` (as for the focused
 * field below). Not hidden inputs (the server's to set), boxes, radios or multiple selects.
 */
export const noteFields = (root: Element, form: HTMLFormElement): NotedField[] =>
  [...form.querySelectorAll<Field>(NAMED_FIELDS)]
    .filter((el) => isTextEntry(el) && el.type !== 'hidden' && el.type !== 'select-multiple' && (el instanceof HTMLSelectElement ? !el.selectedOptions[0]?.defaultSelected : el.value !== el.defaultValue))
    .map((el) => {
      const like = fieldsLike(root, fieldKey(el));
      return [fieldKey(el), like.indexOf(el), el.value, el.type, like.length];
    });

/**
 * Puts the `noted` values back into their counterparts among the fields of `root`: same key, same
 * rank — only where the rows did not change (as many fields of that key: else a rank may name
 * another row's field), and into a field of the same type still open to typing, a select only if it
 * still offers the value.
 */
export function restoreFields(root: Element, noted: NotedField[]): void {
  for (const [key, rank, value, type, count] of noted) {
    const like = fieldsLike(root, key);
    const field = like[rank] as HTMLInputElement | undefined;
    if (like.length === count && field?.type === type && !field.disabled && !field.readOnly && (type !== 'select-one' || Array.from((field as unknown as HTMLSelectElement).options, (o) => o.value).includes(value))) field.value = value;
  }
}

/**
 * The open state the server last rendered on each `<dialog>` and `<details>`: another one is the
 * user's or the page script's. Noted at each morph, and for the page's own markup at the first change
 * of its `open` attribute (`watchOpenState`).
 */
const rendered = new WeakMap<Element, boolean>();

/** Notes, for each `<dialog>` or `<details>` whose `open` attribute changed, the state before its first change: the server's. */
const noteOpenChanges = (records: MutationRecord[]): void => {
  for (const { target, oldValue } of records) if ((target as Element).matches('dialog,details') && !rendered.has(target as Element)) rendered.set(target as Element, oldValue !== null);
};

/** Watches the `open` attributes of `doc` (one observer per page: directives.ts binds it once). */
let openWatcher: MutationObserver | undefined;

/**
 * Watches `doc` for the `open` attribute of `<dialog>` and `<details>` changing — the user opening or
 * closing one, a page script — to note the server's state before it (`noteOpenChanges`). Not the
 * `toggle` event: the parser queues one ("closed" → "open") for each `<details open>` it inserts,
 * which fires before or after the runtime binds, as the browser's timing has it; taken for the
 * user's, every `<details>` rendered open was noted as rendered closed (one the user then closed
 * looked unchanged and took another row's state). The parser sets no attribute on an element in the
 * page, so it makes no record here; and a morph takes the records still pending first.
 */
export function watchOpenState(doc: Document): void {
  openWatcher = new MutationObserver(noteOpenChanges);
  openWatcher.observe(doc, { subtree: true, attributeFilter: ['open'], attributeOldValue: true });
}

/**
 * The content the server last rendered in each editable element (`contenteditable`): what the user
 * typed is in its markup, and it has no `defaultValue` to be found again by when rows are added or
 * removed (`morphComponent`). Noted at each morph, and for the page's own markup before its first
 * edit (`noteEdit`).
 */
const renderedContent = new WeakMap<Element, string>();

/** Notes the content an editable element had before its first edit: the server's (bound on the document by directives.ts). */
export const noteEdit = ({ target }: Event): void => void (renderedContent.has(target as Element) || renderedContent.set(target as Element, (target as Element).innerHTML));

/**
 * What `el` was rendered with: a field's `defaultValue`, else (an editable element, a select: their
 * markup holds no typed text or choice but an editable element's) its content as the server last
 * rendered it.
 */
const renderedValue = (el: Element): string => (el as HTMLInputElement).defaultValue ?? renderedContent.get(el) ?? el.innerHTML;

/**
 * Gives `next`, the new markup of the `<dialog>` or `<details>` `el`, the open state that `el` is to
 * show: the user's or the page's when they changed it since the server rendered it, else the
 * server's — but an open one is never closed: a modal dialog losing `open` is hidden but stays
 * modal, the whole page inert.
 */
function keepOpen(el: HTMLDetailsElement, next: Element): void {
  const { open } = el;
  const changed = open !== (rendered.get(el) ?? open);
  rendered.set(el, next.hasAttribute('open'));
  next.toggleAttribute('open', open || (!changed && next.hasAttribute('open')));
}

/**
 * What identifies an element across re-renders, for the state the user gave it (`morphComponent`):
 * its tag and attributes, but `open` (the user's, on a `<details>`).
 */
const shellOf = (el: Element): string => el.tagName + Array.from(el.attributes, (a) => (a.name === 'open' ? '' : ` ${a.name}=${a.value}`)).join('');

/** The elements of `tree` with the shell of `el` (its tag's only are looked at), in tree order. */
const shellsLike = (tree: ParentNode, el: Element): Element[] => [...tree.querySelectorAll(CSS.escape(el.localName))].filter((e) => shellOf(e) === shellOf(el));

/** Ids lent so far on this page (below): each morph its own, so that none is one of the page's. */
let lentCount = 0;

/**
 * Morphs `root` (outerHTML) into `html`. The root node itself survives when the new HTML has the
 * same tag. A focused text field, select or editable element keeps what the user typed or chose
 * (idiomorph's `ignoreActiveValue` leaves its value, its `value` attribute and its children alone);
 * any other focused element — the button just clicked, a checkbox — takes the new markup like the
 * rest, and so does a focused field inside `reset` (a `data-lc-reset` form whose action succeeded:
 * its fields show what the server rendered). A `<dialog>` or `<details>` keeps the open state the
 * user or the page gave it (`keepOpen`), and stays with its own row, as does the scroll position of
 * a box (below). Throws when the HTML cannot be parsed or morphed (a CSP
 * refusing the Trusted Types policy, say).
 *
 * Idiomorph keeps a focused field only when it can match it: by `id`, or by position. New markup
 * inserted before it (a "Remove" form per item above an "add" form, a notice above an editable
 * element) makes it morph the focused one into the new element and the field is lost. So the focused
 * field is noted first (`fieldKey`, its rank, value and selection), it and its counterpart in the new
 * markup are matched by a lent id, and when the morph still did not keep it, the counterpart takes
 * its value (not in `reset`: there the server's stands), focus and selection. Focus that was in the
 * component and would drop to `<body>` goes to the root instead (WCAG 2.4.3).
 */
export function morphComponent(root: Element, html: string, reset?: Element): void {
  const doc = root.ownerDocument;
  // Changes of `open` since the last records were delivered (a click in this very task).
  noteOpenChanges(openWatcher?.takeRecords() ?? []);
  const active = doc.activeElement as HTMLInputElement | null;
  // (A component root never contains `<body>`.)
  const inside = root.contains(active);
  const typing = isTextEntry(active);
  const keep = typing && !reset?.contains(active);
  // Falsy when no text field or editable element is focused.
  const key = typing && fieldKey(active!);
  const like = fieldsLike(root, key);
  const { value, selectionStart, selectionEnd, selectionDirection } = active ?? {};
  // A `<select multiple>` holds more choices than its `value` (the first): all are noted.
  const chosen = active instanceof HTMLSelectElement && Array.from(active.selectedOptions, (option) => option.value);
  const next = parseFragment(html);
  // The focused field's counterpart in the new markup: same key, same rank. For a focused button
  // (or box, or radio), and a field without a name whose kind the answer changed (a text field now a
  // search one): its own place, noted now, as idiomorph updates the form before asking.
  // Rows added or removed, a rank may name another row's field: the twin is then the one rendered with
  // the value (an editable element: the content, `renderedValue`) the focused one was rendered with, if
  // only one was (none: the server's markup wins).
  const twins = fieldsLike(next as unknown as Element, key);
  const moved = twins.length > 0 && twins.length !== like.length;
  const same = twins.filter((el) => renderedValue(el) === renderedValue(active!));
  const twin = moved ? (same.length === 1 ? same[0] : undefined) : twins[like.indexOf(active!)];
  const own = inside && placeKey(active!);
  // Both given the same (passing) id, the focused element and its twin are matched by idiomorph as
  // by an id of their own: the node stays, with its typed text, focus and caret, even when an element
  // of its tag is inserted before it (which idiomorph would morph the focused one into).
  // (The runtime's `lc-` prefix.)
  const lent = twin && !twin.id && !active!.id && `lc-focused-${++lentCount}`;
  if (lent) active!.id = twin.id = lent;
  // A component root inside this one is its own component's to morph (its markup here may be older
  // than what it shows). Lent an id, with its counterpart in the new markup, idiomorph matches it with
  // that one only (moved, too), and it is kept as it is, below; without one it goes.
  const nested = [...root.querySelectorAll(`[${ATTR.id}]:not([id])`)];
  for (const el of nested) {
    el.id = `lc-nested-${++lentCount}`;
    const counterpart = next.querySelector(`[${ATTR.id}="${CSS.escape(el.getAttribute(ATTR.id)!)}"]:not([id])`);
    if (counterpart) counterpart.id = el.id;
  }
  // State the user gave an element that its markup does not carry — a `<details>` or `<dialog>`
  // opened or closed since the server rendered it, a box scrolled — stays with that element: idiomorph
  // matches elements without an id by tag alone, and a row removed or inserted above would hand it to
  // another (the next row's `<details>` opened, a box morphed into a notice inserted above it, back at
  // the top). Its counterpart in the new markup is the one of the same tag and attributes (`shellOf`)
  // and rank among those, or, when the answer has another number of them, the one rendered with the
  // same content, if only one was; both are lent an id. Without one, it is lent an id alone, so that
  // it is not morphed into another element: it goes, with its state (a focused field inside is found
  // again as above).
  for (const el of root.querySelectorAll<HTMLDetailsElement>('*')) {
    if (el.id || (el.open === (rendered.get(el) ?? el.open) && !el.scrollTop && !el.scrollLeft)) continue;
    const olds = shellsLike(root, el);
    const news = shellsLike(next, el);
    const same = olds.length === news.length ? [news[olds.indexOf(el)]] : news.filter((e) => e.innerHTML === el.innerHTML);
    const counterpart = same.length === 1 && same[0];
    el.id = `lc-kept-${++lentCount}`;
    if (counterpart) counterpart.id = el.id;
    nested.push(el);
  }
  try {
    Idiomorph.morph(root, next, {
      ignoreActiveValue: keep,
      // With the id lent, focus and selection are put back below only: idiomorph's own restoring (by id)
      // called setSelectionRange on a field the answer turned into one without a selection (text →
      // email), which threw before idiomorph 0.8 (it now ignores the error).
      restoreFocus: !lent,
      // Matched with another field (of another form or name, or another rank), the focused one is
      // blurred first, so it takes that field's markup and value in full instead of carrying the typed
      // text over; a focused button matched with another form's or another row's (a row's "Remove",
      // its `data-lc-params`) is blurred too, so the next Enter does not press it: focus goes to the root below.
      callbacks: {
        beforeNodeMorphed: (old, el) => {
          const id = (old as Element).getAttribute?.(ATTR.id);
          if (old !== root && id && id === (el as Element).getAttribute(ATTR.id)) return false;
          if (old === active && (twin || moved || (key && active.name) ? el !== twin : placeKey(el as Element) !== own)) active.blur();
          // What the server renders in it now (kept as typed when focused, else taken).
          if ((old as HTMLElement).isContentEditable) renderedContent.set(old as Element, (el as Element).innerHTML);
          if ((old as Element).matches?.('dialog,details')) keepOpen(old as HTMLDetailsElement, el as Element);
        },
      },
    });
  } finally {
    // Wherever it ended up: the root may be another element now (its tag changed), or the morph may
    // have thrown halfway.
    if (lent) {
      active!.removeAttribute('id');
      doc.getElementById(lent)?.removeAttribute('id');
    }
    // (The counterpart is in the page instead when it could not take the old root's place: another tag.)
    for (const el of nested) {
      doc.getElementById(el.id)?.removeAttribute('id');
      el.removeAttribute('id');
    }
  }
  // The ones the answer inserted show the server's state; the morph's own changes of `open` are the server's, not the user's.
  for (const el of root.querySelectorAll<HTMLDetailsElement>('dialog,details')) if (!rendered.has(el)) rendered.set(el, el.open);
  openWatcher?.takeRecords();
  // (A root replaced by another tag is left to idiomorph: components keep theirs.)
  if (!inside || !root.isConnected) return;
  const field = doc.activeElement === active ? undefined : fieldsLike(root, key)[twins.indexOf(twin!)];
  if (field) {
    if (keep && chosen && field instanceof HTMLSelectElement) for (const option of field.options) option.selected = chosen.includes(option.value);
    else if (keep) field.value = value!;
    field.focus();
    // Only text inputs and textareas have a selection (`null` on the other input types, whose
    // setSelectionRange throws: the server may turn a text field into an email one).
    if ((field as HTMLInputElement).selectionStart != null) (field as HTMLInputElement).setSelectionRange(selectionStart!, selectionEnd!, selectionDirection!);
  }
  if (doc.activeElement === doc.body || doc.activeElement === root) {
    // The focused element is gone (WCAG 2.4.3): focus goes to the component itself, not to its first
    // control, which may be a "Remove" button that the next Enter would press. The root takes focus
    // without entering the Tab order, and the next Tab goes on from there. (A root focused so loses
    // its `tabindex` in the next morph, the server's markup having none: it is put back.) The
    // `tabindex` added goes when the root loses focus (a click inside would focus the root again), or
    // at once when the root cannot take focus (hidden, inert).
    const added = !root.hasAttribute('tabindex');
    if (added) root.setAttribute('tabindex', '-1');
    // Without scrolling: the root of a long list would jump into view.
    (root as HTMLElement).focus({ preventScroll: true });
    if (added && doc.activeElement === root) root.addEventListener('blur', () => root.removeAttribute('tabindex'), { once: true });
    else if (added) root.removeAttribute('tabindex');
  }
}
