// `renderer serve` as a real process: graceful shutdown with runs in flight, kill -9
// and restart (leftovers cleaned, nothing orphaned), a schedule firing on a
// seconds-level cron with its outputs and its state surviving a restart.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../../renderer/paths.js';
import { BIN, isRoot, leftoversOf, scratchDir, waitFor } from '../../helpers.js';

interface Served {
  process: ChildProcess;
  url: string;
  log: () => string;
  exited: Promise<number | null>;
}

/** `renderer serve` on `config`; `prefix` runs it under another command (unshare). */
async function serve(config: Record<string, unknown>, dir: string, name = 'config.json', prefix: string[] = []): Promise<Served> {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ stepsDir: join(PACKAGE_ROOT, 'examples', 'steps'), dataRoot: join(PACKAGE_ROOT, 'examples', 'data'), server: { port: 0 }, pool: { size: 1 }, ...config }));
  const [command, ...args] = [...prefix, process.execPath, BIN, 'serve', '--config', file];
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => (log += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => /"renderer serving"/.test(log) || child.exitCode !== null, 20_000, 'the daemon to listen');
  const address = /"address":"(http:\/\/[^"]+)"/.exec(log)?.[1];
  if (!address) throw new Error(`daemon did not start:\n${log}`);
  return { process: child, url: address, log: () => log, exited };
}

/** Nothing of the daemon `pid` is left: every process of its runs gone (killed
 * processes are reaped asynchronously, so this waits a little), every run cgroup
 * removed, and no process runs as a step uid without a lease. Scoped to that daemon,
 * so it holds while other renderers run beside the suite. */
async function assertNoLeftovers(pid: number): Promise<void> {
  const none = (): boolean => {
    const l = leftoversOf(pid);
    return l.processes === 0 && l.cgroups.length === 0 && l.strays.length === 0;
  };
  await waitFor(none, 5000, 'no leftovers').catch(() => undefined);
  assert.deepEqual(leftoversOf(pid), { processes: 0, cgroups: [], strays: [] }, 'no orphan process, no cgroup');
}

