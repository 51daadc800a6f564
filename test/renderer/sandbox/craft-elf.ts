// Minimal ELF files made byte by byte, for the ELF reader's and the library resolver's
// tests: every field where a test can set it, every structure in the first few hundred
// bytes (so that random mutations land on headers, not on code).
//
//   0    ELF header (64)
//   64   program headers: PT_INTERP?, PT_LOAD, PT_DYNAMIC? (56 each)
//        interpreter string, string table, dynamic section (8-aligned)
// One PT_LOAD maps the whole file at VADDR.

export interface CraftSpec {
  needed?: string[];
  runpath?: string;
  rpath?: string;
  /** null: no PT_INTERP. */
  interpreter?: string | null;
  /** 'shared' (ET_DYN, the default) or 'executable' (ET_EXEC). */
  type?: 'shared' | 'executable' | number;
  elfClass?: number;
  data?: number;
  machine?: number;
  /** false: no PT_DYNAMIC at all (a static program). */
  dynamic?: boolean;
}

export const VADDR = 0x400000;

export function craftElf(spec: CraftSpec = {}): Buffer {
  const needed = spec.needed ?? [];
  const interpreter = spec.interpreter === undefined ? null : spec.interpreter;
  const dynamic = spec.dynamic ?? true;
  const phnum = 1 + (interpreter !== null ? 1 : 0) + (dynamic ? 1 : 0);
  let at = 64 + phnum * 56;
  const interpAt = at;
  const interpBytes = interpreter !== null ? Buffer.from(`${interpreter}\0`, 'latin1') : Buffer.alloc(0);
  at += interpBytes.length;

  const strings: Buffer[] = [Buffer.from([0])];
  let strsz = 1;
  const add = (text: string): number => {
    const offset = strsz;
    const bytes = Buffer.from(`${text}\0`, 'latin1');
    strings.push(bytes);
    strsz += bytes.length;
    return offset;
  };
  const dyn: Array<[number, number]> = needed.map((name) => [1, add(name)]);
  if (spec.runpath !== undefined) dyn.push([29, add(spec.runpath)]);
  if (spec.rpath !== undefined) dyn.push([15, add(spec.rpath)]);
  const strtabAt = at;
  at += strsz;
  at = (at + 7) & ~7;
  const dynAt = at;
  dyn.push([5, VADDR + strtabAt], [10, strsz], [0, 0]);
  const size = dynamic ? dynAt + dyn.length * 16 : at;

  const out = Buffer.alloc(size);
  out.write('\x7fELF', 0, 'latin1');
  out[4] = spec.elfClass ?? 2;
  out[5] = spec.data ?? 1;
  out[6] = 1;
  const type = spec.type === undefined || spec.type === 'shared' ? 3 : spec.type === 'executable' ? 2 : spec.type;
  out.writeUInt16LE(type, 16);
  out.writeUInt16LE(spec.machine ?? 62, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(64n, 32); // e_phoff
  out.writeUInt16LE(64, 52);
  out.writeUInt16LE(56, 54);
  out.writeUInt16LE(phnum, 56);
  let ph = 64;
  const phdr = (ptype: number, offset: number, filesz: number): void => {
    out.writeUInt32LE(ptype, ph);
    out.writeUInt32LE(4, ph + 4);
    out.writeBigUInt64LE(BigInt(offset), ph + 8);
    out.writeBigUInt64LE(BigInt(VADDR + offset), ph + 16);
    out.writeBigUInt64LE(BigInt(VADDR + offset), ph + 24);
    out.writeBigUInt64LE(BigInt(filesz), ph + 32);
    out.writeBigUInt64LE(BigInt(filesz), ph + 40);
    out.writeBigUInt64LE(8n, ph + 48);
    ph += 56;
  };
  if (interpreter !== null) phdr(3, interpAt, interpBytes.length);
  phdr(1, 0, size);
  if (dynamic) phdr(2, dynAt, dyn.length * 16);
  interpBytes.copy(out, interpAt);
  Buffer.concat(strings).copy(out, strtabAt);
  if (dynamic)
    dyn.forEach(([tag, value], i) => {
      out.writeBigInt64LE(BigInt(tag), dynAt + i * 16);
      out.writeBigUInt64LE(BigInt(value), dynAt + i * 16 + 8);
    });
  return out;
}
