// The seccomp programs, run by the test's own BPF interpreter over every syscall
// number: properties of the policy, not a list of examples. The kernel's view is
// tested by test/renderer/sandbox/isolation.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errno, evaluate, SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS } from '../../../renderer/sandbox/seccomp/bpf.js';
import { ALLOWED_SYSCALLS, AUDIT_ARCH_X86_64, stage1Program, stage2Program } from '../../../renderer/sandbox/seccomp/policy.js';
import { SYSCALLS_X86_64 } from '../../../renderer/sandbox/seccomp/syscalls-x86_64.js';

const EPERM = errno(1);
const ENOSYS = errno(38);
const stage1 = stage1Program();
const stage2 = stage2Program();
const nr = (name: string): number => SYSCALLS_X86_64[name]!;
const run = (program: typeof stage1, name: string | number, args: bigint[] = [], arch = AUDIT_ARCH_X86_64): number =>
  evaluate(program, { nr: typeof name === 'number' ? name : nr(name), arch, args });

const MUST_DENY = [
  'mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns', 'ptrace', 'process_vm_readv', 'process_vm_writev',
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'bpf', 'perf_event_open',
  'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'keyctl', 'add_key', 'request_key',
  'open_by_handle_at', 'name_to_handle_at', 'reboot', 'swapon', 'swapoff', 'acct', 'pidfd_getfd', 'syslog',
];

describe('stage 1 seccomp policy', () => {
  it('is an allow-list: every syscall in the table not on the list is EPERM', () => {
    const allowed = new Set([...ALLOWED_SYSCALLS, 'ioctl', 'socket', 'socketpair', 'clone', 'clone3', 'personality']);
    for (const [name, number] of Object.entries(SYSCALLS_X86_64)) {
      const verdict = run(stage1, number);
      if (!allowed.has(name)) assert.equal(verdict, EPERM, `${name} must be denied`);
    }
    for (const name of ALLOWED_SYSCALLS) assert.equal(run(stage1, name), SECCOMP_RET_ALLOW, `${name} must be allowed`);
  });

  it('denies every syscall the threat model names', () => {
    for (const name of MUST_DENY) {
      assert.ok(!ALLOWED_SYSCALLS.includes(name), `${name} is not on the allow-list`);
      assert.equal(run(stage1, name), EPERM, name);
    }
  });

  it('answers syscalls newer than its table with ENOSYS, so libc falls back', () => {
    const highest = Math.max(...Object.values(SYSCALLS_X86_64));
    for (let n = highest + 1; n < highest + 200; n++) assert.equal(run(stage1, n), ENOSYS);
    assert.equal(run(stage1, 'clone3'), ENOSYS);
  });

  it('kills the process for any other architecture or the x32 ABI', () => {
    for (const arch of [0x40000003 /* i386 */, 0xc00000b7 /* aarch64 */, 0, 0xffffffff])
      assert.equal(run(stage1, 'getpid', [], arch), SECCOMP_RET_KILL_PROCESS);
    for (const name of ['getpid', 'read', 'mount']) assert.equal(run(stage1, nr(name) | 0x40000000), SECCOMP_RET_KILL_PROCESS);
  });

  it('refuses TIOCSTI and TIOCLINUX whatever the high 32 bits (CVE-2019-10063), allows other ioctls', () => {
    for (const high of [0n, 1n << 32n, 0xdead0000n << 32n]) {
      assert.equal(run(stage1, 'ioctl', [0n, high | 0x5412n]), EPERM);
      assert.equal(run(stage1, 'ioctl', [1n, high | 0x541cn]), EPERM);
    }
    assert.equal(run(stage1, 'ioctl', [1n, 0x5401n /* TCGETS */]), SECCOMP_RET_ALLOW);
  });

  for (const call of ['socket', 'socketpair']) {
    it(`allows ${call}() of AF_UNIX only, judged on the low 32 bits the kernel reads`, () => {
      assert.equal(run(stage1, call, [1n]), SECCOMP_RET_ALLOW);
      assert.equal(run(stage1, call, [(0xdeadn << 32n) | 1n]), SECCOMP_RET_ALLOW, 'the kernel reads AF_UNIX here too');
      for (let family = 0n; family < 46n; family++) if (family !== 1n) assert.equal(run(stage1, call, [family]), EPERM, `family ${family}`);
      assert.equal(run(stage1, call, [(1n << 32n) | 2n]), EPERM, 'AF_INET with junk in the high bits');
    });
  }

  it('allows clone without namespace flags only', () => {
    assert.equal(run(stage1, 'clone', [0x11n /* SIGCHLD */]), SECCOMP_RET_ALLOW);
    assert.equal(run(stage1, 'clone', [0x3d0f00n /* pthread_create flags */]), SECCOMP_RET_ALLOW);
    for (const flag of [0x80n, 0x20000n, 0x2000000n, 0x4000000n, 0x8000000n, 0x10000000n, 0x20000000n, 0x40000000n])
      assert.equal(run(stage1, 'clone', [flag | 0x11n]), EPERM, `flag ${flag.toString(16)}`);
  });

  it('allows only the personality values Docker allows', () => {
    for (const p of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn]) assert.equal(run(stage1, 'personality', [p]), SECCOMP_RET_ALLOW);
    for (const p of [0x400000n /* READ_IMPLIES_EXEC */, 0x40000n, 1n]) assert.equal(run(stage1, 'personality', [p]), EPERM);
  });
});

describe('stage 2 seccomp policy (the runtime, before user code)', () => {
  it('refuses new programs and processes, allows threads and the rest', () => {
    for (const name of ['execve', 'execveat', 'fork', 'vfork']) assert.equal(run(stage2, name), EPERM, name);
    assert.equal(run(stage2, 'clone', [0x11n]), EPERM, 'a fork via clone');
    assert.equal(run(stage2, 'clone', [0x3d0f00n]), SECCOMP_RET_ALLOW, 'a thread');
    assert.equal(run(stage2, 'clone3'), ENOSYS);
    for (const name of ['read', 'write', 'mmap', 'futex', 'openat']) assert.equal(run(stage2, name), SECCOMP_RET_ALLOW);
    assert.equal(run(stage2, 'getpid', [], 0x40000003), SECCOMP_RET_KILL_PROCESS);
  });
});
