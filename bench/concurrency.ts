// Throughput and latency as concurrent clients grow: one daemon whose pool and
// maxConcurrentRuns are as large as the highest level (32 by default), and at each level
// C clients sending POST /v1/runs back to back, for a trivial step and for a step that
// awaits a timer and async fs work. runs/s is also given as a ratio to one client, the
// baseline measured in the same run.
//
// Measured: each run from the client's request to its parsed answer (HTTP, admission, a
// pool child, the step, output validation, the answer), and a level's runs over its
// wall time. The clients live in this process, on the same cores as the daemon and its
// children, so at high levels they take some of the CPU they measure. Within a level the
// pool refills as it can, and a run that finds it empty starts a cold child: that cost
// is in its latency, as it would be in production. Not measured: the warming before each
// level (settleDaemon waits, untimed, until every pool child is warm and nothing runs),
// and the warm-up runs before the first level.
import { postRun, settleDaemon, startDaemon, type RunAnswer } from './daemon.js';
import { ASYNC_FS_STEP, TRIVIAL_STEP } from './steps.js';
import { median, percentile, table } from './stats.js';

const DEFAULT_LEVELS = [1, 2, 4, 8, 16, 32];
/** pool.size's maximum in the config schema. */
const MAX_LEVEL = 256;
const STEPS = [
  { name: 'trivial step', code: TRIVIAL_STEP },
  { name: 'async step: a 50 ms timer, then node:fs/promises stats /tmp five times', code: ASYNC_FS_STEP },
];

/** Enough runs for a p99 that is more than the maximum of a handful. */
const runsAt = (clients: number, quick: boolean): number => (quick ? Math.max(16, 2 * clients) : Math.max(40, 4 * clients));

interface Level {
  seconds: number;
  latencies: number[];
  failures: RunAnswer[];
}

/** `runs` runs, `clients` of them at a time, each client sending its next as soon as it has an answer. */
async function runLevel(url: string, body: string, clients: number, runs: number): Promise<Level> {
  let issued = 0;
  const latencies: number[] = [];
  const failures: RunAnswer[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (issued < runs) {
        issued++;
        const sent = performance.now();
        const answer = await postRun(url, body);
        latencies.push(performance.now() - sent);
        if (answer.outcome !== 'ok') failures.push(answer);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies, failures };
}

/** `--levels 1,2,4`: 1 is always added, as the baseline. */
function parseLevels(text: string | undefined): number[] {
  if (text === undefined) return DEFAULT_LEVELS;
  const levels = text.split(',').map(Number);
  const wrong = levels.find((n) => !Number.isInteger(n) || n < 1 || n > MAX_LEVEL);
  if (wrong !== undefined || text === '') throw new Error(`Expected \`--levels\` to be integers from 1 to ${MAX_LEVEL} separated by commas, got \`${text}\``);
  return [...new Set([1, ...levels])].sort((a, b) => a - b);
}

/** "crashed ×3 (signal SIGABRT), http 503 RENDERER_ERR_QUEUE_FULL ×1 (…)" */
function summarize(failures: readonly RunAnswer[]): string {
  const counts = new Map<string, { n: number; error: string | null }>();
  for (const { outcome, error } of failures) counts.set(outcome, { n: (counts.get(outcome)?.n ?? 0) + 1, error: counts.get(outcome)?.error ?? error });
  return [...counts].map(([outcome, { n, error }]) => `${outcome} ×${n}${error ? ` (first: ${error})` : ''}`).join(', ');
}

export async function concurrency(quick: boolean, options: { levels?: string }): Promise<string> {
  const levels = parseLevels(options.levels);
  const top = levels.at(-1)!;
  const daemon = await startDaemon('concurrency', { pool: { size: top }, server: { maxConcurrentRuns: top, queueSize: 256 } });
  try {
    const bodies = STEPS.map((step) => JSON.stringify({ step: { code: step.code } }));
    // Warm-up: the daemon's JIT and the page cache, for both steps.
    for (const body of bodies) for (let i = 0; i < 3; i++) await postRun(daemon.url, body);
    const rows: Array<Array<Record<string, string | number>>> = STEPS.map(() => []);
    const baselines: number[] = [];
    const failed: string[] = [];
    let total = 0;
    let failures = 0;
    // Both steps at one level, then the next level: the noise of a shared machine at
    // a given moment hits both alike.
    for (const clients of levels) {
      for (const [i, body] of bodies.entries()) {
        await settleDaemon(daemon.url);
        const runs = runsAt(clients, quick);
        const level = await runLevel(daemon.url, body, clients, runs);
        total += runs;
        failures += level.failures.length;
        const rate = runs / level.seconds;
        baselines[i] ??= rate;
        rows[i]!.push({
          clients,
          runs,
          'runs/s': rate,
          'p50 ms': median(level.latencies),
          'p99 ms': percentile(level.latencies, 99),
          'not ok': level.failures.length,
          'runs/s ÷ 1 client': rate / baselines[i]!,
        });
        if (level.failures.length) failed.push(`- ${STEPS[i]!.name}, ${clients} clients: ${summarize(level.failures)}`);
      }
    }
    const out = [`## concurrency: runs/s and latency by concurrent clients (POST /v1/runs; pool ${top} and maxConcurrentRuns ${top}, all warm before each level)`];
    if (failed.length) {
      // A sweep with failures measured something else: say so before any figure.
      process.exitCode = 1;
      out.push(`\n**NOT OK: ${failures} of ${total} runs failed; the figures below do not hold:**`, ...failed);
    }
    for (const [i, step] of STEPS.entries()) out.push(`\n${step.name}:\n`, table(rows[i]!));
    return out.join('\n');
  } finally {
    await daemon.stop();
  }
}
