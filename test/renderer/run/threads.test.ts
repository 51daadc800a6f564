// A step child's thread budget is fixed and spent before it says ready: V8's platform
// workers and libuv's pool exist from start-up, whatever the host's cores, so no thread
// is ever made on a step's behalf after dispatch (where a refused one was an abort the
// renderer reported as the step's `crashed`).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { configFrom } from '../../../renderer/config/load.js';
import { runStep } from '../../../renderer/run/run-step.js';
import { Runner } from '../../../renderer/run/runner.js';
import { RUNTIME_THREADS, type StepChild } from '../../../renderer/run/step-child.js';
import { isRoot, scratchDir } from '../../helpers.js';

/** Threads of the node process in the child's cgroup. */
async function nodeThreads(child: StepChild): Promise<number> {
  for (const pid of (await child.process.cgroup?.pids()) ?? []) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node') return readdirSync(`/proc/${pid}/task`).length;
    } catch {
      /* gone */
    }
  }
  return -1;
}

describe('the step runtime\'s threads', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let dir: ReturnType<typeof scratchDir>;
  let runner: Runner;
  before(async () => {
    dir = scratchDir();
    runner = await Runner.create(configFrom({ stateDir: dir.path }));
  });
  after(async () => {
    await runner.settle();
    dir.remove();
  });

  it(`a ready child already holds all ${RUNTIME_THREADS} of its threads, and a step's async fs and crypto work adds none`, async () => {
    const ready = await runner.spawnChild(runner.limits());
    await ready.ready;
    assert.equal(await nodeThreads(ready), RUNTIME_THREADS, 'threads of a ready child');
    await ready.discard();

    let during = -1;
    const result = await runStep(runner, {
      step: {
        code: `import { readdir, stat } from 'node:fs/promises'; import { pbkdf2 } from 'node:crypto';
          export async function render() {
            await Promise.all([...Array.from({ length: 16 }, () => stat('/tmp')), readdir('/tmp'),
              ...Array.from({ length: 8 }, () => new Promise((r) => pbkdf2('x', 'y', 20000, 32, 'sha256', r)))]);
            await new Promise((r) => setTimeout(r, 1500));
            return { json: 'done' };
          }`,
      },
      limits: runner.limits(),
      onDispatch: (child) => void setTimeout(() => void nodeThreads(child).then((n) => (during = n)), 1000),
    });
    assert.equal(result.outcome, 'ok', result.error ?? '');
    assert.equal(during, RUNTIME_THREADS, 'threads while the step ran');
  });

  it('a ready child\'s stdout and stderr have 1 MiB send buffers (fewer wake-ups of the renderer per MiB of logs)', { skip: spawnSync('ss', ['-V']).status !== 0 && 'ss (iproute2) is not installed' }, async () => {
    const child = await runner.spawnChild(runner.limits());
    try {
      await child.ready;
      const node = ((await child.process.cgroup?.pids()) ?? []).find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node');
      const sockets = execFileSync('ss', ['-xmpH'], { encoding: 'utf8' }).split('\n');
      for (const fd of [1, 2]) {
        const line = sockets.find((l) => l.includes(`pid=${node},fd=${fd})`));
        // The kernel reports twice what SO_SNDBUF asked for.
        assert.equal(/tb(\d+)/.exec(line ?? '')?.[1], String(2 * 1024 * 1024), `fd ${fd}: ${line}`);
      }
    } finally {
      await child.discard();
    }
  });
});
