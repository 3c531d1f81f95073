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
  for (let i = 0; i < SLOTS; i++) if (inputs[i] === text) return outputs[i] as string;
  const json = JSON.stringify(text);
  inputs[nextSlot] = text;
  outputs[nextSlot] = json;
  nextSlot = (nextSlot + 1) % SLOTS;
  return json;
}
