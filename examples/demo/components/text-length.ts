/**
 * Text lengths in the reference app's forms. The server counts characters (code points: an emoji or
 * an Adlam letter is one, as the auth module counts a name or a password), while a browser counts an
 * input's `maxlength` in UTF-16 units, two for each of those: a `maxlength` equal to the limit cut a
 * pasted value silently, and the user's text was not what was saved.
 */

/** The number of characters (code points) in `text`. */
export const charCount = (text: string): number => [...text].length;

/**
 * The `maxlength` of a field whose server limit is `chars` characters: their longest UTF-16 form, so
 * the browser never cuts what the server accepts, and a longer value gets the server's message.
 */
export const maxlengthFor = (chars: number): number => 2 * chars;
