// Blocking reads and writes on the protocol fds. The runtime has nothing else to do
// while it waits, and synchronous writes guarantee the result is out before exit.
import { readSync, writeSync } from 'node:fs';

// Created on first use: SharedArrayBuffer does not exist while a snapshot is built.
let sleeper: Int32Array | undefined;
const sleep = (ms: number): void => void Atomics.wait((sleeper ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, ms);

/** fds above 2 may arrive non-blocking (libuv only resets 0-2): wait out EAGAIN. */
const isAgain = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'EAGAIN';

export function writeAllSync(fd: number, data: Uint8Array): void {
  for (let offset = 0; offset < data.byteLength; ) {
    try {
      offset += writeSync(fd, data, offset, data.byteLength - offset);
    } catch (error) {
      if (!isAgain(error)) throw error;
      sleep(1);
    }
  }
}

/** Reads `fd` to EOF; throws if it holds more than `maxBytes`. */
export function readAllSync(fd: number, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (error) {
      if (!isAgain(error)) throw error;
      sleep(1);
      continue;
    }
    if (n === 0) return Buffer.concat(chunks, total);
    total += n;
    if (total > maxBytes) throw new Error(`request on fd ${fd} exceeds ${maxBytes} bytes`);
    chunks.push(chunk.subarray(0, n));
  }
}
