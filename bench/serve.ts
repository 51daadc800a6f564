// The daemon (issue 5): a trivial step end to end through POST /v1/runs with a warm
// pool, against a cold unsandboxed `node` running the same step (node + apache-arrow +
// the step module, as a plain implementation would), side by side; sustained
// throughput of trivial steps; idle daemon RSS and warm child RSS.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_UID_RANGE } from '../renderer/config/config-schema.js';
import { PACKAGE_ROOT } from '../renderer/paths.js';
import { postRun, startDaemon } from './daemon.js';
import { TRIVIAL_STEP } from './steps.js';
import { interleave, median, mib, percentile, table } from './stats.js';

const NAIVE_RUNNER = `import * as arrow from 'apache-arrow';
const step = await import(process.argv[2]);
process.stdout.write(JSON.stringify(await step.render(new arrow.Table(), {}, { arrow })));`;

function rssOf(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

/** A step's uid: the one shared step user of old (65534), or one of the range each sandbox now takes its own from. */
function isStepUid(uid: number): boolean {
  return uid === 65534 || (uid >= DEFAULT_UID_RANGE.first && uid < DEFAULT_UID_RANGE.first + DEFAULT_UID_RANGE.count);
}

/** RSS of each warm child's node process (a step uid's processes running the runtime). */
function warmChildRss(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (isStepUid(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1])) && cmdline.includes('/opt/renderer') && cmdline.startsWith(process.execPath)) out.push(rssOf(Number(entry)));
    } catch {
      /* gone */
    }
  }
  return out;
}

export async function serveBench(quick: boolean): Promise<string> {
  const daemon = await startDaemon('serve', { server: { queueSize: 256 } });
  const base = daemon.url;
  const stepFile = join(daemon.dir, 'step.mjs');
  const naive = join(PACKAGE_ROOT, 'bench', '.naive-runner.mjs');
  try {
    writeFileSync(stepFile, TRIVIAL_STEP);
    writeFileSync(naive, NAIVE_RUNNER);
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = rssOf(daemon.pid);
    const childRss = warmChildRss();

    const body = JSON.stringify({ step: { code: TRIVIAL_STEP } });
    const post = async (): Promise<void> => {
      const answer = await postRun(base, body);
      if (answer.outcome !== 'ok') throw new Error(`run failed: ${JSON.stringify(answer)}`);
    };
    const coldNode = async (): Promise<void> => {
      const r = spawnSync(process.execPath, [naive, stepFile], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
    };
    for (let i = 0; i < 3; i++) {
      await post();
      await coldNode();
    }
    const n = quick ? 15 : 40;
    // The pause lets the pool refill between requests: this measures a warm hit.
    const [warm, cold] = await interleave(n, async () => {
      await post();
      await new Promise((r) => setTimeout(r, 200));
    }, coldNode);
    // interleave timed the pause too: take it off.
    const warmMs = warm.map((t) => t - 200);

    const seconds = quick ? 5 : 10;
    const end = Date.now() + seconds * 1000;
    let done = 0;
    let failed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (Date.now() < end)
          await post().then(
            () => done++,
            () => failed++,
          );
      }),
    );
    const rate = done / ((performance.now() - started) / 1000);
    const loadedRss = rssOf(daemon.pid);

    const rows = [
      { measure: 'trivial step via POST /v1/runs, warm pool: p50 ms', value: median(warmMs), target: '<= 15' },
      { measure: 'same, p90 ms', value: percentile(warmMs, 90), target: '' },
      { measure: 'cold unsandboxed node + apache-arrow + the step: p50 ms', value: median(cold), target: '' },
      { measure: 'ratio warm API / cold node', value: median(warmMs) / median(cold), target: '<= 0.3' },
      { measure: `sustained trivial runs/s (4 clients, ${seconds} s)`, value: rate, target: '>= 20' },
      { measure: 'failed runs during the sustained load', value: failed, target: '0' },
      { measure: 'idle daemon RSS MiB (children not counted)', value: mib(idleRss), target: '<= 120' },
      { measure: 'daemon RSS MiB after the load', value: mib(loadedRss), target: '' },
      { measure: `warm child RSS MiB (${childRss.length} children)`, value: mib(median(childRss)), target: '' },
    ];
    return [`## the daemon (${n} warm runs and ${n} cold node spawns, interleaved)`, table(rows)].join('\n');
  } finally {
    rmSync(naive, { force: true });
    await daemon.stop();
  }
}
