// A strict reader of the few ELF facts that say what a program loads: its interpreter
// (PT_INTERP) and the DT_NEEDED, DT_RUNPATH and DT_RPATH strings of its dynamic section.
//
// It replaces `ldd`, which runs the program's loader on the file as root and prints
// what an untrusted DT_NEEDED makes it print: a name holding "\n\t/ANY/HOST/PATH (0x0)"
// got that host path bound into the sandbox. Nothing here executes anything. Every
// offset and size is checked against the file before it is read, every count is
// capped, and the work is a handful of reads of bounded size: the cost does not depend
// on what the file claims, only on these caps.
//
// Only ELF64 little-endian x86-64 is accepted: the seccomp policy kills every other ABI
// anyway (seccomp/policy.ts), so a program of another class or machine cannot run in
// the sandbox and is refused before anything is bound for it.

/** Program headers read at most (real programs have ~10-20). */
export const MAX_PROGRAM_HEADERS = 128;
/** Dynamic entries read at most (node has 32). */
export const MAX_DYNAMIC_ENTRIES = 4096;
/** DT_NEEDED entries accepted per object. */
export const MAX_NEEDED = 256;
/** Longest string read (PATH_MAX). */
export const MAX_STRING_BYTES = 4096;

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const DYN_SIZE = 16;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_X86_64 = 62;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

/** Why a file was not accepted: not ELF at all, ELF the sandbox cannot run, or damaged. */
export type ElfProblem = 'not-elf' | 'unsupported' | 'malformed';

export class ElfError extends Error {
  readonly problem: ElfProblem;
  constructor(problem: ElfProblem, message: string) {
    super(message);
    this.name = 'ElfError';
    this.problem = problem;
  }
}

/** Random access to a file of `size` bytes; `read` is only called within it. */
export interface ElfReader {
  readonly size: number;
  read(offset: number, length: number): Buffer;
}

export interface ElfDependencies {
  type: 'executable' | 'shared';
  /** PT_INTERP, raw (one char per byte: latin1). */
  interpreter: string | null;
  /** DT_NEEDED names, raw, in file order. */
  needed: string[];
  /** DT_RUNPATH / DT_RPATH, raw (colon-separated), null when absent. */
  runpath: string | null;
  rpath: string | null;
}

interface Load {
  vaddr: number;
  offset: number;
  filesz: number;
}

const malformed = (message: string): ElfError => new ElfError('malformed', message);

