// scripts/soak [--runs N] [--concurrency C] [--kill-restart] [--seed S] [--beside C]
//
// Fault-injection soak: starts `renderer serve` on a scratch state directory and drives
// it with a weighted mix of every way a step can misbehave, C at a time. Asserts that
// every run ends with the outcome its kind must have, that the daemon never exits or
// logs an internal error, and that afterwards nothing of its daemon is left: no step
// process, no run cgroup, no run directory, no extra fd in the daemon, RSS drift within
// 20 MiB. With --kill-restart it also kill -9s the daemon halfway and restarts it,
// checking that leftovers are removed, the schedule resumes from its state file and
// no half-written output is ever visible. Exit 0 when everything held.
//
// Every check is about the soak's own daemon, so that soaks (and any other renderer)
// can run beside it: step processes and run cgroups are counted only when they carry
// its owner tag (see ownedBy), run directories only in its own state directory.
// `--beside C` runs a second soak at concurrency C, with its own daemon and state
// directory, for as long as this one runs; both must pass.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../bench/stats.js';
import { DEFAULT_UID_RANGE } from '../renderer/config/config-schema.js';
import { PACKAGE_ROOT } from '../renderer/paths.js';
import { RUN_CGROUP_PREFIX } from '../renderer/sandbox/cgroup/driver.js';
import { processesByUid } from '../renderer/sandbox/uids.js';

/** The uid every sandbox shared before per-run uids, and the default per-run range. */
const SHARED_STEP_UID = 65534;
const isStepUid = (uid: number): boolean =>
  uid === SHARED_STEP_UID || (uid >= DEFAULT_UID_RANGE.first && uid < DEFAULT_UID_RANGE.first + DEFAULT_UID_RANGE.count);
const MIB = 1024 * 1024;

interface Scenario {
  name: string;
  weight: number;
  expect: string;
  /** POST /v1/runs body, or a workflow, or a run to cancel. */
  run: { body?: unknown; workflow?: unknown; cancelAfterMs?: number };
}

const code = (source: string): { code: string } => ({ code: source });

export const SCENARIOS: Scenario[] = [
  { name: 'ok', weight: 20, expect: 'ok', run: { body: { step: { name: 'example-sum' }, input: { path: 'sample.arrow' } } } },
  { name: 'throw', weight: 8, expect: 'step_error', run: { body: { step: code('export function render() { throw new Error("soak"); }') } } },
  { name: 'crash', weight: 5, expect: 'crashed', run: { body: { step: code('export function render() { process.exit(3); }') } } },
  { name: 'abort', weight: 3, expect: 'crashed', run: { body: { step: code('export function render() { process.abort(); }') } } },
  { name: 'oom', weight: 3, expect: 'oom_killed', run: { body: { step: code('export function render() { const a = []; for (;;) a.push(Buffer.alloc(1 << 24, 1)); }'), memoryMiB: 64 } } },
  { name: 'timeout', weight: 3, expect: 'timeout', run: { body: { step: code('export function render() { for (;;) {} }'), timeoutMs: 300 } } },
  {
    name: 'fork-bomb',
    weight: 3,
    expect: 'step_error',
    run: { body: { step: code('import { fork, spawn } from "node:child_process"; export function render() { for (let i = 0; i < 1000; i++) { spawn("/usr/bin/node", ["-e", "0"]); fork("/run/in/step.mjs"); } }') } },
  },
  { name: 'spam', weight: 3, expect: 'ok', run: { body: { step: code('export function render() { const s = "y".repeat(1 << 20); for (let i = 0; i < 20; i++) console.log(s); return { json: "spammed" }; }') } } },
  { name: 'forged-frame', weight: 3, expect: 'invalid_output', run: { body: { step: code('import { writeSync } from "node:fs"; export function render() { writeSync(3, Buffer.from([0,0,0,4,1,2,3,4])); }') } } },
  { name: 'oversized-frame', weight: 3, expect: 'invalid_output', run: { body: { step: code('import { writeSync } from "node:fs"; export function render() { writeSync(3, Buffer.from([0x7f,0xff,0xff,0xff])); }') } } },
  { name: 'malformed-table', weight: 3, expect: 'invalid_output', run: { body: { step: code('import { writeFileSync } from "node:fs"; export function render() { writeFileSync("/run/out/output.arrow", "ARROW1 but not really"); }') } } },
  { name: 'oversized-table', weight: 2, expect: 'invalid_output', run: { body: { step: code('export function render(t, p, ctx) { return ctx.arrow.tableFromArrays({ x: new Float64Array(3 << 20) }); }') } } },
  { name: 'cancel', weight: 3, expect: 'canceled', run: { body: { step: code('export function render() { for (;;) {} }'), timeoutMs: 20000 }, cancelAfterMs: 150 } },
  {
    name: 'workflow',
    weight: 5,
    expect: 'ok',
    run: { workflow: { steps: [{ step: { name: 'example-filter' }, params: { column: 'region', value: 'north' } }, { step: { name: 'example-sum' } }], input: { path: 'sample.arrow' } } },
  },
];

