/**
 * Types for the part of idiomorph 0.8 the runtime uses, as the bundle takes it (the package's own
 * declarations describe the whole library; this ambient module wins over them): scripts/bundle-client.mjs (`IDIOMORPH_EDITS`) leaves out its defaults, its other
 * morph styles and callbacks, and its result, so every option used is passed.
 */
declare module 'idiomorph' {
  export interface IdiomorphConfig {
    /** Keep the focused element's value (what the user is typing). */
    ignoreActiveValue: boolean;
    /** Put focus back, by id, on a focused input or textarea the morph replaced. */
    restoreFocus: boolean;
    callbacks: {
      /** Called before `oldNode` takes `newNode`'s markup; `false` leaves it as it is. */
      beforeNodeMorphed(oldNode: Node, newNode: Node): boolean | undefined;
    };
  }
  export const Idiomorph: {
    /** Morphs `oldNode`, an element with a parent, into `newContent` (its outer HTML). */
    morph(oldNode: Element, newContent: DocumentFragment, config: IdiomorphConfig): void;
  };
}