/** A 64-bit field as a number, refused when it cannot be an offset or size in a file. */
function u64(buffer: Buffer, at: number, what: string): number {
  const value = buffer.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${what} ${value} is out of range`);
  return Number(value);
}

function readWithin(reader: ElfReader, offset: number, length: number, what: string): Buffer {
  if (offset > reader.size || length > reader.size - offset)
    throw malformed(`${what} (${length} bytes at offset ${offset}) lies beyond the end of the file (${reader.size} bytes)`);
  const bytes = reader.read(offset, length);
  if (bytes.length !== length) throw malformed(`${what}: short read`);
  return bytes;
}

/** A NUL-terminated string of at most MAX_STRING_BYTES that ends before `limit`. */
function readString(reader: ElfReader, offset: number, limit: number, what: string): string {
  const length = Math.max(0, Math.min(MAX_STRING_BYTES + 1, limit - offset));
  const bytes = readWithin(reader, offset, length, what);
  const end = bytes.indexOf(0);
  if (end < 0) throw malformed(`${what} is not NUL-terminated within ${MAX_STRING_BYTES} bytes and its table`);
  return bytes.toString('latin1', 0, end);
}

export function readElfDependencies(reader: ElfReader): ElfDependencies {
  if (reader.size < 4 || readWithin(reader, 0, 4, 'the ELF magic').toString('latin1') !== '\x7fELF')
    throw new ElfError('not-elf', 'not an ELF file');
  const header = readWithin(reader, 0, EHDR_SIZE, 'the ELF header');
  if (header[4] !== 2) throw new ElfError('unsupported', `ELF class ${header[4]} (only 64-bit ELF runs in the sandbox)`);
  if (header[5] !== 1) throw new ElfError('unsupported', `ELF data encoding ${header[5]} (only little-endian runs in the sandbox)`);
  if (header[6] !== 1) throw malformed(`ELF version ${header[6]}`);
  const machine = header.readUInt16LE(18);
  if (machine !== EM_X86_64) throw new ElfError('unsupported', `ELF machine ${machine} (only x86-64, 62, runs in the sandbox)`);
  const elfType = header.readUInt16LE(16);
  if (elfType !== ET_EXEC && elfType !== ET_DYN) throw new ElfError('unsupported', `ELF type ${elfType} is neither an executable nor a shared object`);

  const phoff = u64(header, 32, 'e_phoff');
  const phentsize = header.readUInt16LE(54);
  const phnum = header.readUInt16LE(56);
  if (phnum > 0 && phentsize !== PHDR_SIZE) throw malformed(`e_phentsize ${phentsize} (expected ${PHDR_SIZE})`);
  if (phnum > MAX_PROGRAM_HEADERS) throw malformed(`${phnum} program headers (at most ${MAX_PROGRAM_HEADERS} accepted)`);
  const table = readWithin(reader, phoff, phnum * PHDR_SIZE, 'the program header table');

  let interp: { offset: number; size: number } | null = null;
  let dynamic: { offset: number; size: number } | null = null;
  const loads: Load[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = i * PHDR_SIZE;
    const type = table.readUInt32LE(at);
    if (type !== PT_LOAD && type !== PT_DYNAMIC && type !== PT_INTERP) continue;
    const offset = u64(table, at + 8, 'p_offset');
    const filesz = u64(table, at + 32, 'p_filesz');
    if (type === PT_LOAD) loads.push({ vaddr: u64(table, at + 16, 'p_vaddr'), offset, filesz });
    else if (type === PT_INTERP) {
      if (interp) throw malformed('two PT_INTERP headers');
      interp = { offset, size: filesz };
    } else {
      if (dynamic) throw malformed('two PT_DYNAMIC headers');
      dynamic = { offset, size: filesz };
    }
  }

  const interpreter = interp ? readString(reader, interp.offset, interp.offset + Math.min(interp.size, MAX_STRING_BYTES + 1), 'PT_INTERP') : null;
  const result: ElfDependencies = { type: elfType === ET_EXEC ? 'executable' : 'shared', interpreter, needed: [], runpath: null, rpath: null };
  if (!dynamic) return result; // statically linked: loads nothing

  const count = Math.floor(dynamic.size / DYN_SIZE);
  if (count > MAX_DYNAMIC_ENTRIES) throw malformed(`PT_DYNAMIC holds ${count} entries (at most ${MAX_DYNAMIC_ENTRIES} accepted)`);
  const entries = readWithin(reader, dynamic.offset, count * DYN_SIZE, 'PT_DYNAMIC');
  const needed: number[] = [];
  let strtab: number | null = null;
  let strsz: number | null = null;
  let runpath: number | null = null;
  let rpath: number | null = null;
  for (let i = 0; i < count; i++) {
    const at = i * DYN_SIZE;
    const tag = entries.readBigInt64LE(at);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) {
      if (needed.length === MAX_NEEDED) throw malformed(`more than ${MAX_NEEDED} DT_NEEDED entries`);
      needed.push(u64(entries, at + 8, 'DT_NEEDED'));
    } else if (tag === DT_STRTAB || tag === DT_STRSZ || tag === DT_RUNPATH || tag === DT_RPATH) {
      const value = u64(entries, at + 8, `dynamic tag ${tag}`);
      const seen = tag === DT_STRTAB ? strtab : tag === DT_STRSZ ? strsz : tag === DT_RUNPATH ? runpath : rpath;
      if (seen !== null) throw malformed(`dynamic tag ${tag} appears twice`);
      if (tag === DT_STRTAB) strtab = value;
      else if (tag === DT_STRSZ) strsz = value;
      else if (tag === DT_RUNPATH) runpath = value;
      else rpath = value;
    }
  }
  if (needed.length === 0 && runpath === null && rpath === null) return result;
  if (strtab === null || strsz === null) throw malformed('DT_NEEDED or a search path without DT_STRTAB and DT_STRSZ');

  // The string table is named by its address once loaded: find the file bytes that a
  // PT_LOAD segment maps there. The whole table must lie in the segment's file part.
  const table0 = strtab;
  const size = strsz;
  const load = loads.find((l) => table0 >= l.vaddr && table0 - l.vaddr < l.filesz);
  if (!load) throw malformed(`DT_STRTAB 0x${table0.toString(16)} is not in the file part of any PT_LOAD segment`);
  if (size > load.filesz - (table0 - load.vaddr)) throw malformed(`DT_STRSZ ${size} runs past its PT_LOAD segment`);
  const base = load.offset + (table0 - load.vaddr);
  if (base > reader.size || size > reader.size - base) throw malformed('the string table lies beyond the end of the file');
  const string = (offset: number, what: string): string => {
    if (offset >= size) throw malformed(`${what} string offset ${offset} is outside the string table (${size} bytes)`);
    return readString(reader, base + offset, base + size, what);
  };
  result.needed = needed.map((offset) => string(offset, 'DT_NEEDED'));
  if (runpath !== null) result.runpath = string(runpath, 'DT_RUNPATH');
  if (rpath !== null) result.rpath = string(rpath, 'DT_RPATH');
  return result;
}

/** A reader over bytes in memory (tests, fuzzing). */
export const bufferReader = (bytes: Uint8Array): ElfReader => {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { size: buffer.length, read: (offset, length) => buffer.subarray(offset, offset + length) };
};
