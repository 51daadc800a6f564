// Starting one sandboxed process tree, and the one kill policy that ends it.
//
//   renderer ─spawn─▶ renderer-launcher ─exec─▶ bwrap ─▶ renderer-reaper (pid 1) ─▶ COMMAND
//                      (cgroup, rlimits,         (namespaces,  (true wait status
//                       uid drop, fd close)        seccomp)      on the status fd)
//
// File descriptors at the launcher, by mode:
//   step:    0 request · 1,2 logs (one interleaved stream) · 3 result · 4 status · 5 seccomp
//   command: 0,1,2 the caller's own · 3 status · 4 seccomp · 5 the reaper · 6.. scratch files
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Limits } from '../config/config-schema.js';
import { LAUNCHER_PATH, RUNTIME_FILES, RUNTIME_MOUNT } from '../paths.js';
import { bwrapArgs, type Bind, type DataFile } from './bwrap-args.js';
import { RUN_CGROUP_PREFIX, type CgroupStats, type RunCgroup } from './cgroup/driver.js';
import { libraryBind } from './libraries.js';
import type { Sandbox } from './sandbox.js';
import type { UidLease } from './uids.js';

const MIB = 1024 * 1024;
const STATUS_MAX_BYTES = 4096;
const NPROC_MARGIN = 8;
/** Send buffer of a step's stdout/stderr sockets (native/launcher.c says why). */
const LOG_SOCKET_BUFFER_BYTES = MIB;
/** How long tearDown waits for the launcher to exit by itself before it kills. */
const LAUNCHER_EXIT_WAIT_MS = 2000;

export type LaunchMode = 'step' | 'command';
/** The launcher's process and how it ended (`error`: it could not be started at all). */
export interface Subprocess {
  readonly child: ChildProcess;
  readonly exit: Promise<{ exitCode: number | null; signal: string | null; error?: Error }>;
}

export interface LaunchSpec {
  runId: string;
  /** The sandbox's own step uid (sandbox.leaseUid()); the SandboxProcess ends the lease
   * in tearDown(), or the caller when launch() throws. */
  lease: UidLease;
  limits: Limits;
  mode: LaunchMode;
  /** Binds besides node, its libraries and the runtime directory. */
  binds: readonly Bind[];
  /** Host binaries whose shared libraries must be visible (a `sandbox` command). */
  libraryUsers?: readonly string[];
  /** Command mode: empty read-only directories, with no host directory behind them. */
  dirs?: readonly string[];
  /** Command mode: empty files the command may write, kept nowhere on the host. */
  scratchFiles?: readonly string[];
  /** The command inside the sandbox, started by the reaper. */
  command: readonly string[];
}

export interface SandboxExit {
  /** Set when the sandbox itself failed before the command ran: a sandbox_error. */
  setupError: string | null;
  exitCode: number | null;
  signal: string | null;
  coreDumped: boolean;
}

/** Signal numbers of x86_64 Linux, for naming the reaper's numeric report. */
const SIGNAL_NAMES: Readonly<Record<number, string>> = {
  1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS',
  8: 'SIGFPE', 9: 'SIGKILL', 10: 'SIGUSR1', 11: 'SIGSEGV', 12: 'SIGUSR2', 13: 'SIGPIPE',
  14: 'SIGALRM', 15: 'SIGTERM', 16: 'SIGSTKFLT', 17: 'SIGCHLD', 18: 'SIGCONT', 19: 'SIGSTOP',
  20: 'SIGTSTP', 21: 'SIGTTIN', 22: 'SIGTTOU', 23: 'SIGURG', 24: 'SIGXCPU', 25: 'SIGXFSZ',
  26: 'SIGVTALRM', 27: 'SIGPROF', 28: 'SIGWINCH', 29: 'SIGIO', 30: 'SIGPWR', 31: 'SIGSYS',
};
export const signalName = (n: number): string => SIGNAL_NAMES[n] ?? `SIG${n}`;
export function signalNumber(name: string): number | undefined {
  const entry = Object.entries(SIGNAL_NAMES).find(([, v]) => v === name);
  return entry ? Number(entry[0]) : undefined;
}

