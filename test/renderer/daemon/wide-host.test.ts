// A wide host, squeezed onto this small one: many runs at once, a second renderer and
// a fork bomb beside them. Regression for issue 12: with one step uid for every
// sandbox, RLIMIT_NPROC (counted per uid across the host) let ~6 Node children live at
// once: 16 concurrent runs ended 1 ok, 15 `crashed` (SIGABRT), and a fork bomb in
// `renderer sandbox` starved every run on the host.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cliAsync, compileProbe, isRoot, scratchDir, startDaemon } from '../../helpers.js';

/** Awaits 1.5 s, then does async fs work (libuv's thread pool) and reports its uid. */
const WAITING_STEP = `import { readdir, stat } from 'node:fs/promises';
export async function render() {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (let i = 0; i < 20; i++) await stat('/tmp');
  await readdir('/tmp');
  return { json: 'done' };
}`;

type Result = { outcome: string; error: string | null };
const tally = (results: Result[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const r of results) out[r.outcome] = (out[r.outcome] ?? 0) + 1;
  return out;
};

describe('a wide host: many sandboxes at once', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  const run = async (code: string): Promise<Result> =>
    (await d.inject({ method: 'POST', url: '/v1/runs', payload: { step: { code } } })).json() as Result;
  const warm = async (): Promise<void> => {
    const deadline = Date.now() + 120_000;
    while (d.daemon.pool!.warm < d.daemon.pool!.size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  };

  before(async () => {
    d = await startDaemon({ pool: { size: 16 }, server: { port: 0, maxConcurrentRuns: 16, queueSize: 64, queueTimeoutMs: 300_000 } });
  });
  after(() => d.stop());

  it('pool 16, 16 concurrent runs that wait and do async fs work: all ok', { timeout: 180_000 }, async () => {
    await warm();
    const results = await Promise.all(Array.from({ length: 16 }, () => run(WAITING_STEP)));
    assert.deepEqual(tally(results), { ok: 16 }, results.find((r) => r.outcome !== 'ok')?.error ?? '');
  });

  it('64 concurrent (48 of them queued): all ok', { timeout: 300_000 }, async () => {
    await warm();
    const results = await Promise.all(Array.from({ length: 64 }, () => run(WAITING_STEP)));
    assert.deepEqual(tally(results), { ok: 64 }, results.find((r) => r.outcome !== 'ok')?.error ?? '');
  });

  it('fork bombs in `renderer sandbox` beside the runs change none of their outcomes', { timeout: 180_000 }, async () => {
    const dir = scratchDir();
    try {
      const probe = compileProbe('procs', dir.path);
      await warm();
      // Each bomb forks until its own pids.max, then holds its processes for 1 s.
      const bombs = [cliAsync(['sandbox', '--', probe, 'forkbomb']), cliAsync(['sandbox', '--', probe, 'forkbomb'])];
      await new Promise((resolve) => setTimeout(resolve, 300));
      const results = await Promise.all(Array.from({ length: 12 }, () => run(WAITING_STEP)));
      const forked = (await Promise.all(bombs)).map((b) => Number(/forked (\d+)/.exec(b.stdout)?.[1]));
      assert.ok(forked.every((n) => n > 0 && n < 64), `the bombs forked ${forked.join(', ')}`);
      assert.deepEqual(tally(results), { ok: 12 }, results.find((r) => r.outcome !== 'ok')?.error ?? '');
    } finally {
      dir.remove();
    }
  });
});
