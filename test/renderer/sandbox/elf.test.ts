// The ELF reader (elf.ts): what it reads from real and crafted files, what it refuses,
// and, under fast-check mutation of valid files, that it never throws anything but
// ElfError and never reads more than its caps allow, whatever the file claims.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bufferReader, ElfError, MAX_NEEDED, MAX_STRING_BYTES, readElfDependencies, type ElfProblem, type ElfReader } from '../../../renderer/sandbox/elf.js';
import { nodeBinary } from '../../../renderer/sandbox/host.js';
import { scratchDir } from '../../helpers.js';
import { craftElf } from './craft-elf.js';

const parse = (bytes: Uint8Array): ReturnType<typeof readElfDependencies> => readElfDependencies(bufferReader(bytes));

function problemOf(bytes: Uint8Array): ElfProblem | 'none' {
  try {
    parse(bytes);
    return 'none';
  } catch (error) {
    assert.ok(error instanceof ElfError, `only ElfError, got ${String(error)}`);
    return error.problem;
  }
}

describe('ELF reader: what it reads', () => {
  it('node: its interpreter and DT_NEEDED names, from the headers alone', () => {
    const path = nodeBinary();
    const fd = openSync(path, 'r');
    try {
      let reads = 0;
      const reader: ElfReader = {
        size: fstatSync(fd).size,
        read: (offset, length) => {
          reads++;
          const buffer = Buffer.alloc(length);
          return buffer.subarray(0, readSync(fd, buffer, 0, length, offset));
        },
      };
      const deps = readElfDependencies(reader);
      assert.equal(deps.interpreter, '/lib64/ld-linux-x86-64.so.2');
      assert.ok(deps.needed.includes('libc.so.6'), deps.needed.join(' '));
      assert.ok(reads < 20, `${reads} reads of a ${reader.size}-byte file`);
    } finally {
      closeSync(fd);
    }
  });

  it('crafted: names, run paths and the interpreter exactly, even bytes ldd would print as lines', () => {
    const deps = parse(craftElf({ needed: ['libc.so.6', 'libx.so\n\t/etc (0x0)'], runpath: '$ORIGIN/../lib:/usr/lib', interpreter: '/lib64/ld-linux-x86-64.so.2', type: 'executable' }));
    assert.deepEqual(deps, { type: 'executable', interpreter: '/lib64/ld-linux-x86-64.so.2', needed: ['libc.so.6', 'libx.so\n\t/etc (0x0)'], runpath: '$ORIGIN/../lib:/usr/lib', rpath: null });
    assert.deepEqual(parse(craftElf({ rpath: '/opt/x' })), { type: 'shared', interpreter: null, needed: [], runpath: null, rpath: '/opt/x' });
  });

  it('a static program (no PT_DYNAMIC, no PT_INTERP) loads nothing', () => {
    assert.deepEqual(parse(craftElf({ dynamic: false, type: 'executable' })), { type: 'executable', interpreter: null, needed: [], runpath: null, rpath: null });
  });

  describe('a real static binary', () => {
    let dir: ReturnType<typeof scratchDir>;
    before(() => (dir = scratchDir()));
    after(() => dir.remove());
    it('gcc -static: nothing to load', () => {
      writeFileSync(join(dir.path, 'main.c'), 'int main(void) { return 0; }\n');
      execFileSync('gcc', ['-static', '-o', join(dir.path, 'static'), join(dir.path, 'main.c')]);
      const deps = parse(readFileSync(join(dir.path, 'static')));
      assert.equal(deps.interpreter, null);
      assert.deepEqual(deps.needed, []);
    });
  });
});

