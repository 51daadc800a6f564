// Prometheus metrics (prom-client), one registry per daemon. Conventions: base units in
// names, _total for counters, only low-cardinality labels: the outcome, the exit code
// and signal (bounded sets), the step's name for named steps (bounded by the steps
// directory) and "inline" for submitted code; never a run id or any user text.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunResult } from '../run/outcome.js';

export const INLINE_STEP = 'inline';

export interface LiveFigures {
  poolSize(): number;
  queueCapacity(): number;
  warmChildren(): number;
  queueDepth(): number;
  queueRejected(): number;
  activeRuns(): number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly runs: Counter<'outcome' | 'step'>;
  private readonly exits: Counter<'exit_code' | 'signal'>;
  private readonly duration: Histogram<'outcome'>;
  private readonly peakMemory: Histogram;
  private readonly cpu: Histogram;
  private readonly spawn: Histogram;
  private readonly scheduleLastSuccess: Gauge<'schedule'>;
  private readonly scheduleFailures: Gauge<'schedule'>;
  private readonly scheduleSkipped: Counter<'schedule'>;

  constructor(live: LiveFigures) {
    const registers = [this.registry];
    // The standard names (process_*, nodejs_*) that existing dashboards expect.
    collectDefaultMetrics({ register: this.registry });
    this.runs = new Counter({ name: 'renderer_runs_total', help: 'Runs finished, by outcome and step (named steps; "inline" for submitted code).', labelNames: ['outcome', 'step'], registers });
    this.exits = new Counter({ name: 'renderer_run_exits_total', help: 'Runs finished, by the step process\'s exit code and signal ("none" when absent).', labelNames: ['exit_code', 'signal'], registers });
    this.duration = new Histogram({ name: 'renderer_run_duration_seconds', help: 'Run duration from dispatch to exit, by outcome.', labelNames: ['outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers });
    this.peakMemory = new Histogram({ name: 'renderer_run_peak_memory_bytes', help: 'Peak memory of a run\'s cgroup.', buckets: [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192].map((m) => m * 1024 * 1024), registers });
    this.cpu = new Histogram({ name: 'renderer_run_cpu_seconds', help: 'CPU time of a run\'s cgroup.', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.spawn = new Histogram({ name: 'renderer_pool_spawn_seconds', help: 'Time from spawning a warm child to its being ready.', buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5], registers });
    new Gauge({ name: 'renderer_pool_warm_children', help: 'Children ready to take a run.', registers, collect() { this.set(live.warmChildren()); } });
    new Gauge({ name: 'renderer_pool_size', help: 'Warm children the pool keeps (0: no pool).', registers, collect() { this.set(live.poolSize()); } });
    new Gauge({ name: 'renderer_queue_capacity', help: 'Runs that may wait in the queue.', registers, collect() { this.set(live.queueCapacity()); } });
    new Gauge({ name: 'renderer_queue_depth', help: 'Runs waiting for a slot.', registers, collect() { this.set(live.queueDepth()); } });
    new Gauge({ name: 'renderer_runs_active', help: 'Runs in progress.', registers, collect() { this.set(live.activeRuns()); } });
    new Counter({ name: 'renderer_queue_rejected_total', help: 'Runs refused because the queue was full.', registers, collect() { this.reset(); this.inc(live.queueRejected()); } });
    this.scheduleLastSuccess = new Gauge({ name: 'renderer_schedule_last_success_timestamp_seconds', help: 'When each schedule last ended with every step ok (Unix time).', labelNames: ['schedule'], registers });
    this.scheduleFailures = new Gauge({ name: 'renderer_schedule_consecutive_failures', help: 'Failed runs of each schedule since its last success.', labelNames: ['schedule'], registers });
    this.scheduleSkipped = new Counter({ name: 'renderer_schedule_skipped_overlap_total', help: 'Firings of each schedule skipped because its previous run was still going.', labelNames: ['schedule'], registers });
  }

  /** Runs finished since start, by outcome and by exit status: read back from the counters. */
  async totals(): Promise<{ outcomes: Record<string, number>; exits: Record<string, number> }> {
    const outcomes: Record<string, number> = {};
    for (const v of (await this.runs.get()).values) outcomes[String(v.labels.outcome)] = (outcomes[String(v.labels.outcome)] ?? 0) + v.value;
    const exits: Record<string, number> = {};
    for (const v of (await this.exits.get()).values) {
      const key = v.labels.signal !== 'none' ? String(v.labels.signal) : v.labels.exit_code !== 'none' ? `exit ${v.labels.exit_code}` : 'no exit (not started)';
      exits[key] = (exits[key] ?? 0) + v.value;
    }
    return { outcomes, exits };
  }

  runFinished(step: string, result: RunResult): void {
    this.runs.inc({ outcome: result.outcome, step });
    this.exits.inc({ exit_code: result.exitCode === null ? 'none' : String(result.exitCode), signal: result.signal ?? 'none' });
    this.duration.observe({ outcome: result.outcome }, result.durationMs / 1000);
    if (result.peakMemoryBytes !== null) this.peakMemory.observe(result.peakMemoryBytes);
    if (result.cpuSeconds !== null) this.cpu.observe(result.cpuSeconds);
  }

  childSpawned(seconds: number): void {
    this.spawn.observe(seconds);
  }

  schedule(name: string, state: { lastSuccessAt: string | null; consecutiveFailures: number }): void {
    if (state.lastSuccessAt) this.scheduleLastSuccess.set({ schedule: name }, Date.parse(state.lastSuccessAt) / 1000);
    this.scheduleFailures.set({ schedule: name }, state.consecutiveFailures);
  }

  scheduleSkippedOverlap(name: string): void {
    this.scheduleSkipped.inc({ schedule: name });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
