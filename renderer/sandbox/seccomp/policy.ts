// The seccomp policies every sandbox runs under.
//
// Stage 1 (every sandboxed process, installed by bwrap --seccomp before the first
// instruction of the command): an allow-list modelled on Docker's default profile.
// Anything not allowed fails with EPERM, so a syscall added to the kernel tomorrow is
// denied until reviewed; an allow-list cannot leak the way deny-lists did.
//
// Stage 2 (the step runtime installs it on itself after start-up, before user code):
// no execve/execveat and no new processes, only threads.
//
// Both kill the whole process (SECCOMP_RET_KILL_PROCESS; plain KILL kills one thread)
// on a foreign architecture or ABI: i386 calls via int 0x80 and x32 calls on x86_64
// would otherwise reach syscall numbers this list never considered.
import {
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  encode,
  errno,
  ifAboveReturn,
  ifAnyBitsReturn,
  ifEquals,
  ifEqualsReturn,
  ifInRangeReturn,
  ifNotEqualsReturn,
  loadArch,
  loadArgLow,
  loadNr,
  ret,
  type Insn,
} from './bpf.js';
import { SYSCALLS_X86_64 } from './syscalls-x86_64.js';

export const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const EPERM = 1;
const ENOSYS = 38;
const AF_UNIX = 1;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
const CLONE_THREAD = 0x00010000;
/** clone flags that create namespaces: a step must not build its own user namespace
 * (where it would hold every capability) nor escape any of the others. */
const CLONE_NAMESPACE_FLAGS =
  0x00000080 /* NEWTIME */ |
  0x00020000 /* NEWNS */ |
  0x02000000 /* NEWCGROUP */ |
  0x04000000 /* NEWUTS */ |
  0x08000000 /* NEWIPC */ |
  0x10000000 /* NEWUSER */ |
  0x20000000 /* NEWPID */ |
  0x40000000; /* NEWNET */
/** personality values Docker allows: PER_LINUX, PER_LINUX32, UNAME26 variants and the
 * query value. Anything else (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE combinations that
 * weaken ASLR...) is refused. */
const SAFE_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/**
 * Allowed without conditions. Docker's default list, minus what a data-transforming
 * step has no use for and what widens the kernel attack surface: AIO (io_*), fanotify,
 * name_to_handle_at, memfd_secret, remap_file_pages, sync/syncfs (host-wide flush).
 * Absent on purpose, among others: mount, umount2, pivot_root, chroot, unshare, setns,
 * ptrace, process_vm_readv/writev, pidfd_getfd, kexec_*, *_module, bpf,
 * perf_event_open, userfaultfd, io_uring_*, keyctl, add_key, request_key,
 * open_by_handle_at, reboot, swapon, swapoff, acct, quotactl, syslog.
 */
export const ALLOWED_SYSCALLS: readonly string[] = [
  'accept', 'accept4', 'access', 'alarm', 'arch_prctl', 'bind', 'brk', 'capget', 'capset',
  'chdir', 'chmod', 'chown', 'clock_getres', 'clock_gettime', 'clock_nanosleep', 'close',
  'close_range', 'connect', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3', 'epoll_create',
  'epoll_create1', 'epoll_ctl', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'eventfd',
  'eventfd2', 'execve', 'execveat', 'exit', 'exit_group', 'faccessat', 'faccessat2',
  'fadvise64', 'fallocate', 'fchdir', 'fchmod', 'fchmodat', 'fchown', 'fchownat', 'fcntl',
  'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fork', 'fremovexattr', 'fsetxattr',
  'fstat', 'fstatfs', 'fsync', 'ftruncate', 'futex', 'futex_waitv', 'futimesat', 'getcpu',
  'getcwd', 'getdents', 'getdents64', 'getegid', 'geteuid', 'getgid', 'getgroups',
  'getitimer', 'getpeername', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority',
  'getrandom', 'getresgid', 'getresuid', 'getrlimit', 'get_robust_list', 'getrusage',
  'getsid', 'getsockname', 'getsockopt', 'get_thread_area', 'gettid', 'gettimeofday',
  'getuid', 'getxattr', 'inotify_add_watch', 'inotify_init', 'inotify_init1',
  'inotify_rm_watch', 'ioprio_get', 'ioprio_set', 'kill', 'landlock_add_rule',
  'landlock_create_ruleset', 'landlock_restrict_self', 'lchown', 'lgetxattr', 'link',
  'linkat', 'listen', 'listxattr', 'llistxattr', 'lremovexattr', 'lseek', 'lsetxattr',
  'lstat', 'madvise', 'membarrier', 'memfd_create', 'mincore', 'mkdir', 'mkdirat', 'mknod',
  'mknodat', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mprotect', 'mq_getsetattr',
  'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedsend', 'mq_unlink', 'mremap', 'msgctl',
  'msgget', 'msgrcv', 'msgsnd', 'msync', 'munlock', 'munlockall', 'munmap', 'nanosleep',
  'newfstatat', 'open', 'openat', 'openat2', 'pause', 'pidfd_open', 'pidfd_send_signal',
  'pipe', 'pipe2', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'poll', 'ppoll', 'prctl',
  'pread64', 'preadv', 'preadv2', 'prlimit64', 'process_mrelease', 'pselect6', 'pwrite64',
  'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat', 'readv', 'recvfrom',
  'recvmmsg', 'recvmsg', 'removexattr', 'rename', 'renameat', 'renameat2', 'restart_syscall',
  'rmdir', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo',
  'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_tgsigqueueinfo',
  'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_get_priority_max',
  'sched_get_priority_min', 'sched_getscheduler', 'sched_rr_get_interval',
  'sched_setaffinity', 'sched_setattr', 'sched_setparam', 'sched_setscheduler',
  'sched_yield', 'seccomp', 'select', 'semctl', 'semget', 'semop', 'semtimedop', 'sendfile',
  'sendmmsg', 'sendmsg', 'sendto', 'setfsgid', 'setfsuid', 'setgid', 'setgroups',
  'setitimer', 'setpgid', 'setpriority', 'setregid', 'setresgid', 'setresuid', 'setreuid',
  'setrlimit', 'set_robust_list', 'setsid', 'setsockopt', 'set_thread_area',
  'set_tid_address', 'setuid', 'setxattr', 'shmat', 'shmctl', 'shmdt', 'shmget', 'shutdown',
  'sigaltstack', 'signalfd', 'signalfd4', 'splice', 'stat', 'statfs', 'statx',
  'symlink', 'symlinkat', 'sync_file_range', 'sysinfo', 'tee', 'tgkill', 'time',
  'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_settime',
  'timerfd_create', 'timerfd_gettime', 'timerfd_settime', 'times', 'tkill', 'truncate',
  'umask', 'uname', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimes', 'vfork',
  'vmsplice', 'wait4', 'waitid', 'write', 'writev',
];