describe('ELF reader: what it refuses', () => {
  it('not ELF at all (a script)', () => {
    assert.equal(problemOf(Buffer.from('#!/bin/sh\necho hi\n')), 'not-elf');
    assert.equal(problemOf(Buffer.alloc(0)), 'not-elf');
  });

  it('ELF the sandbox cannot run: 32-bit, big-endian, another machine, a relocatable object', () => {
    assert.equal(problemOf(craftElf({ elfClass: 1 })), 'unsupported');
    assert.equal(problemOf(craftElf({ data: 2 })), 'unsupported');
    assert.equal(problemOf(craftElf({ machine: 183 })), 'unsupported'); // aarch64
    assert.equal(problemOf(craftElf({ type: 1 })), 'unsupported');
  });

  it('damaged files: each offset and size is checked before anything is read', () => {
    const base = craftElf({ needed: ['libc.so.6'], interpreter: '/lib64/ld-linux-x86-64.so.2' });
    const with_ = (edit: (b: Buffer) => void): Buffer => {
      const copy = Buffer.from(base);
      edit(copy);
      return copy;
    };
    const phdr = (i: number, field: number): number => 64 + i * 56 + field; // 0 interp, 1 load, 2 dynamic
    const dynAt = Number(base.readBigUInt64LE(phdr(2, 8)));
    const cases: Record<string, Buffer> = {
      'truncated header': base.subarray(0, 40),
      'program headers past the end': with_((b) => b.writeBigUInt64LE(BigInt(b.length), 32)),
      'e_phoff beyond 2^53': with_((b) => b.writeBigUInt64LE(1n << 60n, 32)),
      'wrong e_phentsize': with_((b) => b.writeUInt16LE(32, 54)),
      'too many program headers': with_((b) => b.writeUInt16LE(5000, 56)),
      'two PT_INTERP': with_((b) => b.writeUInt32LE(3, phdr(1, 0))),
      'PT_INTERP not terminated': with_((b) => b.writeBigUInt64LE(4n, phdr(0, 32))),
      'PT_DYNAMIC past the end': with_((b) => b.writeBigUInt64LE(BigInt(b.length), phdr(2, 8))),
      'DT_STRTAB outside every PT_LOAD': with_((b) => b.writeBigUInt64LE(16n, dynAt + 8 + 16)),
      'DT_STRSZ past its segment': with_((b) => b.writeBigUInt64LE(BigInt(b.length), dynAt + 8 + 32)),
      'DT_NEEDED offset outside the string table': with_((b) => b.writeBigUInt64LE(1000n, dynAt + 8)),
    };
    for (const [name, bytes] of Object.entries(cases)) assert.equal(problemOf(bytes), 'malformed', name);
    assert.equal(problemOf(base), 'none', 'the unedited file is fine');
    assert.equal(problemOf(craftElf({ needed: Array.from({ length: MAX_NEEDED + 1 }, (_, i) => `l${i}`) })), 'malformed');
    assert.equal(problemOf(craftElf({ needed: ['x'.repeat(MAX_STRING_BYTES + 1)] })), 'malformed');
  });
});

describe('ELF reader: fuzzing (fast-check, fixed seed)', () => {
  const seeds = [
    craftElf({ needed: ['libc.so.6', 'libm.so.6'], runpath: '/usr/lib', interpreter: '/lib64/ld-linux-x86-64.so.2', type: 'executable' }),
    craftElf({ needed: ['a'], rpath: '/lib' }),
    craftElf({ dynamic: false }),
  ];
  // A field-aware mutation: random bytes, and 64-bit values (huge, near the file size,
  // zero) written at any offset, then an optional truncation.
  const mutation = fc.tuple(
    fc.nat(seeds.length - 1),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.array(fc.tuple(fc.nat(), fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 1024n }), fc.constantFrom(0n, (1n << 64n) - 1n, 1n << 53n))), { maxLength: 4 }),
    fc.option(fc.nat(), { nil: undefined }),
  );

  it('never throws anything but ElfError, and reads a bounded number of bounded pieces', () => {
    fc.assert(
      fc.property(mutation, ([which, flips, words, cut]) => {
        let bytes = Buffer.from(seeds[which]!);
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        for (const [at, value] of words) {
          const offset = at % Math.max(1, bytes.length - 8);
          bytes.writeBigUInt64LE(value % (1n << 64n), offset);
        }
        if (cut !== undefined) bytes = bytes.subarray(0, cut % (bytes.length + 1));
        const inner = bufferReader(bytes);
        let reads = 0;
        let bytesRead = 0;
        const reader: ElfReader = {
          size: inner.size,
          read: (offset, length) => {
            assert.ok(offset >= 0 && length >= 0 && offset + length <= inner.size, `read ${length} at ${offset} of ${inner.size}`);
            reads++;
            bytesRead += length;
            return inner.read(offset, length);
          },
        };
        try {
          readElfDependencies(reader);
        } catch (error) {
          if (!(error instanceof ElfError)) throw error;
        }
        // magic, header, program headers, interp, dynamic, then one read per string.
        assert.ok(reads <= 5 + MAX_NEEDED + 2, `${reads} reads`);
        assert.ok(bytesRead <= 64 * 2 + 128 * 56 + 4096 * 16 + (MAX_NEEDED + 3) * (MAX_STRING_BYTES + 1), `${bytesRead} bytes`);
      }),
      { seed: 13, numRuns: 20_000 },
    );
  });
});