/** Parses the status fd: "started", "exited N", "signaled N [core]", "error MESSAGE". */
export function parseStatus(text: string): { started: boolean; exit?: Omit<SandboxExit, 'setupError'>; error?: string } {
  const out: ReturnType<typeof parseStatus> = { started: false };
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if (line === 'started') out.started = true;
    else if ((m = /^exited (\d{1,3})$/.exec(line))) out.exit = { exitCode: Number(m[1]), signal: null, coreDumped: false };
    else if ((m = /^signaled (\d{1,2})( core)?$/.exec(line)))
      out.exit = { exitCode: null, signal: signalName(Number(m[1])), coreDumped: m[2] !== undefined };
    else if ((m = /^error (.{1,1000})$/.exec(line))) out.error ??= m[1];
  }
  return out;
}

export class SandboxProcess {
  readonly runId: string;
  readonly cgroup: RunCgroup | null;
  readonly stdin: Writable | null;
  /** stdout and stderr of the command (step mode). */
  readonly outputs: readonly Readable[];
  /** The result pipe, fd 3 inside (step mode). */
  readonly result: Readable | null;
  /**
   * The command has ended. In step mode that is the reaper's report, when the sandbox's
   * own teardown may still be under way (tearDown waits for it); otherwise, and
   * whenever there is no report, the launcher's exit.
   */
  readonly exited: Promise<SandboxExit>;
  readonly startedAt = performance.now();
  private killed = false;
  /** Kills and the removal of one run's cgroup happen one after another, never at once. */
  private cgroupWork: Promise<void> = Promise.resolve();
  private readonly subprocess: Subprocess;
  private readonly lease: UidLease;

  constructor(subprocess: Subprocess, runId: string, cgroup: RunCgroup | null, mode: LaunchMode, lease: UidLease) {
    this.subprocess = subprocess;
    this.lease = lease;
    this.runId = runId;
    this.cgroup = cgroup;
    const statusFd = mode === 'step' ? 4 : 3;
    const stdio = subprocess.child.stdio;
    this.stdin = mode === 'step' ? subprocess.child.stdin : null;
    this.outputs = mode === 'step' ? [stdio[1] as Readable, stdio[2] as Readable] : [];
    this.result = mode === 'step' ? (stdio[3] as Readable) : null;

    // A step ends at the reaper's report, not at the launcher's exit: what lies between
    // (pid 1's exit tearing down the namespaces, bwrap's monitor reaping it and exiting)
    // took ~1 ms of every run (perf sched trace) and decides nothing. The step's pipes
    // are complete at the report: their one writer, the step, is dead (the reaper
    // reports after waitpid, which returns only once every thread has exited, and
    // seccomp stage 2 let the step start no other process), so all it wrote was in the
    // pipes before the report was. libuv reads every ready fd of a poll round until
    // the pipe is empty (up to 32 x 64 KiB, more than a pipe can hold) before
    // setImmediate callbacks run; the streams are closed then, and their readers finish
    // as at end-of-file. Command mode waits for the launcher: its commands may fork,
    // and their children hold the stdio.
    let reported: ((exit: SandboxExit) => void) | undefined;
    const early = new Promise<SandboxExit>((resolve) => (reported = resolve));
    const status = readStatus(stdio[statusFd] as Readable, (exit) => {
      if (mode !== 'step') return;
      setImmediate(() => {
        for (const stream of [...this.outputs, this.result]) stream?.destroy();
        reported?.({ setupError: null, ...exit });
      });
    });
    const late = (async (): Promise<SandboxExit> => {
      const [result, statusText] = await Promise.all([subprocess.exit, status]);
      if (result.error) return { setupError: `the launcher could not be started: ${result.error.message}`, exitCode: null, signal: null, coreDumped: false };
      const parsed = parseStatus(statusText);
      if (parsed.error) return { setupError: parsed.error, exitCode: null, signal: null, coreDumped: false };
      if (parsed.exit) return { setupError: null, ...parsed.exit };
      // No report from the reaper. Killed by us, it had no chance; otherwise the
      // sandbox never came up (bwrap printed why on stderr).
      const { signal, exitCode } = result;
      if (!parsed.started && !this.killed)
        return {
          setupError: `bubblewrap failed before the command started (exit ${exitCode ?? signal})`,
          exitCode,
          signal,
          coreDumped: false,
        };
      return { setupError: null, exitCode, signal, coreDumped: false };
    })();
    this.exited = Promise.race([early, late]);
  }

  get pid(): number | undefined {
    return this.subprocess.child.pid;
  }

  get wasKilled(): boolean {
    return this.killed;
  }

  /**
   * The kill policy, the only one: SIGKILL at once (untrusted code may ignore SIGTERM),
   * first bwrap (--die-with-parent and pid 1's exit take the namespace down), then
   * every process in the cgroup, waiting until it is empty.
   */
  async kill(): Promise<void> {
    this.killed = true;
    this.subprocess.child.kill('SIGKILL');
    await this.onCgroup('ending the processes', (cgroup) => cgroup.kill());
  }

