/**
 * Field messages of a 400 `VALIDATION_FAILED` (`errors: { field: [messages] }`, dotted paths, `_`
 * for the params as a whole) shown inside the component, where the markup asks for them:
 * `<span data-lc-error="item" hidden></span>` gets the messages of `item` and of the keys under it
 * (`item.1`, `item.1.street`: an array's elements, an object's fields) and is shown; a form field
 * named `item` (or `item[]`) gets `aria-invalid="true"` for those of `item`, and for those of
 * `item.<i>` when it sent the i-th value of `item` (its form's fields of that name, in order), or
 * when no field did. Any other answer clears them (a successful one re-renders the component
 * anyway), so a message never outlives the attempt it was about. A shown message is linked to the
 * fields it is about: its slot gets an id when it has none (`lc-error-<n>`), added to the field's
 * `aria-describedby` after the ids already there (only its own form's slot when it has one: one row
 * of a list), and removed from it when the message is cleared.
 */
import { ATTR } from '../src/core/wire.js';
import { entryCount } from './directives.js';
import { NAMED_FIELDS } from './morph.js';

type FieldErrors = Readonly<Record<string, unknown>>;
type Field = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

/** Fields this module marked invalid: only those are unmarked, never an `aria-invalid` the server rendered. */
const marked = new WeakSet<Element>();
/** Ids this module added to a field's `aria-describedby`: only those are removed. */
const linked = new WeakMap<Element, string[]>();
/** Slots given an id so far on this page (`lc-error-1`, `lc-error-2`…). */
let slotCount = 0;

/** Whether `key` is `name` or a key under it (`emails.1` is under `emails`, `emailsX` is not). */
const under = (key: string, name: string): boolean => key === name || key.startsWith(`${name}.`);

/** The elements of `root` that match `selector`, but for those of a component nested in it: that one's own errors are its own. */
const within = <T extends Element>(root: Element, selector: string): T[] => [...root.querySelectorAll<T>(selector)].filter((el) => el.closest(`[${ATTR.id}]`) === root);

/**
 * Shows `errors` in `root` (none: clears every message and mark), in its own slots and fields only, not
 * in those of a component nested in it. `form`: the form whose submit they
 * answer — only its slots (and those outside any form) show them, only its fields are marked: the
 * other rows of a list did not send them.
 */
export function showFieldErrors(root: Element, errors: FieldErrors | undefined, form?: HTMLFormElement): void {
  /** The keys with messages, and their messages. */
  const messages = Object.entries(errors ?? {}).flatMap(([key, value]) => (Array.isArray(value) && value.length ? [[key, value.map(String)] as const] : []));
  /** The shown slots, each with the key it names. */
  const shown: Array<[string, HTMLElement]> = [];
  for (const slot of within<HTMLElement>(root, `[${ATTR.error}]`)) {
    const name = slot.getAttribute(ATTR.error) ?? '';
    const own = form && slot.closest('form') && !form.contains(slot) ? [] : messages.filter(([key]) => under(key, name)).flatMap(([, text]) => text);
    slot.textContent = own.join(' ');
    slot.hidden = !own.length;
    if (slot.hidden) continue;
    // Numbered, not named after the field: the slots of a list's rows share a name, and ids must differ.
    slot.id ||= `lc-error-${++slotCount}`;
    shown.push([name, slot]);
  }
  for (const field of within<Field>(root, NAMED_FIELDS)) {
    const keys = form && field.form !== form ? [] : messages.map(([key]) => key).filter((key) => isAbout(root, field, key));
    const old = linked.get(field) ?? [];
    const ids = field.getAttribute('aria-describedby')?.split(' ').filter((id) => !old.includes(id)) ?? [];
    // The slots showing its messages: its own form's when it has one (a row of a list), else all.
    const slots = shown.filter(([name]) => keys.some((key) => under(key, name))).map(([, slot]) => slot);
    const own = slots.filter((slot) => field.form?.contains(slot));
    const added = (own.length ? own : slots).map((slot) => slot.id).filter((id) => !ids.includes(id));
    linked.set(field, added);
    const describedBy = [...ids, ...added].join(' ').trim();
    if (describedBy) field.setAttribute('aria-describedby', describedBy);
    else field.removeAttribute('aria-describedby');
    if (keys.length) {
      field.setAttribute('aria-invalid', 'true');
      marked.add(field);
    } else if (marked.delete(field)) {
      field.removeAttribute('aria-invalid');
    }
  }
}

/**
 * Whether the message of `key` is about `field`: its param's own (a `tags[]` box sends `tags`, whose
 * errors the server reports), or of an element (`tags.1`) that it sent, or that no field sent.
 */
function isAbout(root: Element, field: Field, key: string): boolean {
  const { name } = field;
  const param = name.replace(/\[\]$/, '');
  if (!under(key, param)) return false;
  // The field each value of the param came from, as the form sent them (directives.ts `formParams`).
  const sent = [...(field.form?.elements ?? within(root, NAMED_FIELDS))]
    .filter((el) => el.getAttribute('name') === name)
    // (A file input's entries are not sent: formParams drops files.)
    .flatMap((el) => Array<Element>((el as Field).type === 'file' ? 0 : entryCount(el as Field, null)).fill(el));
  // `tags.1.id` is about the second value (`parseInt` reads the leading index; none: NaN, no field).
  const from = sent[parseInt(key.slice(param.length + 1))];
  return key === param || !from || from === field;
}