function nr(name: string): number {
  const value = SYSCALLS_X86_64[name];
  if (value === undefined) throw new Error(`seccomp policy names unknown x86_64 syscall ${name}`);
  return value;
}

/** A foreign architecture or the x32 ABI kills the process; then A holds the syscall nr. */
function archAndAbiGuard(): Insn[] {
  return [
    loadArch(),
    ...ifNotEqualsReturn(AUDIT_ARCH_X86_64, SECCOMP_RET_KILL_PROCESS),
    loadNr(),
    ...ifAnyBitsReturn(X32_SYSCALL_BIT, SECCOMP_RET_KILL_PROCESS),
  ];
}

/** A syscall whose verdict depends on one argument; every path returns. */
function argRule(syscall: string, argIndex: number, body: readonly Insn[]): Insn[] {
  return ifEquals(nr(syscall), [loadArgLow(argIndex), ...body]);
}

/** Merges sorted syscall numbers into [lo, hi] runs: three instructions per run. */
function ranges(numbers: readonly number[]): Array<[number, number]> {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (const n of sorted) {
    const last = out[out.length - 1];
    if (last && n === last[1] + 1) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

const HIGHEST_KNOWN_SYSCALL = Math.max(...Object.values(SYSCALLS_X86_64));

export function stage1Program(): Insn[] {
  const deny = errno(EPERM);
  return [
    ...archAndAbiGuard(),
    // TIOCSTI pushes bytes into a terminal's input queue (CVE-2017-5226), TIOCLINUX
    // can do the same on a virtual console: refused whatever the fd.
    ...argRule('ioctl', 1, [...ifEqualsReturn(TIOCSTI, deny), ...ifEqualsReturn(TIOCLINUX, deny), ret(SECCOMP_RET_ALLOW)]),
    // No network even if a namespace were misconfigured: only AF_UNIX sockets exist.
    ...argRule('socket', 0, [...ifEqualsReturn(AF_UNIX, SECCOMP_RET_ALLOW), ret(deny)]),
    // socketpair too: the kernel creates both sockets of the family (loading its module
    // where modules load on demand) before the family refuses pairs, so an open
    // socketpair reached inet, netlink and vsock code and any loadable family.
    ...argRule('socketpair', 0, [...ifEqualsReturn(AF_UNIX, SECCOMP_RET_ALLOW), ret(deny)]),
    ...argRule('clone', 0, [...ifAnyBitsReturn(CLONE_NAMESPACE_FLAGS, deny), ret(SECCOMP_RET_ALLOW)]),
    // clone3 passes its flags in memory, which BPF cannot read: answer ENOSYS so libc
    // falls back to clone, whose flags we can check.
    ...ifEqualsReturn(nr('clone3'), errno(ENOSYS)),
    ...argRule('personality', 0, [
      ...SAFE_PERSONALITIES.flatMap((p) => ifEqualsReturn(p, SECCOMP_RET_ALLOW)),
      ret(deny),
    ]),
    ...ranges(ALLOWED_SYSCALLS.map(nr)).flatMap(([lo, hi]) => ifInRangeReturn(lo, hi, SECCOMP_RET_ALLOW)),
    // Syscalls newer than our table answer ENOSYS, which libc treats as "not on this
    // kernel" and falls back from; EPERM there could be taken as a hard failure.
    ...ifAboveReturn(HIGHEST_KNOWN_SYSCALL, errno(ENOSYS)),
    ret(deny),
  ];
}

export function stage2Program(): Insn[] {
  const deny = errno(EPERM);
  return [
    ...archAndAbiGuard(),
    ...ifEqualsReturn(nr('execve'), deny),
    ...ifEqualsReturn(nr('execveat'), deny),
    ...ifEqualsReturn(nr('fork'), deny),
    ...ifEqualsReturn(nr('vfork'), deny),
    // Threads (CLONE_THREAD) are how Node works; a new process is not.
    ...argRule('clone', 0, [...ifAnyBitsReturn(CLONE_THREAD, SECCOMP_RET_ALLOW), ret(deny)]),
    ...ifEqualsReturn(nr('clone3'), errno(ENOSYS)),
    ret(SECCOMP_RET_ALLOW),
  ];
}

export const stage1Bytes = (): Buffer => encode(stage1Program());
export const stage2Bytes = (): Buffer => encode(stage2Program());