  /** Runs `work` on the cgroup after any earlier work on it; never throws (callers
   * fire kills and forget them, and a kill racing the run's end is normal). Resolves
   * false when the work failed. */
  private onCgroup(what: string, work: (cgroup: RunCgroup) => Promise<void>): Promise<boolean> {
    const cgroup = this.cgroup;
    if (!cgroup) return Promise.resolve(true);
    const done = this.cgroupWork.then(() =>
      work(cgroup).then(
        () => true,
        (error: unknown) => {
          process.emitWarning(`${what} of run ${this.runId}: ${(error as Error).message}`);
          return false;
        },
      ),
    );
    this.cgroupWork = done.then(() => undefined);
    return done;
  }

  /** After exit: what the run used. Final once the command has ended: nothing left in
   * the sandbox allocates or computes. Never throws. */
  async finish(): Promise<CgroupStats | null> {
    let stats: CgroupStats | null = null;
    await this.onCgroup('measuring', async (cgroup) => {
      stats = await cgroup.stats();
    });
    return stats;
  }

  /**
   * The end of every run: once the launcher has exited (or after
   * LAUNCHER_EXIT_WAIT_MS), kills whatever is left in the cgroup, waits until it is
   * empty, removes it, and only then ends the step uid's lease: a uid goes to another
   * sandbox only once nothing runs as it. Without a cgroup, once the launcher has
   * exited (bwrap's pid namespace took every process with it). Never throws.
   */
  async tearDown(): Promise<void> {
    if (!this.cgroup) {
      await this.subprocess.exit;
      this.lease.release();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.subprocess.exit, new Promise((resolve) => (timer = setTimeout(resolve, LAUNCHER_EXIT_WAIT_MS)))]);
    clearTimeout(timer);
    const emptied = await this.onCgroup('ending the processes', (cgroup) => cgroup.kill());
    await this.onCgroup('removing the cgroup', (cgroup) => cgroup.remove());
    if (emptied) this.lease.release();
    else this.lease.abandon();
  }
}

/**
 * Reads the status fd until it closes (at most STATUS_MAX_BYTES; the reaper writes a
 * few ASCII lines); calls `onEnd` once, as soon as a complete line reports how the
 * command ended.
 */
function readStatus(stream: Readable, onEnd: (exit: NonNullable<ReturnType<typeof parseStatus>['exit']>) => void): Promise<string> {
  let seen = '';
  let ended = false;
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      if (seen.length >= STATUS_MAX_BYTES) return;
      seen += chunk.toString('utf8', 0, STATUS_MAX_BYTES - seen.length);
      if (ended) return;
      // Whole lines only: "exited 1" may be the first half of "exited 13".
      const exit = parseStatus(seen.slice(0, seen.lastIndexOf('\n') + 1)).exit;
      if (exit) {
        ended = true;
        onEnd(exit);
      }
    });
    stream.on('error', () => resolve(seen));
    stream.on('close', () => resolve(seen));
  });
}

/**
 * Starts the launcher with node:child_process rather than execa (used elsewhere): on
 * this path execa's per-stream machinery cost ~0.5 ms of every run (bench/cold-start),
 * and none of it is needed: callers read the raw streams with their own bounds, and a
 * sandbox whose renderer dies is ended by bwrap --die-with-parent.
 */
function spawnLauncher(args: string[], stdio: StdioOptions, seccompFd: number, seccomp: Buffer): Subprocess {
  const child = spawn(LAUNCHER_PATH, args, { stdio, env: {} });
  const program = child.stdio[seccompFd] as Writable;
  program.on('error', () => undefined); // a launcher that failed early closed its end
  program.end(seccomp); // well under a pipe's buffer: written at once
  const exit = new Promise<Awaited<Subprocess['exit']>>((resolve) => {
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ exitCode: null, signal: null, error });
    });
  });
  return { child, exit };
}