interface Sample {
  scenario: string;
  outcome: string;
  ms: number;
}

/**
 * A daemon the soak started, as the names of what its runs leave on the host begin:
 * run ids are "<owner tag>-<8 hex>" and owner tags "<pid>_<start time>_..." in base 36
 * (renderer/run/owner.ts), so "<pid>_<start>_" is this daemon's and no other's, even
 * once its pid is reused.
 */
export interface SoakOwner {
  pid: number;
  tagPrefix: string;
}

const statFields = (pid: number): string[] | null => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
};

export function soakOwner(pid: number): SoakOwner {
  const start = Number(statFields(pid)?.[19]);
  if (!Number.isInteger(start)) throw new Error(`cannot read the start time of the daemon (pid ${pid})`);
  return { pid, tagPrefix: `${pid.toString(36)}_${start.toString(36)}_` };
}

/**
 * Does a process belong to one of `owners`? While a daemon lives, its step processes
 * descend from it (daemon -> launcher, exec'd into bwrap -> the sandbox's pid 1 -> the
 * step; --new-session changes their session, not their parent). Once it is dead (kill -9,
 * the end of the soak) its orphans are reparented to init, but stay in their run's
 * cgroup, whose name carries the owner tag; /proc/<pid>/cgroup names it.
 */
function ownedBy(pid: number, owners: readonly SoakOwner[]): boolean {
  const pids = new Set(owners.map((o) => o.pid));
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (pids.has(p)) return true;
    p = Number(statFields(p)?.[1] ?? 0);
  }
  try {
    const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    return owners.some((o) => cgroups.includes(`/${RUN_CGROUP_PREFIX}${o.tagPrefix}`));
  } catch {
    return false;
  }
}

/** Live step processes (a step uid: the old shared one or the per-run range) of `owners`. */
export function stepProcesses(owners: readonly SoakOwner[]): number[] {
  return processesByUid(isStepUid)
    .map((p) => p.pid)
    .filter((pid) => ownedBy(pid, owners));
}

/** Run cgroups of `owners` anywhere in the usual hierarchies. */
export function runCgroups(owners: readonly SoakOwner[]): string[] {
  const ours = (name: string): boolean => owners.some((o) => name.startsWith(`${RUN_CGROUP_PREFIX}${o.tagPrefix}`));
  const out: string[] = [];
  for (const base of ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/memory', '/sys/fs/cgroup/freezer', '/sys/fs/cgroup']) {
    const walk = (dir: string, depth: number): void => {
      if (depth > 6 || !existsSync(dir)) return;
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        if (entry.name.startsWith(RUN_CGROUP_PREFIX)) {
          if (ours(entry.name)) out.push(join(dir, entry.name));
        } else if (entry.name === 'renderer' || depth < 3) walk(join(dir, entry.name), depth + 1);
      }
    };
    walk(base, 0);
  }
  return [...new Set(out)];
}

const rss = (pid: number): number => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/** The daemon's fds other than TCP connections (those come and go with its clients'
 * keep-alive; a leak would be a pipe, a unix socket to a child, or a file), each as
 * "NUMBER -> TARGET". */
function fds(pid: number): string[] {
  const tcp = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    try {
      for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
        const inode = line.trim().split(/\s+/)[9];
        if (inode) tcp.add(inode);
      }
    } catch {
      /* no IPv6 */
    }
  }
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const socket = /^socket:\[(\d+)\]$/.exec(target);
      return socket && tcp.has(socket[1]!) ? [] : [`${fd} -> ${target}`];
    } catch {
      return [];
    }
  });
}

