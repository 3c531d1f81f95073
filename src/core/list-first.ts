/**
 * The first `max` items joined by ", ", then "<and> N more" for the N left out (nothing when none
 * is): how a developer message names a list that may be long (registered components, trusted
 * origins) without growing with it. `and` is the word before the count: messages that already
 * read as a list that goes on (`registered components: a, b …and 3 more`) pass "…and".
 * @example
 * listFirst(['a', 'b', 'c', 'd'], 2); // 'a, b and 2 more'
 * listFirst(['a', 'b', 'c', 'd'], 2, '…and'); // 'a, b …and 2 more'
 */
export function listFirst(items: readonly string[], max: number, and = 'and'): string {
  const left = items.length - max;
  const shown = items.slice(0, max).join(', ');
  return left > 0 ? `${shown} ${and} ${left} more` : shown;
}
