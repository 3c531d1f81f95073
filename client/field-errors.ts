/**
 * Field messages of a 400 `VALIDATION_FAILED` (`errors: { field: [messages] }`, dotted paths, `_`
 * for the params as a whole) shown inside the component, where the markup asks for them:
 * `<span data-lc-error="item" hidden></span>` gets the messages of `item` and is shown; a form field
 * named `item` gets `aria-invalid="true"`. Any other answer clears them (a successful one re-renders
 * the component anyway), so a message never outlives the attempt it was about. A shown message is
 * linked to its field: its slot gets an id when it has none (`lc-error-<n>`), added to the field's
 * `aria-describedby` after the ids already there (only its own form's slot when it has one: one row
 * of a list), and removed from it when the message is cleared.
 */
import { ATTR } from '../src/core/wire.js';
import { NAMED_FIELDS } from './morph.js';

type FieldErrors = Readonly<Record<string, unknown>>;

/** Fields this module marked invalid: only those are unmarked, never an `aria-invalid` the server rendered. */
const marked = new WeakSet<Element>();
/** Ids this module added to a field's `aria-describedby`: only those are removed. */
const linked = new WeakMap<Element, string[]>();
/** Slots given an id so far on this page (`lc-error-1`, `lc-error-2`…). */
let slotCount = 0;

/** Shows `errors` in `root` (none: clears every message and mark). */
export function showFieldErrors(root: Element, errors: FieldErrors | undefined): void {
  const messagesOf = (field: string): string[] => {
    const value = errors !== undefined && Object.hasOwn(errors, field) ? errors[field] : undefined;
    return Array.isArray(value) ? value.map(String) : [];
  };
  /** The shown slots, by field. */
  const shown = new Map<string, HTMLElement[]>();
  for (const slot of root.querySelectorAll<HTMLElement>(`[${ATTR.error}]`)) {
    const name = slot.getAttribute(ATTR.error) ?? '';
    const messages = messagesOf(name);
    slot.textContent = messages.join(' ');
    slot.hidden = messages.length === 0;
    if (slot.hidden) continue;
    // Numbered, not named after the field: the slots of a list's rows share a name, and ids must differ.
    slot.id ||= `lc-error-${++slotCount}`;
    shown.set(name, [...(shown.get(name) ?? []), slot]);
  }
  for (const field of root.querySelectorAll(NAMED_FIELDS)) {
    // Named as its param: a `tags[]` box sends `tags`, whose errors the server reports.
    const name = (field.getAttribute('name') ?? '').replace(/\[\]$/, '');
    const old = linked.get(field) ?? [];
    const ids = field.getAttribute('aria-describedby')?.split(' ').filter((id) => !old.includes(id)) ?? [];
    // Its own form's message when it has one (a row of a list), else every message of its name.
    const slots = shown.get(name) ?? [];
    const own = slots.filter((slot) => field.closest('form')?.contains(slot));
    const added = (own.length ? own : slots).map((slot) => slot.id).filter((id) => !ids.includes(id));
    linked.set(field, added);
    const describedBy = [...ids, ...added].join(' ').trim();
    if (describedBy) field.setAttribute('aria-describedby', describedBy);
    else field.removeAttribute('aria-describedby');
    if (messagesOf(name).length > 0) {
      field.setAttribute('aria-invalid', 'true');
      marked.add(field);
    } else if (marked.delete(field)) {
      field.removeAttribute('aria-invalid');
    }
  }
}
