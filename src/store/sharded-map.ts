/**
 * A Map split in shards by the key's last character. One V8 Map holds at most 2^24 entries, and
 * de-duplication keys live 8 days: a busy account would otherwise fill it (and fail every webhook)
 * within a day. Keys are base64url hashes, so the last character spreads them evenly.
 */
export class ShardedMap<V> {
  private readonly shards: Array<Map<string, V>> = Array.from({ length: 64 }, () => new Map());

  private shard(key: string): Map<string, V> {
    return this.shards[key.charCodeAt(key.length - 1) & 63]!;
  }

  get(key: string): V | undefined {
    return this.shard(key).get(key);
  }

  set(key: string, value: V): void {
    this.shard(key).set(key, value);
  }

  get size(): number {
    return this.shards.reduce((n, m) => n + m.size, 0);
  }

  deleteWhere(expired: (value: V) => boolean): void {
    for (const m of this.shards) for (const [k, v] of m) if (expired(v)) m.delete(k);
  }
}