const stateOf = (stateDir: string, name: string): { runs?: number; skippedOverlaps?: number; lastSuccessAt?: string; consecutiveFailures?: number } => {
  try {
    return (JSON.parse(readFileSync(join(stateDir, 'schedules.json'), 'utf8')) as Record<string, object>)[name] ?? {};
  } catch {
    return {};
  }
};

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('renderer serve lifecycle', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let dir: ReturnType<typeof scratchDir>;
  before(() => {
    dir = scratchDir('renderer-serve-');
  });
  after(() => dir.remove());

  it('SIGTERM: in-flight runs finish within the grace period, new requests are refused, exit 0', async () => {
    const d = await serve({ stateDir: join(dir.path, 'state-a'), server: { port: 0, shutdownGraceMs: 10_000 } }, dir.path, 'a.json');
    const inFlight = post(`${d.url}/v1/runs`, { step: { code: 'export async function render() { await new Promise((r) => setTimeout(r, 1500)); return { json: "finished" }; }' } });
    await new Promise((resolve) => setTimeout(resolve, 400));
    d.process.kill('SIGTERM');
    await waitFor(() => /"msg":"stopping"/.test(d.log()), 5000, 'the daemon to begin stopping');
    const refused = await fetch(`${d.url}/healthz`).then((r) => r.status, () => 'connection refused');
    assert.ok(refused === 503 || refused === 'connection refused', `new request: ${refused}`);
    const result = (await (await inFlight).json()) as { outcome: string; json: unknown };
    assert.equal(result.outcome, 'ok');
    assert.equal(result.json, 'finished');
    assert.equal(await d.exited, 0);
    await assertNoLeftovers(d.process.pid!);
  });

  it('SIGTERM: runs still going when the grace period ends are killed', async () => {
    const d = await serve({ stateDir: join(dir.path, 'state-b'), server: { port: 0, shutdownGraceMs: 500 } }, dir.path, 'b.json');
    const hanging = post(`${d.url}/v1/runs`, { step: { code: 'export function render() { for (;;) {} }' } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    d.process.kill('SIGTERM');
    const result = (await (await hanging).json()) as { outcome: string };
    assert.equal(result.outcome, 'canceled');
    assert.equal(await d.exited, 0);
    await assertNoLeftovers(d.process.pid!);
  });

  it('kill -9 mid-run: the sandbox dies with it; a restart removes what was left', async () => {
    const stateDir = join(dir.path, 'state-c');
    const d = await serve({ stateDir }, dir.path, 'c.json');
    await post(`${d.url}/v1/runs?wait=false`, { step: { code: 'export function render() { for (;;) {} }' } });
    const pid = d.process.pid!;
    await waitFor(() => leftoversOf(pid).cgroups.length >= 2, 10_000, 'the run and a warm child');
    d.process.kill('SIGKILL');
    await d.exited;
    await waitFor(() => leftoversOf(pid).processes === 0 && leftoversOf(pid).strays.length === 0, 10_000, 'bwrap --die-with-parent to end the sandboxes');
    assert.ok(leftoversOf(pid).cgroups.length > 0, 'run cgroups were left behind');
    assert.ok(readdirSync(join(stateDir, 'runs')).length > 0, 'run directories were left behind');

    const again = await serve({ stateDir }, dir.path, 'c.json');
    try {
      assert.match(again.log(), /removed what a previous renderer left behind/);
      await waitFor(() => readdirSync(join(stateDir, 'runs')).length <= 1, 5000, 'leftover run directories to go');
      const run = await post(`${again.url}/v1/runs`, { step: { name: 'example-describe' }, input: { path: 'sample.arrow' } });
      assert.equal(((await run.json()) as { outcome: string }).outcome, 'ok');
    } finally {
      again.process.kill('SIGTERM');
      await again.exited;
    }
    await assertNoLeftovers(pid);
    await assertNoLeftovers(again.process.pid!);
  });

  it('a schedule fires on time, writes whole outputs keeping the last K, and its state survives a restart', async () => {
    const stateDir = join(dir.path, 'state-d');
    const outputDir = join(dir.path, 'scheduled');
    const schedules = [{ name: 'every-second', cron: '* * * * * *', workflow: { steps: [{ step: 'example-sum' }], input: 'sample.arrow' }, outputDir, keep: 2 }];
    const d = await serve({ stateDir, schedules }, dir.path, 'd.json');
    const runDirs = (): string[] => (existsSync(outputDir) ? readdirSync(outputDir).filter((n) => /^\d{8}T/.test(n)).sort() : []);
    try {
      await waitFor(() => (stateOf(stateDir, 'every-second').runs ?? 0) >= 3, 15_000, 'three scheduled runs');
    } finally {
      d.process.kill('SIGTERM');
      await d.exited;
    }
    const kept = runDirs();
    assert.equal(kept.length, 2, `kept ${kept.join(', ')}`);
    for (const run of kept) {
      const result = JSON.parse(readFileSync(join(outputDir, run, 'result.json'), 'utf8')) as { outcome: string; schedule: string };
      assert.equal(result.outcome, 'ok');
      assert.equal(result.schedule, 'every-second');
      assert.ok(existsSync(join(outputDir, run, 'output.arrow')));
    }
    assert.equal(readdirSync(outputDir).filter((n) => n.endsWith('.tmp')).length, 0, 'no half-written directory');
    const state = stateOf(stateDir, 'every-second');
    assert.equal(state.consecutiveFailures, 0);
    assert.ok(state.lastSuccessAt);

    const again = await serve({ stateDir, schedules: [{ ...schedules[0], cron: '0 0 1 1 *' }] }, dir.path, 'd.json');
    try {
      const status = (await (await fetch(`${again.url}/v1/status`)).json()) as { schedules: Array<{ runs: number; lastSuccessAt: string }> };
      assert.equal(status.schedules[0]!.runs, state.runs, 'state survived the restart');
      assert.equal(status.schedules[0]!.lastSuccessAt, state.lastSuccessAt);
      const metrics = await (await fetch(`${again.url}/metrics`)).text();
      assert.match(metrics, /renderer_schedule_last_success_timestamp_seconds\{schedule="every-second"\} \d+/);
    } finally {
      again.process.kill('SIGTERM');
      await again.exited;
    }
  });

  it('overlapping firings of a schedule are skipped and counted', async () => {
    const stateDir = join(dir.path, 'state-e');
    const slow = join(dir.path, 'slow-steps');
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(slow, { mode: 0o755 });
    writeFileSync(join(slow, 'slow.mjs'), 'export async function render() { await new Promise((r) => setTimeout(r, 2500)); return { json: 1 }; }');
    copyFileSync(join(PACKAGE_ROOT, 'examples', 'steps', 'example-sum.mjs'), join(slow, 'example-sum.mjs'));
    const schedules = [{ name: 'slow', cron: '* * * * * *', workflow: { steps: [{ step: 'slow' }] }, outputDir: join(dir.path, 'slow-out') }];
    const d = await serve({ stateDir, stepsDir: slow, schedules }, dir.path, 'e.json');
    try {
      await waitFor(() => (stateOf(stateDir, 'slow').skippedOverlaps ?? 0) >= 1, 10_000, 'a skipped firing');
      const metrics = await (await fetch(`${d.url}/metrics`)).text();
      assert.match(metrics, /renderer_schedule_skipped_overlap_total\{schedule="slow"\} [1-9]/);
    } finally {
      d.process.kill('SIGTERM');
      await d.exited;
    }
  });

  it('a second daemon on the same state directory is refused', { timeout: 60_000 }, async () => {
    const stateDir = join(dir.path, 'state-f');
    const first = await serve({ stateDir }, dir.path, 'f.json');
    const second = spawn(process.execPath, [BIN, 'serve', '--config', join(dir.path, 'f.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let err = '';
      second.stderr!.on('data', (c: Buffer) => (err += c));
      const code = await new Promise((resolve) => second.on('exit', resolve));
      assert.equal(code, 1);
      assert.match(err, new RegExp(`another renderer serve \\(pid ${first.process.pid} .*\\) uses the state directory`));
    } finally {
      second.kill('SIGTERM'); // had it started, it would never end by itself
      first.process.kill('SIGTERM');
      await first.exited;
    }
  });

  it('two daemons, one in its own pid namespace, never take each other\'s live runs', { timeout: 120_000, skip: spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status !== 0 && 'unshare --pid is not permitted here' }, async () => {
    // The regression: a daemon under `unshare --pid` judged its neighbour's run cgroups by
    // pid, found no such process in its own /proc, and crashed removing them (EBUSY).
    const first = await serve({ stateDir: join(dir.path, 'state-g') }, dir.path, 'g.json');
    let second: Served | undefined;
    try {
      const long = post(`${first.url}/v1/runs`, { step: { code: 'export async function render() { await new Promise((r) => setTimeout(r, 3000)); return { json: "survived" }; }' } });
      await waitFor(() => leftoversOf(first.process.pid!).processes >= 4, 20_000, 'the long run and a warm child');
      second = await serve({ stateDir: join(dir.path, 'state-h') }, dir.path, 'h.json', ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child']);
      assert.ok(!second.log().includes(`run-${first.process.pid!.toString(36)}_`), `the namespaced daemon removed its live neighbour's runs: ${second.log()}`);
      const mine = await post(`${second.url}/v1/runs`, { step: { name: 'example-describe' }, input: { path: 'sample.arrow' } });
      assert.equal(((await mine.json()) as { outcome: string }).outcome, 'ok');
      const result = (await (await long).json()) as { outcome: string; json: unknown };
      assert.deepEqual([result.outcome, result.json], ['ok', 'survived']);
    } finally {
      // unshare --fork ignores SIGTERM while it waits: signal the daemon, its child.
      if (second) {
        const inner = Number(readFileSync(`/proc/${second.process.pid}/task/${second.process.pid}/children`, 'utf8').trim().split(' ')[0]);
        process.kill(inner > 0 ? inner : second.process.pid!, 'SIGTERM');
        await second.exited;
      }
      first.process.kill('SIGTERM');
      await first.exited;
    }
    await assertNoLeftovers(first.process.pid!);
  });
});
