// renderer sandbox [--timeout-ms N] [--memory-mib N] [--bind-ro PATH]... [--config FILE] -- COMMAND [ARGS...]
//
// Runs any program under exactly the isolation a step gets: same uid, namespaces,
// seccomp policy (stage 1), filesystem view (/run/in, /run/out, a fresh /tmp), cgroup
// and rlimits. COMMAND and its shared libraries are bound read-only at their host
// paths; so is every --bind-ro PATH. stdio is the caller's. The exit status is the
// command's, 128+N for signal N; 125 when the sandbox cannot be set up.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isRendererError } from '../errors.js';
import type { UidLease } from '../sandbox/uids.js';
import { OUTPUT_FILE, SANDBOX_IN, SANDBOX_OUT } from '../run/run-dir.js';
import { newChildId } from '../run/owner.js';
import { Runner } from '../run/runner.js';
import { resolveCommand } from '../sandbox/host.js';
import { launch, signalNumber } from '../sandbox/launch.js';
import { limitFlags, parseFlags, parseOrReport, UsageError, writeLine } from './args.js';

export const EXIT_SANDBOX_FAILED = 125;

export interface SandboxArgs {
  command: string[];
  binds: string[];
  timeoutMs?: number;
  memoryMiB?: number;
  config?: string;
}

export function parseSandboxArgs(argv: string[]): SandboxArgs {
  const dashes = argv.indexOf('--');
  if (dashes < 0) throw new UsageError('put the command after `--`: renderer sandbox [flags] -- COMMAND [ARGS...]');
  const { values, positionals } = parseFlags(argv.slice(0, dashes), {
    'timeout-ms': { type: 'string' },
    'memory-mib': { type: 'string' },
    'bind-ro': { type: 'string', multiple: true },
    config: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]} before --`);
  const command = argv.slice(dashes + 1);
  if (command.length === 0) throw new UsageError('no COMMAND after --');
  const resolved = resolveCommand(command[0]!);
  if (!resolved) throw new UsageError(`command ${command[0]} not found or not executable`);
  const binds = (values['bind-ro'] ?? []).map((path) => {
    const absolute = resolve(path);
    if (!existsSync(absolute)) throw new UsageError(`--bind-ro ${path} does not exist`);
    return absolute;
  });
  const args: SandboxArgs = { command: [resolved, ...command.slice(1)], binds };
  Object.assign(args, limitFlags(values));
  if (values.config !== undefined) args.config = values.config;
  return args;
}

export async function sandboxCommand(argv: string[]): Promise<number> {
  const parsed = parseOrReport('sandbox', () => parseSandboxArgs(argv));
  if (!parsed) return 2;
  const { args, config } = parsed;
  const say = (message: string): void => writeLine(process.stderr, `renderer sandbox: ${message}`);
  const runner = await Runner.create(config, { warn: say });
  if (!runner.sandbox) {
    say(`the sandbox is unavailable: ${runner.sandboxProblem}`);
    return EXIT_SANDBOX_FAILED;
  }
  const limits = runner.limits({ timeoutMs: args.timeoutMs, memoryMiB: args.memoryMiB });
  const runId = newChildId();
  let lease: UidLease;
  try {
    lease = runner.sandbox.leaseUid();
  } catch (error) {
    say(`the sandbox could not be started: ${(error as Error).message}`);
    return EXIT_SANDBOX_FAILED;
  }
  let launched = false;
  try {
    const command = args.command[0]!;
    const child = await launch(runner.sandbox, {
      runId,
      lease,
      limits,
      mode: 'command',
      binds: [{ source: command, dest: command }, ...args.binds.map((path) => ({ source: path, dest: path }))],
      // A step's view, with no run directory behind it: an empty /run/in, and in
      // /run/out only output.arrow to write (nothing reads it afterwards).
      dirs: [SANDBOX_IN, SANDBOX_OUT],
      scratchFiles: [join(SANDBOX_OUT, OUTPUT_FILE)],
      libraryUsers: [command],
      command: args.command,
    });
    launched = true;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void child.kill();
    }, limits.timeoutMs);
    const forward = (): void => void child.kill();
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    const exit = await child.exited;
    clearTimeout(timer);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    const stats = await child.finish();
    await child.tearDown();
    if (exit.setupError) {
      say(`the sandbox could not be set up: ${exit.setupError}`);
      return EXIT_SANDBOX_FAILED;
    }
    if (timedOut) say(`timed out after ${limits.timeoutMs} ms; the command was killed`);
    else if (stats && stats.oomKills > 0) say(`the command exceeded the memory limit of ${limits.memoryMiB} MiB and was killed`);
    if (exit.signal) return 128 + (signalNumber(exit.signal) ?? 9);
    if (timedOut || exit.exitCode === null) return 128 + 9;
    return exit.exitCode;
  } catch (error) {
    say(`the sandbox could not be started: ${isRendererError(error) ? error.detail : (error as Error).message}`);
    return EXIT_SANDBOX_FAILED;
  } finally {
    if (!launched) lease.release();
  }
}
