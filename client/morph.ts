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
 * (idiomorph's `ignoreActiveValue` leaves its value and children alone); any other focused element —
 * the button just clicked, a checkbox — takes the new markup like the rest. Throws when the HTML
 * cannot be parsed or morphed (a CSP refusing the Trusted Types policy, say).
 */
export function morphComponent(root: Element, html: string): void {
  const ignoreActiveValue = isTextEntry(root.ownerDocument.activeElement);
  Idiomorph.morph(root, parseFragment(html), { morphStyle: 'outerHTML', ignoreActiveValue });
}
