// What a step prints costs the daemon CPU to drain, and must not cost it memory after
// the run. Node reads a pipe into a fresh 64 KiB buffer per read; the tail keeps a copy
// of the last bytes (logs-tail.ts), so each buffer is dead once its 'data' event is
// over. But V8 frees dead young buffers only at a young-generation collection, which it
// starts for them once 32 MiB wait (twice its default maximum semi-space, fixed in V8
// 11's Heap::AllocateExternalBackingStore), and glibc keeps the heap pages they took
// resident after they are freed. Steps that print 20 MiB each raised the daemon's RSS
// floor by ~30 MiB that way (soak, 2026-12), whatever the runs' number: a high-water
// mark, but above the soak's limit. Asking for a young-generation collection after
// every 4 MiB drained keeps the dead buffers under ~4 MiB, for well under a millisecond
// per 4 MiB, less than draining them costs.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

type Collect = (options: { type: 'minor' }) => void;
let collect: Collect | null | undefined;
let drained = 0;

/** gc() without --expose-gc on the daemon's command line (npm start, systemd and Docker
 * start it three ways): the flag is on only while a new context hands out its gc. */
function collector(): Collect | null {
  const global = (globalThis as { gc?: Collect }).gc;
  if (typeof global === 'function') return global;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as Collect;
  } catch {
    return null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** Counts bytes read from a step's pipes; collects young garbage every 4 MiB. */
export function noteDrained(bytes: number): void {
  drained += bytes;
  if (drained < COLLECT_EVERY_BYTES) return;
  drained = 0;
  collect ??= collector();
  collect?.({ type: 'minor' });
}
