// A classic-BPF assembler just large enough for seccomp filters.
//
// The programs are generated here rather than with libseccomp so that the policy is
// plain, reviewable TypeScript with no native build, testable by the interpreter below
// without a kernel, and identical on every host. Programs are built from blocks that
// only ever jump forward over their own instructions, so no jump offset can exceed the
// 8-bit limit of cBPF however long the allow-list grows.

export interface Insn {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JGT_K = 0x25;
const JSET_K = 0x45;
const RET_K = 0x06;

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
export const errno = (value: number): number => SECCOMP_RET_ERRNO | (value & 0xffff);

/** Offsets in struct seccomp_data (little-endian x86_64). */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const argLowOffset = (index: number): number => 16 + 8 * index;

const insn = (code: number, jt: number, jf: number, k: number): Insn => ({ code, jt, jf, k: k >>> 0 });

export const loadNr = (): Insn => insn(LD_W_ABS, 0, 0, OFFSET_NR);
export const loadArch = (): Insn => insn(LD_W_ABS, 0, 0, OFFSET_ARCH);
/** Loads the low 32 bits of argument `index`: the kernel truncates int and unsigned int
 * arguments (an ioctl request, a socket domain) to these bits, so comparing the full
 * 64 bits could be bypassed by setting high bits (CVE-2019-10063). */
export const loadArgLow = (index: number): Insn => insn(LD_W_ABS, 0, 0, argLowOffset(index));
export const ret = (action: number): Insn => insn(RET_K, 0, 0, action);

function checkedSkip(n: number): number {
  if (n > 255) throw new Error(`BPF block of ${n} instructions is too long to jump over`);
  return n;
}

/** `if (A == value) { ...body }`: body must end in a return on every path. */
export function ifEquals(value: number, body: readonly Insn[]): Insn[] {
  return [insn(JEQ_K, 0, checkedSkip(body.length), value), ...body];
}

/** `if (A & mask) return action`. */
export const ifAnyBitsReturn = (mask: number, action: number): Insn[] => [insn(JSET_K, 0, 1, mask), ret(action)];

/** `if (A == value) return action`. */
export const ifEqualsReturn = (value: number, action: number): Insn[] => ifEquals(value, [ret(action)]);

/** `if (A != value) return action`. */
export const ifNotEqualsReturn = (value: number, action: number): Insn[] => [insn(JEQ_K, 1, 0, value), ret(action)];

/** `if (lo <= A && A <= hi) return action`. */
export const ifInRangeReturn = (lo: number, hi: number, action: number): Insn[] => [
  insn(JGE_K, 0, 2, lo),
  insn(JGT_K, 1, 0, hi),
  ret(action),
];

/** `if (A > value) return action`. */
export const ifAboveReturn = (value: number, action: number): Insn[] => [insn(JGT_K, 0, 1, value), ret(action)];

/** Serialises to struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k; host byte order). */
export function encode(program: readonly Insn[]): Buffer {
  if (program.length === 0 || program.length > 4096) throw new Error(`BPF program has ${program.length} instructions`);
  const out = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    out.writeUInt16LE(ins.code, i * 8);
    out.writeUInt8(ins.jt, i * 8 + 2);
    out.writeUInt8(ins.jf, i * 8 + 3);
    out.writeUInt32LE(ins.k, i * 8 + 4);
  });
  return out;
}

export interface SeccompData {
  nr: number;
  arch: number;
  args?: readonly bigint[];
}

/** Runs a program the way the kernel would, for tests of the policy without a kernel. */
export function evaluate(program: readonly Insn[], data: SeccompData): number {
  const word = (offset: number): number => {
    if (offset === OFFSET_NR) return data.nr >>> 0;
    if (offset === OFFSET_ARCH) return data.arch >>> 0;
    const index = (offset - 16) / 8;
    const arg = data.args?.[index] ?? 0n;
    return Number(BigInt.asUintN(32, arg));
  };
  let a = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const ins = program[pc]!;
    switch (ins.code) {
      case LD_W_ABS:
        a = word(ins.k);
        break;
      case JEQ_K:
        pc += a === ins.k ? ins.jt : ins.jf;
        break;
      case JGE_K:
        pc += a >= ins.k ? ins.jt : ins.jf;
        break;
      case JGT_K:
        pc += a > ins.k ? ins.jt : ins.jf;
        break;
      case JSET_K:
        pc += (a & ins.k) !== 0 ? ins.jt : ins.jf;
        break;
      case RET_K:
        return ins.k;
      default:
        throw new Error(`unknown BPF opcode ${ins.code}`);
    }
  }
  throw new Error('BPF program fell off its end');
}
