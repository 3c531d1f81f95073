/** Types for the part of idiomorph 0.7 the runtime uses (the package ships JavaScript only). */
declare module 'idiomorph' {
  export interface IdiomorphConfig {
    /** @default 'outerHTML' */
    morphStyle?: 'outerHTML' | 'innerHTML';
    /** Leave the focused element untouched. @default false */
    ignoreActive?: boolean;
    /** Keep the focused element's value (what the user is typing). @default false */
    ignoreActiveValue?: boolean;
    /** @default true */
    restoreFocus?: boolean;
    callbacks?: {
      /** Called before `oldNode` takes `newNode`'s markup; `false` leaves it as it is. */
      beforeNodeMorphed?(oldNode: Node, newNode: Node): boolean | undefined;
    };
  }
  export const Idiomorph: {
    morph(oldNode: Element, newContent: string | Node, config?: IdiomorphConfig): Node[] | undefined;
  };
}
