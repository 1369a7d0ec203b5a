/**
 * A Map's insertion order used as an LRU list, for the detectors' per-key state (principals per
 * model, models): a hit moves its key to the end; when full, the first (least recently used) key
 * goes before a new one is added.
 */
export function lruGet<K, V>(map: Map<K, V>, key: K): V | undefined {
  const v = map.get(key);
  if (v !== undefined) {
    map.delete(key);
    map.set(key, v);
  }
  return v;
}

/** Adds `value` under `key`, evicting the least recently used key first when `max` are held. */
export function lruAdd<K, V>(map: Map<K, V>, key: K, value: V, max: number): V {
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
  return value;
}
