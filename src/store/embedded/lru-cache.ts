/**
 * A map that keeps at most `capacity` entries and drops those not used for longest — approximately
 * (two generations, as in a "2Q"-style cache): new and used entries go into the young generation;
 * when it holds half the capacity it becomes the old one and the previous old one is dropped; a hit
 * in the old generation moves the entry back into the young one. A hit in the young generation is a
 * single Map lookup: a strict LRU re-inserted the entry on every hit (delete + set), which cost
 * ~3% of a search's CPU on the 26-document pages of the benchmark.
 */
export class LruCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly half: number;

  constructor(readonly capacity: number) {
    this.half = Math.max(1, Math.floor(capacity / 2));
  }

  /** Entries held (an entry in both generations counts once per generation). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: K): V | undefined {
    const value = this.young.get(key);
    if (value !== undefined) return value;
    const aged = this.old.get(key);
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }

  set(key: K, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}
