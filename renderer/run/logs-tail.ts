// The bounded tail of what a step printed. 200 MB of spam costs the renderer CPU to
// drain, never memory: only the last `maxBytes` are kept.
export class LogsTail {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): void {
    if (chunk.length >= this.maxBytes) {
      this.dropped += this.size + chunk.length - this.maxBytes;
      this.chunks = [Buffer.from(chunk.subarray(chunk.length - this.maxBytes))];
      this.size = this.maxBytes;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.maxBytes) {
      const first = this.chunks.shift()!;
      this.size -= first.length;
      this.dropped += first.length;
    }
  }

  /** Bytes printed but no longer kept. */
  get droppedBytes(): number {
    return this.dropped + Math.max(0, this.size - this.maxBytes);
  }

  /** The last maxBytes as text; a cut multi-byte character at the start is dropped. */
  text(): string {
    let all = Buffer.concat(this.chunks, this.size);
    if (all.length > this.maxBytes) all = all.subarray(all.length - this.maxBytes);
    let start = 0;
    while (start < all.length && start < 4 && (all[start]! & 0xc0) === 0x80) start++;
    return all.subarray(start).toString('utf8');
  }
}
