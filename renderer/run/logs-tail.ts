// The bounded tail of what a step printed. 200 MB of spam costs the renderer CPU to
// drain, never memory: only the last `maxBytes` are kept, copied into one buffer that
// grows to at most that size and then wraps around. No chunk read from the pipes
// outlives its 'data' event: keeping chunks, or copying the last one into a new Buffer,
// doubled the 64 KiB read buffers a spamming step leaves for the garbage collector, and
// glibc kept the memory they took as the daemon's RSS floor (+35 MiB after 24 runs that
// each print 20 MiB, measured 2026-12).
const FIRST_CAPACITY = 4096;

export class LogsTail {
  private ring: Buffer | null = null;
  /** Where the next byte goes. */
  private end = 0;
  /** Bytes kept, at most maxBytes. */
  private size = 0;
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const bytes = chunk.length > this.maxBytes ? chunk.subarray(chunk.length - this.maxBytes) : chunk;
    if (bytes.length === 0) return;
    const ring = this.room(bytes.length);
    const first = Math.min(bytes.length, ring.length - this.end);
    bytes.copy(ring, this.end, 0, first);
    bytes.copy(ring, 0, first);
    this.end = (this.end + bytes.length) % ring.length;
    this.size = Math.min(ring.length, this.size + bytes.length);
  }

  /** The buffer, grown (doubling, up to maxBytes) while what is kept has not yet
   * wrapped, so a step that prints a line costs a line, not maxBytes. */
  private room(incoming: number): Buffer {
    const ring = this.ring;
    if (ring && (ring.length === this.maxBytes || this.size + incoming <= ring.length)) return ring;
    let capacity = ring?.length ?? Math.min(FIRST_CAPACITY, this.maxBytes);
    while (capacity < this.size + incoming && capacity < this.maxBytes) capacity = Math.min(capacity * 2, this.maxBytes);
    const grown = Buffer.alloc(capacity);
    // Below maxBytes nothing has wrapped: the kept bytes are ring[0, size).
    ring?.copy(grown, 0, 0, this.size);
    this.ring = grown;
    this.end = this.size % capacity;
    return grown;
  }

  /** Bytes printed but no longer kept. */
  get droppedBytes(): number {
    return this.total - this.size;
  }

  /** The last maxBytes as text; a cut multi-byte character at the start is dropped. */
  text(): string {
    const ring = this.ring;
    if (!ring || this.size === 0) return '';
    const start = (this.end - this.size + ring.length) % ring.length;
    const all = start + this.size <= ring.length ? ring.subarray(start, start + this.size) : Buffer.concat([ring.subarray(start), ring.subarray(0, this.end)], this.size);
    let skip = 0;
    while (skip < all.length && skip < 4 && (all[skip]! & 0xc0) === 0x80) skip++;
    return all.subarray(skip).toString('utf8');
  }
}
