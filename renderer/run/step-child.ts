// One step child: a sandboxed step runtime with its run directory, from spawn until it
// is dispatched its single request. The warm pool holds these; a cold run spawns one.
// A child serves exactly one run and is then discarded: nothing leaks between users.
import type { Limits } from '../config/config-schema.js';
import { RUNTIME_FILES, RUNTIME_MOUNT } from '../paths.js';
import { launch, type SandboxProcess } from '../sandbox/launch.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { encodeFrame, types } from '../../thrift/messages.js';
import { CHILD_V8_FLAGS } from './child-v8-flags.js';
import { noteDrained } from './drained-buffers.js';
import { LogsTail } from './logs-tail.js';
import { newChildId } from './owner.js';
import type { KillReason } from './outcome.js';
import { ResultChannel } from './protocol.js';
import { createRunDir, removeRunDir, SANDBOX_IN, SANDBOX_OUT, type RunDir } from './run-dir.js';

/** V8 platform worker threads of every step child. */
export const V8_POOL_THREADS = 4;
/** Threads of a ready step child: main, V8's delayed-task scheduler, the V8 workers and
 * libuv's pool (UV_THREADPOOL_SIZE is never set inside: its default 4). */
export const RUNTIME_THREADS = 2 + V8_POOL_THREADS + 4;

export function runtimeCommand(sandbox: Sandbox): string[] {
  const settings = sandbox.settings;
  const command = [
    sandbox.nodePath,
    ...CHILD_V8_FLAGS,
    // A fixed thread budget, whatever the host's cores: V8's platform workers are made
    // at start-up (Node's default is 4 today; said here so no release or host changes it),
    // libuv's 4 pool threads in the runtime's warm-up (step-runtime/child.ts). Every
    // thread the runtime needs then exists before it says ready, and one that cannot be
    // made fails the start-up (a sandbox_error), never the step.
    `--v8-pool-size=${V8_POOL_THREADS}`,
  ];
  if (settings.nodePermissionModel)
    command.push(
      // A language-level layer above the OS sandbox (a "seat belt", in Node's words):
      // no child processes, workers or inspector; fs reads and writes only where the
      // step's files are. --allow-addons only so the runtime can load its own addon,
      // which it then disables for everyone else (step-runtime/child.ts).
      '--experimental-permission',
      `--allow-fs-read=${RUNTIME_MOUNT}/*`,
      `--allow-fs-read=${SANDBOX_IN}/*`,
      '--allow-fs-read=/tmp/*',
      `--allow-fs-write=${SANDBOX_OUT}/*`,
      '--allow-fs-write=/tmp/*',
      '--allow-addons',
    );
  if (settings.useSnapshot && sandbox.snapshotAvailable)
    command.push('--snapshot-blob', `${RUNTIME_MOUNT}/${RUNTIME_FILES.snapshot}`);
  else command.push(`${RUNTIME_MOUNT}/${RUNTIME_FILES.bundle}`);
  command.push(RUNTIME_MOUNT);
  return command;
}

export interface DispatchFields {
  runId: string;
  stepPath: string;
  inputPath?: string;
  paramsJson: string;
}

export class StepChild {
  killedFor: KillReason | null = null;
  dispatchedAt: number | null = null;
  readonly spawnedAt = performance.now();
  private readonly output: Promise<void>;
  private markDone!: () => void;
  /** Resolves when the run this child served has its result (see runStep). */
  readonly done = new Promise<void>((resolve) => (this.markDone = resolve));

  /** The run this child serves, once dispatched. */
  runId: string | null = null;

  private constructor(
    /** Names the child's run directory and cgroup (see owner.ts). */
    readonly childId: string,
    readonly dir: RunDir,
    readonly process: SandboxProcess,
    readonly channel: ResultChannel,
    readonly logs: LogsTail,
    readonly limits: Limits,
  ) {
    // stdout and stderr into one tail, in the order their chunks arrive.
    this.output = Promise.all(
      process.outputs.map(
        (stream) =>
          new Promise<void>((resolve) => {
            stream.on('data', (chunk: Buffer) => {
              logs.push(chunk);
              noteDrained(chunk.length);
            });
            stream.on('close', resolve);
            stream.on('error', () => resolve());
          }),
      ),
    ).then(() => undefined);
  }

  static async spawn(sandbox: Sandbox, runsRoot: string, limits: Limits): Promise<StepChild> {
    const childId = newChildId();
    const lease = sandbox.leaseUid();
    let dir: RunDir | undefined;
    let process: SandboxProcess;
    try {
      dir = createRunDir(runsRoot, childId, lease.uid, lease.gid);
      process = await launch(sandbox, {
        runId: childId,
        lease,
        limits,
        mode: 'step',
        binds: [
          { source: dir.inDir, dest: SANDBOX_IN },
          { source: dir.outDir, dest: SANDBOX_OUT, writable: true },
        ],
        command: runtimeCommand(sandbox),
      });
    } catch (error) {
      if (dir) removeRunDir(dir);
      lease.release(); // nothing ran as it
      throw error;
    }
    let child: StepChild | undefined;
    const channel = new ResultChannel(process.result!, limits.maxResultBytes, () => void child?.kill('protocol'));
    child = new StepChild(childId, dir, process, channel, new LogsTail(limits.maxLogBytes), limits);
    return child;
  }

  get ready(): Promise<void> {
    return this.channel.ready;
  }

  /** Resolves when the command's output pipe has closed (all logs are in). */
  get outputDone(): Promise<void> {
    return this.output;
  }

  /** Sends the one request and closes stdin. The timeout clock starts here. */
  dispatch(fields: DispatchFields): void {
    if (this.dispatchedAt !== null) throw new Error(`child ${this.childId} was already dispatched`);
    this.dispatchedAt = performance.now();
    this.runId = fields.runId;
    const request = new types.StepRequest({
      runId: fields.runId,
      stepPath: fields.stepPath,
      inputPath: fields.inputPath,
      outputPath: `${SANDBOX_OUT}/output.arrow`,
      paramsJson: fields.paramsJson,
      maxResultBytes: this.limits.maxResultBytes,
    });
    const stdin = this.process.stdin!;
    stdin.on('error', () => undefined); // a child that died early closes its end: EPIPE is not ours to throw
    stdin.end(encodeFrame(request));
  }

  /** The kill policy of launch.ts, remembering why (the first reason wins). */
  async kill(reason: KillReason): Promise<void> {
    this.killedFor ??= reason;
    await this.process.kill();
  }

  /** The run has its result: what follows (cleanup, a pool refill) may take the CPU. */
  finished(): void {
    this.markDone();
  }

  /** Removes what the run left on the host: its cgroup, uid lease and run directory. */
  async cleanUp(): Promise<void> {
    await this.process.tearDown();
    removeRunDir(this.dir);
  }

  /** Ends a child that will never be dispatched (pool shutdown, failed staging). */
  async discard(): Promise<void> {
    await this.kill('canceled').catch(() => undefined);
    await this.process.exited.catch(() => undefined);
    await this.cleanUp();
  }
}
