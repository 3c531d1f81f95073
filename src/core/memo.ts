/**
 * A bounded memo for pure, costly derivations on the hot path (for example a session's CSRF tag:
 * two HMACs per call otherwise). Evicts the oldest entry beyond `max` (Map keeps insertion order),
 * and keeps no key longer than `maxKeyLength` (derived on every call instead), so its memory stays
 * bounded by `max` × `maxKeyLength` whatever the clients send: entries are only evicted by newer
 * ones, so 10,000 keys of 15 KB (a forged `X-Forwarded-For` behind a proxy that appends to it)
 * would have held 150 MB for good.
 */
export function boundedMemo<V>(max: number, derive: (key: string) => V, maxKeyLength: number): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    if (key.length > maxKeyLength) return derive(key);
    let value = cache.get(key);
    if (value === undefined) {
      value = derive(key);
      cache.set(key, value);
      if (cache.size > max) cache.delete(cache.keys().next().value as string);
    }
    return value;
  };
}
