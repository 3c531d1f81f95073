/**
 * A bounded memo for pure, costly derivations on the hot path (for example a session's CSRF tag:
 * two HMACs per call otherwise). Evicts the oldest entry beyond `max` (Map keeps insertion order),
 * so memory stays bounded whatever the number of clients.
 */
export function boundedMemo<V>(max: number, derive: (key: string) => V): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      value = derive(key);
      cache.set(key, value);
      if (cache.size > max) cache.delete(cache.keys().next().value as string);
    }
    return value;
  };
}
