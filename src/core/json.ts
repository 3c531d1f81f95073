/**
 * JSON text of a string, remembered for the last few strings encoded. An action's HTML goes into
 * JSON twice per request — the idempotency record, then the response body — and escaping a
 * kilobyte of HTML costs microseconds, so the second encoding of the same text is a lookup.
 * A hit is decided by string equality (`===`: the same string object compares in O(1), another
 * object of another length too), so the result is always exactly `JSON.stringify(text)`.
 */

/** Strings remembered; a miss costs at most this many comparisons. */
const SLOTS = 8;
const inputs: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);
const outputs: string[] = new Array<string>(SLOTS).fill('');
let nextSlot = 0;

/** `JSON.stringify(text)`, from the memo when `text` was among the last strings encoded. */
export function jsonString(text: string): string {
  // Newest first: the response body asks for the HTML its own request just remembered, usually
  // the last one, and that same string object is found in one comparison.
  for (let n = 1, i = nextSlot; n <= SLOTS; n++) {
    i = i === 0 ? SLOTS - 1 : i - 1;
    if (inputs[i] === text) return outputs[i] as string;
  }
  return rememberJsonString(text);
}

/**
 * `JSON.stringify(text)`, remembered for a later `jsonString` of the same text, without looking
 * the text up first: for text just made (a fresh render), which a lookup would not find, and where
 * each miss compares nearly all of an HTML string of the same length.
 */
export function rememberJsonString(text: string): string {
  const json = JSON.stringify(text);
  inputs[nextSlot] = text;
  outputs[nextSlot] = json;
  nextSlot = (nextSlot + 1) % SLOTS;
  return json;
}