/** A small deterministic PRNG so a soak can be replayed with --seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

class Daemon {
  process!: ChildProcess;
  log = '';
  url = '';
  exitCode: number | null | undefined;
  /** Every process this soak ran as its daemon (a restart adds one). */
  readonly owners: SoakOwner[] = [];

  constructor(private readonly config: string) {}

  async start(): Promise<void> {
    this.log = '';
    this.exitCode = undefined;
    this.process = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'renderer.js'), 'serve', '--config', this.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.owners.push(soakOwner(this.process.pid!));
    this.process.stdout!.on('data', (c: Buffer) => (this.log += c));
    this.process.stderr!.on('data', (c: Buffer) => (this.log += c));
    this.process.on('exit', (code) => (this.exitCode = code));
    for (let i = 0; i < 400 && !this.url; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const port = /"address":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(this.log)?.[1];
      if (port) this.url = `http://127.0.0.1:${port}`;
      if (this.exitCode !== undefined) throw new Error(`the daemon exited at start:\n${this.log}`);
    }
    if (!this.url) throw new Error(`the daemon did not start:\n${this.log}`);
    for (let i = 0; i < 400; i++) {
      if (await fetch(`${this.url}/readyz`).then((r) => r.ok, () => false)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the daemon did not become ready');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.exitCode !== undefined) return this.exitCode;
    const exited = new Promise<number | null>((resolve) => this.process.on('exit', resolve));
    this.process.kill(signal);
    const code = await exited;
    this.url = '';
    return code;
  }
}

