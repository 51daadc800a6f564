// The native addon refuses what it was not made for. unmap once took any ArrayBuffer:
// on a WebAssembly memory it left inaccessible pages behind (the next read a SIGSEGV),
// and a second unmap of a mapping passed silently. seal() is the step runtime's
// lockdown before step code runs; it holds for one instance (thread) of the addon only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { openSync, closeSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { NATIVE_ADDON_PATH } from '../../renderer/paths.js';
import { scratchDir } from '../helpers.js';

interface Native {
  mapFile(path: string, maxBytes: number): ArrayBuffer;
  unmap(buffer: ArrayBuffer): void;
  installSeccomp(program: Buffer): void;
  tryLock(fd: number): boolean;
  seal(): void;
}

// Not in the TypeScript libs this project compiles with (no DOM).
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } };

const native = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as Native;
const notMapped = (message: RegExp) => ({ name: 'TypeError', code: 'RENDERER_ERR_MMAP_NOT_MAPPED', message });

describe('renderer_native: unmap takes only a live mapping of its own', () => {
  let dir: ReturnType<typeof scratchDir>;
  let file: string;
  before(() => {
    dir = scratchDir();
    file = join(dir.path, 'data');
    writeFileSync(file, Buffer.alloc(3 * 4096, 1));
  });
  after(() => dir.remove());

  it('refuses a WebAssembly memory, and the memory stays readable', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const view = new Uint8Array(memory.buffer);
    view[4095] = 9;
    assert.throws(() => native.unmap(memory.buffer), notMapped(/not a mapping made by mapFile/));
    assert.equal(view[4095], 9);
  });

  it('refuses ArrayBuffers of the heap, of a Buffer, and a copy of a mapping', () => {
    const mapped = native.mapFile(file, 1 << 20);
    const copy = structuredClone(mapped);
    for (const buffer of [new ArrayBuffer(4 * 4096), Buffer.alloc(4096).buffer, copy])
      assert.throws(() => native.unmap(buffer), notMapped(/not a mapping made by mapFile/));
    assert.equal(new Uint8Array(copy)[100], 1);
    native.unmap(mapped);
    assert.equal(mapped.byteLength, 0, 'the mapping itself is unmapped and detached');
  });

  it('refuses a mapping twice: the second unmap names it as already unmapped', () => {
    const mapped = native.mapFile(file, 1 << 20);
    native.unmap(mapped);
    assert.throws(() => native.unmap(mapped), notMapped(/already unmapped/));
  });

  it('refuses anything that is not an ArrayBuffer', () => {
    for (const value of [new Uint8Array(8), {}, null, 'buffer'])
      assert.throws(() => native.unmap(value as unknown as ArrayBuffer), { name: 'TypeError', code: 'RENDERER_ERR_MMAP_ARGS' });
  });
});

describe('renderer_native: seal()', () => {
  // In a worker: its own instance of the addon, so the sealing cannot touch this thread's.
  const SEALED_WORKER = `
    const { parentPort, workerData } = require('node:worker_threads');
    const native = require(workerData.addon);
    const before = native.mapFile(workerData.file, 1 << 20);
    native.seal();
    native.seal();
    const outcome = (fn) => { try { fn(); return 'OK'; } catch (e) { return e.code + ': ' + e.message; } };
    parentPort.postMessage({
      mapFile: outcome(() => native.mapFile(workerData.file, 1 << 20)),
      installSeccomp: outcome(() => native.installSeccomp(Buffer.alloc(8))),
      tryLock: outcome(() => native.tryLock(workerData.fd)),
      unmapOwn: outcome(() => native.unmap(before)),
      unmapForeign: outcome(() => native.unmap(new WebAssembly.Memory({ initial: 1 }).buffer)),
    });`;

  let dir: ReturnType<typeof scratchDir>;
  let file: string;
  before(() => {
    dir = scratchDir();
    file = join(dir.path, 'data');
    writeFileSync(file, 'x'.repeat(100));
  });
  after(() => dir.remove());

  it('is one-way: mapFile, installSeccomp and tryLock refuse; unmap of its own mappings still works', async () => {
    const fd = openSync(join(dir.path, 'lock'), 'w');
    try {
      const worker = new Worker(SEALED_WORKER, { eval: true, workerData: { addon: NATIVE_ADDON_PATH, file, fd } });
      const report = (await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      })) as Record<string, string>;
      await worker.terminate();
      for (const call of ['mapFile', 'installSeccomp', 'tryLock'])
        assert.match(report[call]!, new RegExp(`^RENDERER_ERR_NATIVE_SEALED: ${call} is refused: this instance of the addon is sealed`), call);
      assert.equal(report.unmapOwn, 'OK');
      assert.match(report.unmapForeign!, /^RENDERER_ERR_MMAP_NOT_MAPPED: /);
    } finally {
      closeSync(fd);
    }
    // Sealed per instance (per thread): this thread's addon still maps.
    const mapped = native.mapFile(file, 1 << 20);
    assert.equal(mapped.byteLength, 100);
    native.unmap(mapped);
  });

  it('leaves exitNow working: the runtime\'s last call comes after the seal', () => {
    const r = spawnSync(process.execPath, ['-e', `const n = require(${JSON.stringify(NATIVE_ADDON_PATH)}); n.seal(); n.exitNow(7)`], { encoding: 'utf8' });
    assert.equal(r.status, 7, r.stderr);
  });
});
