// The bubblewrap command line for one sandbox. Every namespace is new; the filesystem
// is an empty tmpfs root holding only what is bound into it, read-only unless the
// bind says otherwise; the environment is exactly SANDBOX_ENV.

export interface Bind {
  source: string;
  dest: string;
  /** Read-write. Only a run's own output directory is ever bound this way. */
  writable?: boolean;
}

export interface BwrapSpec {
  uid: number;
  gid: number;
  binds: readonly Bind[];
  tmpSizeBytes: number;
  seccompFd: number;
  command: readonly string[];
}

/** Every sandboxed command starts in its own fresh /tmp. */
export const SANDBOX_CWD = '/tmp';

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
  // A fresh, size-capped /tmp first, so binds below /tmp (a probe) land on top of it.
  args.push('--size', String(spec.tmpSizeBytes), '--perms', '1777', '--tmpfs', '/tmp');
  for (const bind of spec.binds) args.push(bind.writable ? '--bind' : '--ro-bind', bind.source, bind.dest);
  args.push(
    '--proc', '/proc',
    '--dev', '/dev',
    // The root tmpfs itself becomes read-only once everything is mounted.
    '--remount-ro', '/',
    '--chdir', SANDBOX_CWD,
    '--seccomp', String(spec.seccompFd),
    '--',
    ...spec.command,
  );
  return args;
}
