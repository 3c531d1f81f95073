/**
 * Field messages of a 400 `VALIDATION_FAILED` (`errors: { field: [messages] }`, dotted paths, `_`
 * for the params as a whole) shown inside the component, where the markup asks for them:
 * `<span data-lc-error="item" hidden></span>` gets the messages of `item` and is shown; a form field
 * named `item` gets `aria-invalid="true"`. Any other answer clears them (a successful one re-renders
 * the component anyway), so a message never outlives the attempt it was about.
 */
import { ATTR } from '../src/core/wire.js';

type FieldErrors = Readonly<Record<string, unknown>>;

/** Fields this module marked invalid: only those are unmarked, never an `aria-invalid` the server rendered. */
const marked = new WeakSet<Element>();

/** Shows `errors` in `root` (none: clears every message and mark). */
export function showFieldErrors(root: Element, errors: FieldErrors | undefined): void {
  const messagesOf = (field: string): string[] => {
    const value = errors !== undefined && Object.hasOwn(errors, field) ? errors[field] : undefined;
    return Array.isArray(value) ? value.map(String) : [];
  };
  for (const slot of root.querySelectorAll<HTMLElement>(`[${ATTR.error}]`)) {
    const messages = messagesOf(slot.getAttribute(ATTR.error) ?? '');
    slot.textContent = messages.join(' ');
    slot.hidden = messages.length === 0;
  }
  for (const field of root.querySelectorAll('input[name], select[name], textarea[name]')) {
    if (messagesOf(field.getAttribute('name') ?? '').length > 0) {
      field.setAttribute('aria-invalid', 'true');
      marked.add(field);
    } else if (marked.delete(field)) {
      field.removeAttribute('aria-invalid');
    }
  }
}
