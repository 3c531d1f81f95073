/**
 * Field messages of a 400 `VALIDATION_FAILED` (`errors: { field: [messages] }`, dotted paths, `_`
 * for the params as a whole) shown inside the component, where the markup asks for them:
 * `<span data-lc-error="item" hidden></span>` gets the messages of `item` and is shown; a form field
 * named `item` gets `aria-invalid="true"`. Any other answer clears them (a successful one re-renders
 * the component anyway), so a message never outlives the attempt it was about. A shown message is
 * linked to its field: its slot gets an id when it has none (`data-lc-error:<component id>:<field>`, both
 * URI-encoded), added to the field's `aria-describedby` after the ids already there, and removed from
 * it when the message is cleared.
 */
import { ATTR } from '../src/core/wire.js';

type FieldErrors = Readonly<Record<string, unknown>>;

/** Fields this module marked invalid: only those are unmarked, never an `aria-invalid` the server rendered. */
const marked = new WeakSet<Element>();
/** Ids this module added to a field's `aria-describedby`: only those are removed. */
const linked = new WeakMap<Element, string[]>();

/** Shows `errors` in `root` (none: clears every message and mark). */
export function showFieldErrors(root: Element, errors: FieldErrors | undefined): void {
  const messagesOf = (field: string): string[] => {
    const value = errors !== undefined && Object.hasOwn(errors, field) ? errors[field] : undefined;
    return Array.isArray(value) ? value.map(String) : [];
  };
  /** Ids of the shown slots, by field. */
  const slotIds = new Map<string, string[]>();
  for (const slot of root.querySelectorAll<HTMLElement>(`[${ATTR.error}]`)) {
    const name = slot.getAttribute(ATTR.error) ?? '';
    const messages = messagesOf(name);
    slot.textContent = messages.join(' ');
    slot.hidden = messages.length === 0;
    if (slot.hidden) continue;
    slot.id ||= [ATTR.error, root.getAttribute(ATTR.id) ?? '', name].map(encodeURIComponent).join(':');
    slotIds.set(name, [...(slotIds.get(name) ?? []), slot.id]);
  }
  for (const field of root.querySelectorAll('input[name], select[name], textarea[name]')) {
    const name = field.getAttribute('name') ?? '';
    const old = linked.get(field) ?? [];
    const ids = field.getAttribute('aria-describedby')?.split(' ').filter((id) => !old.includes(id)) ?? [];
    const added = (slotIds.get(name) ?? []).filter((id) => !ids.includes(id));
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
