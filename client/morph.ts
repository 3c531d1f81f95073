/** Morphing a component root into its new server-rendered HTML (idiomorph keeps focus and input state). */
import { Idiomorph } from 'idiomorph';

/**
 * Morphs `root` (outerHTML) into `html`. The root node itself survives when the new HTML has the
 * same tag; the focused field keeps what the user typed.
 */
export function morphComponent(root: Element, html: string): void {
  Idiomorph.morph(root, html, { morphStyle: 'outerHTML', ignoreActiveValue: true });
}
