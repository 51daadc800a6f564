// The bubblewrap command line for one sandbox. Every namespace is new; the filesystem
// is a prepared read-only root (steps: step-root.ts) or an empty tmpfs root (commands),
// holding only what is bound into it, read-only unless the bind says otherwise; the
// environment is exactly SANDBOX_ENV.
import { readdirSync, statSync } from 'node:fs';

export interface Bind {
  source: string;
  dest: string;
  /** Read-write. Only a run's own output directory is ever bound this way. */
  writable?: boolean;
}

/** A file whose content bwrap copies from `fd` into its own tmpfs and binds at `dest`:
 * nothing on the host's filesystems stands behind it (mountinfo names a deleted
 * "/bindfile..." of bwrap's, not a host path). */
export interface DataFile {
  fd: number;
  dest: string;
  /** octal, e.g. "0555" */
  perms: string;
  writable?: boolean;
}

export interface BwrapSpec {
  /** A read-only directory to bind at /; absent: an empty tmpfs, made read-only at the end. */
  root?: string;
  uid: number;
  gid: number;
  binds: readonly Bind[];
  /** Empty directories made in the tmpfs root (no root only): read-only with it. */
  dirs?: readonly string[];
  dataFiles?: readonly DataFile[];
  tmpSizeBytes: number;
  seccompFd: number;
  command: readonly string[];
}

/** Every sandboxed command starts in its own fresh /tmp. */
export const SANDBOX_CWD = '/tmp';
/** Mounted afresh in every sandbox (a prepared root has these as empty directories). */
export const SANDBOX_MOUNT_DIRS: readonly string[] = [SANDBOX_CWD, '/proc'];

/** The whole environment a sandboxed process sees (no host variable ever passes). */
export const SANDBOX_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/bin:/bin',
  // bwrap sets PWD from --chdir; saying it here keeps the list exact.
  PWD: SANDBOX_CWD,
  HOME: '/tmp',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
  TZ: 'UTC',
});

/** The device nodes inside the sandbox, bound from the host. No /dev/random (the same
 * generator as urandom since Linux 5.6; node uses getrandom(2)), /dev/full or /dev/tty:
 * each bind costs ~0.1 ms of every run. */
export const SANDBOX_DEVICES: readonly string[] = ['/dev/null', '/dev/zero', '/dev/urandom'];
export const DEV_LINKS: ReadonlyArray<readonly [string, string]> = [
  ['/dev/fd', '/proc/self/fd'],
  ['/dev/stdin', '/proc/self/fd/0'],
  ['/dev/stdout', '/proc/self/fd/1'],
  ['/dev/stderr', '/proc/self/fd/2'],
];

/**
 * /proc entries that tell about the host and that no program in a sandbox needs: the
 * kernel's command line (/proc/cmdline; bootconfig holds more of it), kernel symbol
 * names (kallsyms, addresses zeroed but names shown), the kernel's config, memory
 * image, keyrings and timers of every process on the host. Masked as runc masks them
 * (its default masked paths, plus cmdline, bootconfig, kallsyms and config.gz): files
 * covered by /dev/null, directories by an empty read-only tmpfs. bwrap's --proc itself
 * already covers sys, sysrq-trigger, irq and bus read-only. A fresh procfs has the
 * same global entries as the host's (one kernel), and bwrap cannot mount over a
 * missing one. Each mask is a mount on every run (~0.2 ms of CPU each here), so only
 * what a step could read is masked: files others may read, directories with entries.
 */
const PROC_MASKED_FILES = ['cmdline', 'bootconfig', 'kallsyms', 'config.gz', 'kcore', 'keys', 'key-users', 'timer_list', 'timer_stats', 'sched_debug', 'latency_stats'];
const PROC_MASKED_DIRS = ['acpi', 'asound', 'scsi'];
let procMasks: { files: string[]; dirs: string[] } | undefined;
export function procMasked(): { files: string[]; dirs: string[] } {
  const present = (names: string[], test: (path: string) => boolean): string[] =>
    names.map((name) => `/proc/${name}`).filter((path) => {
      try {
        return test(path);
      } catch {
        return false; // not on this kernel
      }
    });
  procMasks ??= {
    files: present(PROC_MASKED_FILES, (path) => (statSync(path).mode & 0o004) !== 0),
    dirs: present(PROC_MASKED_DIRS, (path) => readdirSync(path).length > 0),
  };
  return procMasks;
}

export function bwrapArgs(spec: BwrapSpec): string[] {
  const args = [
    // user, ipc, pid, net, uts and cgroup namespaces: no network interface but a
    // loopback of its own, no view of host processes, IPC objects or hostname.
    '--unshare-all',
    '--unshare-user',
    // A nested user namespace would hand the step every capability inside it.
    '--disable-userns',
    '--uid', String(spec.uid),
    '--gid', String(spec.gid),
    '--hostname', 'renderer-step',
    // The sandbox dies with the renderer: no orphan ever outlives it.
    '--die-with-parent',
    // setsid(): no controlling terminal to push keystrokes into (CVE-2017-5226).
    '--new-session',
    // The reaper is pid 1 and reports the command's true wait status.
    '--as-pid-1',
    '--clearenv',
  ];
  for (const [key, value] of Object.entries(SANDBOX_ENV)) args.push('--setenv', key, value);
  if (spec.root) args.push('--ro-bind', spec.root, '/');
  // A fresh, size-capped /tmp first, so binds below /tmp (a probe) land on top of it.
  args.push('--size', String(spec.tmpSizeBytes), '--perms', '1777', '--tmpfs', '/tmp');
  for (const bind of spec.binds) args.push(bind.writable ? '--bind' : '--ro-bind', bind.source, bind.dest);
  for (const dir of spec.dirs ?? []) args.push('--perms', '0755', '--dir', dir);
  for (const file of spec.dataFiles ?? []) args.push('--perms', file.perms, file.writable ? '--bind-data' : '--ro-bind-data', String(file.fd), file.dest);
  // A fresh /proc, with what tells about the host masked; of /dev only the data
  // devices a program needs. Not bwrap's --dev: its devpts (a pseudo-terminal to open),
  // /dev/shm and /dev/tty are surface no step needs, and its nine extra mounts cost
  // ~0.3 ms on every run.
  args.push('--proc', '/proc');
  const masked = procMasked();
  // --dev-bind: a read-only bind would be nodev, and reading would fail with EACCES
  // instead of finding the file empty, as it is under runc.
  for (const file of masked.files) args.push('--dev-bind', '/dev/null', file);
  for (const dir of masked.dirs) args.push('--perms', '0555', '--tmpfs', dir, '--remount-ro', dir);
  for (const device of SANDBOX_DEVICES) args.push('--dev-bind', device, device);
  if (!spec.root) {
    for (const [link, target] of DEV_LINKS) args.push('--symlink', target, link);
    // The root tmpfs itself becomes read-only once everything is mounted.
    args.push('--remount-ro', '/');
  }
  args.push(
    '--chdir', SANDBOX_CWD,
    '--seccomp', String(spec.seccompFd),
    '--',
    ...spec.command,
  );
  return args;
}