async function runScenario(daemon: Daemon, scenario: Scenario): Promise<Sample> {
  const started = performance.now();
  const post = (path: string, body: unknown): Promise<Response> =>
    fetch(`${daemon.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  let outcome: string;
  try {
    if (scenario.run.workflow) {
      outcome = ((await (await post('/v1/workflows/run', scenario.run.workflow)).json()) as { outcome?: string; error?: { code: string } }).outcome ?? 'http-error';
    } else if (scenario.run.cancelAfterMs !== undefined) {
      const { runId } = (await (await post('/v1/runs?wait=false', scenario.run.body)).json()) as { runId: string };
      await new Promise((r) => setTimeout(r, scenario.run.cancelAfterMs));
      const deleted = (await (await fetch(`${daemon.url}/v1/runs/${runId}`, { method: 'DELETE' })).json()) as { result?: { outcome: string }; error?: { code: string } };
      outcome = deleted.result?.outcome ?? deleted.error?.code ?? 'http-error';
    } else {
      const body = (await (await post('/v1/runs', scenario.run.body)).json()) as { outcome?: string; error?: { code: string } };
      outcome = body.outcome ?? body.error?.code ?? 'http-error';
    }
  } catch (error) {
    outcome = `client error: ${(error as Error).message}`;
  }
  return { scenario: scenario.name, outcome, ms: performance.now() - started };
}

export interface SoakOptions {
  runs: number;
  concurrency: number;
  killRestart: boolean;
  seed: number;
  /** A second soak at this concurrency, with its own daemon, for as long as this one runs. */
  beside?: number;
  /** Ends the soak's runs early (the soak beside another stops with it). */
  stop?: AbortSignal;
}

/** Runs a soak; with `beside`, a second one next to it. Both must pass. */
export async function soak(options: SoakOptions): Promise<{ ok: boolean; report: string }> {
  if (!options.beside) return soakOne(options);
  const stop = new AbortController();
  // The second soak warms up as long as the first and runs until the first is done, so
  // it is busy all through the first's measured runs.
  const beside = soakOne({ runs: Number.MAX_SAFE_INTEGER, warmUpRuns: warmUpRuns(options.runs), concurrency: options.beside, killRestart: false, seed: options.seed + 1, stop: stop.signal });
  const main = await soakOne(options).finally(() => stop.abort());
  const other = await beside;
  return { ok: main.ok && other.ok, report: `${main.report}\n\nbeside it, a second daemon:\n${other.report}` };
}

const warmUpRuns = (runs: number): number => Math.min(200, Math.ceil(runs / 2));

async function soakOne(options: SoakOptions & { warmUpRuns?: number }): Promise<{ ok: boolean; report: string }> {
  const dir = mkdtempSync('/tmp/renderer-soak-');
  chmodSync(dir, 0o755);
  const config = join(dir, 'config.json');
  const stateDir = join(dir, 'state');
  const scheduleOut = join(dir, 'scheduled');
  writeFileSync(
    config,
    JSON.stringify({
      stateDir,
      limits: { maxOutputBytes: 16 * MIB },
      // C sandboxes at once, not C clients queueing for the host's default (its cores):
      // what a wide host does, squeezed onto this one.
      server: { port: 0, maxConcurrentRuns: options.concurrency, queueSize: 1000, queueTimeoutMs: 300_000, shutdownGraceMs: 5000 },
      pool: { size: Math.min(options.concurrency, 16) }, // poolSize below
      schedules: [{ name: 'soak-tick', cron: '*/2 * * * * *', workflow: { steps: [{ step: 'example-sum' }], input: 'sample.arrow' }, outputDir: scheduleOut, keep: 3 }],
    }),
  );
  const problems: string[] = [];
  const samples: Sample[] = [];
  // The measured runs draw from the seed's own sequence (as when they were drawn before
  // the warm-up), the warm-up from a second one.
  const random = rng(options.seed);
  const warmUpRandom = rng(options.seed ^ 0x5eed);
  const total = SCENARIOS.reduce((s, x) => s + x.weight, 0);
  const pick = (from = random): Scenario => {
    let r = from() * total;
    for (const s of SCENARIOS) if ((r -= s.weight) < 0) return s;
    return SCENARIOS[0]!;
  };
  const daemon = new Daemon(config);
  // At rest: no run going or queued, the pool full, no schedule firing, deferred
  // cleanups done, the clients' keep-alive sockets closed. (The soak's schedule fires
  // every 2 s, so rest is waited for, not assumed.)
  const idle = async (): Promise<void> => {
    await new Promise((r) => setTimeout(r, 2000));
    for (let i = 0; i < 100; i++) {
      const status = (await fetch(`${daemon.url}/v1/status`).then((r) => r.json()).catch(() => null)) as {
        queue: { active: number; depth: number };
        pool: { warm: number; size: number };
        schedules: Array<{ running: boolean }>;
      } | null;
      if (status && status.queue.active === 0 && status.queue.depth === 0 && status.pool.warm === status.pool.size && !status.schedules.some((s) => s.running)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  /** The fewest fds over looks spread across 4 s at rest: a teardown in flight is not a
   * leak. A discarded pool child's teardown runs after the status says idle, and holds
   * its uid lease until its launcher has exited (up to 2 s, launch.ts) and its cgroup
   * is empty: looks a moment apart once reported that fd as leaked (CI, 2026-12-02). */
  const restingFds = async (pid: number): Promise<string[]> => {
    let least: string[] | null = null;
    for (let i = 0; i < 8; i++) {
      await idle();
      const now = fds(pid);
      if (!least || now.length < least.length) least = now;
      await new Promise((r) => setTimeout(r, 500));
    }
    return least!;
  };
  try {
    await daemon.start();
    // Warm up with the same mix, so the baseline is the daemon's steady state (its heap
    // grown to its working set, every code path compiled), then measure drift from it.
    const warmUp = async (): Promise<void> => {
      // Long enough for the daemon's heap to reach its working set (forced GCs show the
      // live heap flat at ~30 MiB; RSS above it settles within a few hundred runs).
      const mix = Array.from({ length: options.warmUpRuns ?? warmUpRuns(options.runs) }, () => pick(warmUpRandom));
      await Promise.all(Array.from({ length: options.concurrency }, async () => {
        for (let s = mix.pop(); s; s = mix.pop()) await runScenario(daemon, s);
      }));
      await idle();
    };
    await warmUp();
    let pid = daemon.process.pid!;
    const baseline = { rss: rss(pid), fds: await restingFds(pid) };

    // RSS sampled through the soak. Garbage collection makes it a sawtooth whose peaks
    // depend on when V8 collects; a leak shows as a rising floor. So drift is the
    // lowest RSS of the last quarter of the soak minus the lowest of its second quarter
    // (the first is the heap growing to its working set).
    const rssSeries: Array<{ at: number; mib: number }> = [];
    const sampler = setInterval(() => {
      if (daemon.exitCode === undefined && !restarting) {
        try {
          rssSeries.push({ at: performance.now(), mib: rss(daemon.process.pid!) / MIB });
        } catch {
          /* between processes */
        }
      }
    }, 250);
    let next = 0;
    let killedAt = options.killRestart ? Math.floor(options.runs / 2) : -1;
    let restarting: Promise<void> | null = null;
    const worker = async (): Promise<void> => {
      while (next < options.runs && !options.stop?.aborted) {
        const index = next++;
        // Drawn in the order runs are claimed: the sequence a seed gives is fixed.
        const scenario = pick();
        if (index === killedAt) {
          killedAt = -1;
          restarting = (async () => {
            // kill -9 in the middle of everything; in-flight requests fail, which is expected.
            await daemon.stop('SIGKILL');
            const stateBefore = JSON.parse(readFileSync(join(stateDir, 'schedules.json'), 'utf8'))['soak-tick'] as { runs: number };
            await daemon.start();
            pid = daemon.process.pid!;
            rssSeries.length = 0; // a new process: its drift is measured from its own samples
            if (!/removed what a previous renderer left behind/.test(daemon.log)) problems.push('after kill -9 the restarted daemon removed no leftovers');
            await new Promise((r) => setTimeout(r, 2500));
            const stateAfter = JSON.parse(readFileSync(join(stateDir, 'schedules.json'), 'utf8'))['soak-tick'] as { runs: number };
            if (!(stateAfter.runs > stateBefore.runs)) problems.push(`the schedule did not resume from its state file (${stateBefore.runs} -> ${stateAfter.runs} runs)`);
            // A new process: its fds are compared with its own count at rest (the other
            // workers wait for this block, so rest comes).
            await warmUp();
            baseline.fds = await restingFds(pid);
            baseline.rss = rss(pid);
          })();
          await restarting;
          restarting = null;
          continue;
        }
        if (restarting) await restarting;
        const sample = await runScenario(daemon, scenario);
        samples.push(sample);
        if (sample.outcome !== scenario.expect && !(options.killRestart && sample.outcome.startsWith('client error')))
          problems.push(`${scenario.name}: expected ${scenario.expect}, got ${sample.outcome}`);
        if (daemon.exitCode !== undefined && !restarting) problems.push(`the daemon exited (${daemon.exitCode})`);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);

    await idle();
    if (daemon.exitCode !== undefined) throw new Error(`the daemon died during the soak (exit ${daemon.exitCode}); its log ends:\n${daemon.log.split('\n').slice(-25).join('\n')}`);
    const after = { rss: rss(pid), fds: await restingFds(pid) };
    const quarter = (q: number): number[] => {
      const first = rssSeries[0]?.at ?? 0;
      const span = (rssSeries[rssSeries.length - 1]?.at ?? 0) - first;
      return rssSeries.filter((x) => x.at >= first + (q * span) / 4 && x.at <= first + ((q + 1) * span) / 4).map((x) => x.mib);
    };
    const floor = (xs: number[]): number => (xs.length ? Math.min(...xs) : NaN);
    const early = floor(quarter(1));
    const late = floor(quarter(3));
    const drift = Number.isNaN(early - late) ? 0 : late - early;
    if (drift > 20) problems.push(`daemon RSS floor rose by ${drift.toFixed(1)} MiB over the soak (limit 20)`);
    // Unix sockets may differ by one per warm pool child: at rest a warm child was seen
    // holding 4 or 5 (CI, 2026-12-02; 5 in every later look, cause not found). A leak
    // per run would pass that bound within a few runs; every other fd must match.
    const sockets = (list: string[]): number => list.filter((fd) => /-> socket:/.test(fd)).length;
    const poolSize = Math.min(options.concurrency, 16);
    const extraSockets = sockets(after.fds) - sockets(baseline.fds);
    const extraOthers = after.fds.length - sockets(after.fds) - (baseline.fds.length - sockets(baseline.fds));
    const extraFds = extraOthers > 0 || extraSockets > poolSize ? after.fds.length - baseline.fds.length : 0;
    if (extraFds > 0) {
      const added = after.fds.filter((fd) => !baseline.fds.includes(fd));
      const gone = baseline.fds.filter((fd) => !after.fds.includes(fd));
      problems.push(`the daemon holds ${extraFds} more fds than at the start (${baseline.fds.length} -> ${after.fds.length}); not there at the start: ${added.join(', ')}; there at the start only: ${gone.join(', ')}`);
    }
    const partial = existsSync(scheduleOut) ? readdirSync(scheduleOut).filter((n) => n.endsWith('.tmp')) : [];
    for (const line of daemon.log.split('\n')) if (/"level":(50|60)/.test(line) || /internal error/.test(line)) problems.push(`daemon logged: ${line.slice(0, 300)}`);

    const code = await daemon.stop('SIGTERM');
    if (code !== 0) problems.push(`the daemon exited with ${code} on SIGTERM`);
    await new Promise((r) => setTimeout(r, 500));
    const leftover = stepProcesses(daemon.owners);
    if (leftover.length) problems.push(`step processes of the daemon remain: ${leftover.join(', ')}`);
    const cgroups = runCgroups(daemon.owners);
    if (cgroups.length) problems.push(`run cgroups remain: ${cgroups.slice(0, 5).join(', ')}`);
    const runDirs = existsSync(join(stateDir, 'runs')) ? readdirSync(join(stateDir, 'runs')) : [];
    if (runDirs.length) problems.push(`run directories remain: ${runDirs.length}`);
    if (partial.length) problems.push(`half-written schedule outputs visible: ${partial.join(', ')}`);

    const byScenario = new Map<string, Sample[]>();
    for (const s of samples) byScenario.set(s.scenario, [...(byScenario.get(s.scenario) ?? []), s]);
    const rows = SCENARIOS.filter((s) => byScenario.has(s.name)).map((s) => {
      const list = byScenario.get(s.name)!;
      const ms = list.map((x) => x.ms);
      return `| ${s.name.padEnd(16)} | ${s.expect.padEnd(14)} | ${String(list.length).padStart(5)} | ${String(list.filter((x) => x.outcome === s.expect).length).padStart(8)} | ${percentile(ms, 50).toFixed(0).padStart(7)} | ${percentile(ms, 99).toFixed(0).padStart(7)} |`;
    });
    const leaks = [leftover.length, cgroups.length, runDirs.length, Math.max(0, extraFds)].reduce((a, b) => a + b, 0);
    const report = [
      `soak: ${samples.length} runs in ${seconds.toFixed(1)} s at concurrency ${options.concurrency} (seed ${options.seed}${options.killRestart ? ', kill -9 and restart halfway' : ''}; daemon pid ${daemon.owners.map((o) => o.pid).join(', then ')}, state in ${dir})`,
      '| scenario         | expected       |  runs | as meant | p50 ms  | p99 ms  |',
      '|------------------|----------------|-------|----------|---------|---------|',
      ...rows,
      `daemon RSS: idle after warm-up ${(baseline.rss / MIB).toFixed(1)} MiB, at the end ${(after.rss / MIB).toFixed(1)}; floor of the 2nd quarter ${early.toFixed(1)}, of the 4th ${late.toFixed(1)} (drift ${drift.toFixed(1)} MiB, limit 20); peak ${Math.max(...rssSeries.map((x) => x.mib)).toFixed(1)}; fds ${baseline.fds.length} -> ${after.fds.length}`,
      `leaks found: ${leaks} (step processes ${leftover.length}, run cgroups ${cgroups.length}, run directories ${runDirs.length}, extra fds ${Math.max(0, extraFds)})`,
      problems.length ? `PROBLEMS (${problems.length}):\n${[...new Set(problems)].slice(0, 30).map((p) => `  - ${p}`).join('\n')}` : 'no problem found',
    ].join('\n');
    return { ok: problems.length === 0, report };
  } finally {
    await daemon.stop('SIGKILL').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '4' },
      'kill-restart': { type: 'boolean', default: false },
      seed: { type: 'string', default: String(Date.now() % 100000) },
      beside: { type: 'string', default: '0' },
    },
  });
  const runs = Number(values.runs);
  const concurrency = Number(values.concurrency);
  const beside = Number(values.beside);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(concurrency) || concurrency < 1 || !Number.isInteger(beside) || beside < 0) {
    console.error('soak: --runs and --concurrency must be positive integers, --beside a concurrency (0: none)');
    process.exit(2);
  }
  const { ok, report } = await soak({ runs, concurrency, killRestart: values['kill-restart'] ?? false, seed: Number(values.seed), beside });
  console.log(report);
  process.exit(ok ? 0 : 1);
}
