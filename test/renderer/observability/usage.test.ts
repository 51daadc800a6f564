// The usage sampler reads /proc of a run's processes. A regression test for the fd leak
// that pidusage caused (an fd kept open per sampled pid for a minute, 96 more fds after
// 160 soak runs): sampling a child, to its end and after, leaves no fd behind. The
// sampler is tested on a plain child process through a stand-in for the run's cgroup.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { it } from 'node:test';
import { sampleProcess, sampleUsage, sampleWhileRunning } from '../../../renderer/observability/usage.js';
import type { StepChild } from '../../../renderer/run/step-child.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A child that spins for `ms`, and a StepChild whose cgroup holds just it. */
function spinningChild(ms: number): { process: ChildProcess; step: StepChild } {
  const process_ = spawn(process.execPath, ['-e', `const end = Date.now() + ${ms}; while (Date.now() < end);`], { stdio: 'ignore' });
  const cgroup = {
    stats: async () => ({ memoryBytes: 1, peakMemoryBytes: 1, cpuSeconds: 0, pidsLimitHits: 0 }),
    pids: async () => (process_.exitCode === null && process_.signalCode === null ? [process_.pid!] : []),
  };
  return { process: process_, step: { process: { cgroup } } as unknown as StepChild };
}

it('reads CPU and RSS of a live process, and null once it is gone', async () => {
  const { process: child } = spinningChild(400);
  await sleep(250);
  const first = sampleProcess(child.pid!);
  assert.ok(first, 'a sample of the running child');
  assert.ok(first.rssBytes > 1024 * 1024, `rss ${first.rssBytes}`);
  assert.ok(first.cpuPercent > 10 && first.cpuPercent <= 100 * 64, `lifetime cpu ${first.cpuPercent}%`);
  await sleep(100);
  const since = sampleProcess(child.pid!, first.reading);
  assert.ok(since && since.cpuPercent > 10, `cpu since the first sample ${since?.cpuPercent}%`);
  await once(child, 'exit');
  assert.equal(sampleProcess(child.pid!), null);
});

it('sampling a run to its end leaves no fd open (pidusage kept one per pid for 60 s)', async () => {
  await once(spinningChild(0).process, 'exit'); // libuv's fds for child processes, made once
  const before = openFds();
  for (let i = 0; i < 3; i++) {
    const { process: child, step } = spinningChild(300);
    const sampler = sampleWhileRunning(step, 50);
    assert.ok((await sampleUsage(step)).process, 'a one-off sample while it runs');
    await once(child, 'exit');
    await sleep(60); // a tick after the end: the pid is gone
    const peaks = sampler.stop();
    assert.ok(peaks.maxRssBytes !== null && peaks.maxRssBytes > 0, 'peaks were measured');
    assert.ok(peaks.maxCpuPercent !== null && peaks.maxCpuPercent > 0);
  }
  await sleep(20);
  assert.equal(openFds(), before, 'fds open after sampling three finished children');
});

it('a run that ends before its first sample has null peaks, not measured zeros', async () => {
  const { process: child, step } = spinningChild(10);
  const sampler = sampleWhileRunning(step, 10_000);
  await once(child, 'exit');
  assert.deepEqual(sampler.stop(), { maxCpuPercent: null, maxRssBytes: null });
});
