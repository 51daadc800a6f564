// How a sandboxed process is seen to end (launch.ts), against a fake launcher whose
// pipes the test writes: a step ends at the reaper's report, with every byte written
// before it; a command ends when the launcher exits; the cgroup goes only after both.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { RunCgroup } from '../../../renderer/sandbox/cgroup/driver.js';
import { SandboxProcess, type LaunchMode, type Subprocess } from '../../../renderer/sandbox/launch.js';
import type { UidLease } from '../../../renderer/sandbox/uids.js';

interface FakeLauncher {
  subprocess: Subprocess;
  pipes: PassThrough[];
  exit: (code: number) => void;
}

/** fds as launch.ts gives them: step 0 request, 1-2 logs, 3 result, 4 status; command 3 status. */
function fakeLauncher(): FakeLauncher {
  const pipes = Array.from({ length: 6 }, () => new PassThrough());
  let exit!: (code: number) => void;
  const exited = new Promise<{ exitCode: number | null; signal: string | null }>((resolve) => (exit = (exitCode) => resolve({ exitCode, signal: null })));
  const child = { stdio: pipes, stdin: pipes[0], pid: 4242, kill: () => true } as unknown as ChildProcess;
  return { subprocess: { child, exit: exited }, pipes, exit };
}

function collect(stream: Readable): () => string {
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}

const settled = <T>(promise: Promise<T>): Promise<boolean> =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 50))]);

/** A uid lease that records how it ended. */
function fakeLease(calls: string[] = []): UidLease {
  return { uid: 2_000_000_000, gid: 2_000_000_000, release: () => void calls.push('release'), abandon: () => void calls.push('abandon') };
}

function start(mode: LaunchMode, cgroup: RunCgroup | null = null, lease = fakeLease()): FakeLauncher & { process: SandboxProcess } {
  const launcher = fakeLauncher();
  return { ...launcher, process: new SandboxProcess(launcher.subprocess, 'run-test', cgroup, mode, lease) };
}

describe('SandboxProcess: the end of a run', () => {
  it('a step ends at the reaper\'s report, before the launcher exits, with every byte written before it', async () => {
    const { process: child, pipes } = start('step');
    const logs = collect(child.outputs[0]!);
    const errors = collect(child.outputs[1]!);
    const result = collect(child.result!);
    pipes[1]!.write('last words\n');
    pipes[2]!.write('warning\n');
    pipes[3]!.write('RESULT');
    pipes[4]!.write('started\n');
    pipes[4]!.write('exited 3\n');
    assert.ok(await settled(child.exited), 'exited resolves while the launcher still runs');
    assert.deepEqual(await child.exited, { setupError: null, exitCode: 3, signal: null, coreDumped: false });
    assert.equal(logs(), 'last words\n');
    assert.equal(errors(), 'warning\n');
    assert.equal(result(), 'RESULT');
    assert.ok(child.outputs.every((stream) => stream.destroyed) && child.result!.destroyed, 'the step\'s pipes are closed');
  });

  it('reads the report by whole lines: "exited 1" then "3\\n" is exit 13; a signal keeps its core flag', async () => {
    const split = start('step');
    split.pipes[4]!.write('started\nexited 1');
    assert.equal(await settled(split.process.exited), false, 'half a line decides nothing');
    split.pipes[4]!.write('3\n');
    assert.equal((await split.process.exited).exitCode, 13);

    const signaled = start('step');
    signaled.pipes[4]!.write('started\nsignaled 11 core\n');
    assert.deepEqual(await signaled.process.exited, { setupError: null, exitCode: null, signal: 'SIGSEGV', coreDumped: true });
  });

  it('a command ends when the launcher exits: its own children may still hold its stdio', async () => {
    const { process: child, pipes, exit } = start('command');
    pipes[3]!.end('started\nexited 0\n');
    assert.equal(await settled(child.exited), false);
    exit(0);
    assert.deepEqual(await child.exited, { setupError: null, exitCode: 0, signal: null, coreDumped: false });
  });

  it('a sandbox that never reported is a setup error once the launcher exits', async () => {
    const { process: child, pipes, exit } = start('step');
    pipes[4]!.end('error launcher: cannot open /sys/fs/cgroup/memory/x/tasks: ENOENT\n');
    exit(125);
    assert.match((await child.exited).setupError ?? '', /cannot open \/sys\/fs\/cgroup/);
  });

  it('the cgroup is emptied and removed only after the launcher has exited', async () => {
    const calls: string[] = [];
    const cgroup = {
      name: 'run-test',
      joinFiles: [],
      kill: async () => void calls.push('kill'),
      remove: async () => void calls.push('remove'),
      stats: async () => ({ oomKills: 0, peakMemoryBytes: 1, memoryBytes: 1, cpuSeconds: 0, pidsLimitHits: 0 }),
    } as unknown as RunCgroup;
    const { process: child, pipes, exit } = start('step', cgroup, fakeLease(calls));
    pipes[4]!.write('started\nexited 0\n');
    await child.exited;
    assert.equal((await child.finish())?.peakMemoryBytes, 1);
    const removed = child.tearDown();
    assert.equal(await settled(removed), false);
    assert.deepEqual(calls, [], 'nothing is killed while the sandbox tears itself down');
    exit(0);
    await removed;
    assert.deepEqual(calls, ['kill', 'remove', 'release'], 'the uid goes back only once the cgroup is empty');
  });

  it('a cgroup that could not be emptied abandons the uid lease instead of releasing it', async () => {
    const calls: string[] = [];
    const cgroup = {
      name: 'run-test',
      joinFiles: [],
      kill: async () => {
        throw new Error('processes still in the cgroup after 10 s');
      },
      remove: async () => void calls.push('remove'),
      stats: async () => ({ oomKills: 0, peakMemoryBytes: 1, memoryBytes: 1, cpuSeconds: 0, pidsLimitHits: 0 }),
    } as unknown as RunCgroup;
    const { process: child, pipes, exit } = start('step', cgroup, fakeLease(calls));
    pipes[4]!.write('started\nexited 0\n');
    exit(0);
    await child.exited;
    const warned = new Promise((resolve) => process.once('warning', resolve));
    await child.tearDown();
    await warned;
    assert.deepEqual(calls, ['remove', 'abandon']);
  });
});