export async function launch(sandbox: Sandbox, spec: LaunchSpec): Promise<SandboxProcess> {
  const { limits } = spec;
  const step = spec.mode === 'step';
  const statusFd = step ? 4 : 3;
  const seccompFd = step ? 5 : 4;
  // Steps: the prepared root (step-root.ts), one mount. Commands: a tmpfs root with
  // node and the command's libraries bound file by file, each library through
  // libraryBind: whatever listed it, only a regular file inside the library
  // directories is ever bound (a socket or a host directory was, issue 13).
  const base: Bind[] = step
    ? sandbox.stepRoot.binds
    : [
        ...sandbox.librariesFor(spec.libraryUsers ?? []).map((path) => libraryBind(path)),
        { source: sandbox.nodePath, dest: sandbox.nodePath },
      ];
  const binds: Bind[] = [...base, ...spec.binds];
  const reaper = `${RUNTIME_MOUNT}/${RUNTIME_FILES.reaper}`;
  // Commands get the reaper and their scratch files as copies bwrap makes in its own
  // tmpfs, not as binds of the state directory: /proc/self/mountinfo shows the host
  // path of every bind, and the state directory's run and runtime paths carry its
  // location and the renderer's pid (issue 13). Each copy's source is an fd after the
  // seccomp program's; the launcher keeps them, bwrap reads them, the reaper closes them.
  const copies: Array<{ source: string; file: DataFile }> = step
    ? []
    : [
        { source: join(sandbox.runtimeDir, RUNTIME_FILES.reaper), file: { fd: seccompFd + 1, dest: reaper, perms: '0555' } },
        ...(spec.scratchFiles ?? []).map((dest, i) => ({ source: '/dev/null', file: { fd: seccompFd + 2 + i, dest, perms: '0600', writable: true } })),
      ];
  const bwrap = bwrapArgs({
    root: step ? sandbox.stepRoot.dir : undefined,
    uid: spec.lease.uid,
    gid: spec.lease.gid,
    binds,
    dirs: step ? [] : spec.dirs,
    dataFiles: copies.map((copy) => copy.file),
    tmpSizeBytes: limits.tmpSizeMiB * MIB,
    seccompFd,
    command: [reaper, '--status-fd', String(statusFd), '--keep-fds', String(statusFd - 1), '--', ...spec.command],
  });

  const cgroup = sandbox.cgroups
    ? await sandbox.cgroups.create(`${RUN_CGROUP_PREFIX}${spec.runId}`, {
        memoryBytes: limits.memoryMiB * MIB,
        maxProcesses: limits.maxProcesses,
        cpuCores: limits.cpuCores,
      })
    : null;

  // With a pids cgroup, RLIMIT_NPROC sits a little above pids.max: the kernel checks it
  // first, and only a refusal by the cgroup is counted (pids.events), which is the
  // evidence that tells a run that met its limit from one that crashed on its own.
  const nproc = cgroup ? limits.maxProcesses + NPROC_MARGIN : limits.maxProcesses;
  const launcherArgs = [
    '--status-fd', String(statusFd),
    '--keep-fds', String(seccompFd + copies.length),
    '--uid', String(spec.lease.uid),
    '--gid', String(spec.lease.gid),
    ...(cgroup?.joinFiles ?? []).flatMap((file) => ['--cgroup-join', file]),
    ...(cgroup?.intoDir ? ['--cgroup-into', cgroup.intoDir] : []),
    // Backstops behind the cgroup: no core files, a per-file size cap at the output
    // limit, a bounded fd table, and a process cap for hosts without a pids cgroup.
    // RLIMIT_NPROC counts every task of the uid on the host: a cap of this one run's
    // only because the uid is this sandbox's alone (uids.ts).
    '--rlimit', 'CORE=0:0',
    '--rlimit', `FSIZE=${limits.maxOutputBytes}:${limits.maxOutputBytes}`,
    '--rlimit', `NOFILE=${limits.maxOpenFiles}:${limits.maxOpenFiles}`,
    '--rlimit', `NPROC=${nproc}:${nproc}`,
    '--nice', String(sandbox.settings.niceness),
    ...(step ? ['--sndbuf', String(LOG_SOCKET_BUFFER_BYTES)] : []),
    '--',
    sandbox.settings.bwrapPath,
    ...bwrap,
  ];

  let subprocess: Subprocess;
  const opened: number[] = [];
  try {
    for (const { source } of copies) opened.push(openSync(source, constants.O_RDONLY | constants.O_NOFOLLOW));
    subprocess = spawnLauncher(
      launcherArgs,
      step ? ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] : ['inherit', 'inherit', 'inherit', 'pipe', 'pipe', ...opened],
      seccompFd,
      sandbox.seccompProgram,
    );
  } catch (error) {
    await cgroup?.remove().catch(() => undefined);
    throw error;
  } finally {
    for (const fd of opened) closeSync(fd); // the launcher has its own copies
  }
  return new SandboxProcess(subprocess, spec.runId, cgroup, spec.mode, spec.lease);
}
