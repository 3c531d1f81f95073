/** Morphing a component root into its new server-rendered HTML (idiomorph keeps focus and input state). */
import { Idiomorph } from 'idiomorph';
import { parseFragment } from './html.js';

/** Input types that take no typing: focused, they still take the server's value, label and `checked`. */
const NOT_TEXT_ENTRY: ReadonlySet<string> = new Set(['checkbox', 'radio', 'button', 'submit', 'reset', 'image', 'file', 'range', 'color']);

/** Whether `el` is a control the user may be typing or choosing in. */
function isTextEntry(el: Element | null): boolean {
  if (el instanceof HTMLInputElement) return !NOT_TEXT_ENTRY.has(el.type);
  return el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement || (el instanceof HTMLElement && el.isContentEditable);
}

/**
 * Morphs `root` (outerHTML) into `html`. The root node itself survives when the new HTML has the
 * same tag. A focused text field, select or editable element keeps what the user typed or chose
 * (idiomorph's `ignoreActiveValue` leaves its value, its `value` attribute and its children alone);
 * any other focused element — the button just clicked, a checkbox — takes the new markup like the
 * rest, and so does a focused field inside `reset` (a `data-lc-reset` form whose action succeeded:
 * its fields show what the server rendered). Throws when the HTML cannot be parsed or morphed (a CSP
 * refusing the Trusted Types policy, say).
 */
export function morphComponent(root: Element, html: string, reset?: Element): void {
  const active = root.ownerDocument.activeElement;
  const ignoreActiveValue = isTextEntry(active) && !reset?.contains(active);
  Idiomorph.morph(root, parseFragment(html), { morphStyle: 'outerHTML', ignoreActiveValue });
}
