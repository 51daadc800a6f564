// Scheduled workflows (croner). Each firing runs the schedule's workflow through the
// same queue as API runs, then writes its output table and result JSON into a new
// directory under the schedule's outputDir, atomically (built aside, renamed into
// place), keeping the last `keep`. A firing while the previous run is still going is
// skipped and counted. Per-schedule state survives restarts in a small file written
// atomically.
import { Cron } from 'croner';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ScheduleConfig } from '../config/config-schema.js';
import { RendererError } from '../errors.js';
import type { Executor, WorkflowResult } from '../daemon/executor.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { stringifyJson } from '../store/raw-json.js';
import { presentResult } from '../http/present.js';
import { writeFileAtomic } from '../state-dir.js';

export interface ScheduleState {
  lastRunAt: string | null;
  lastSuccessAt: string | null;
  lastOutcome: string | null;
  consecutiveFailures: number;
  skippedOverlaps: number;
  runs: number;
}

const EMPTY_STATE: ScheduleState = { lastRunAt: null, lastSuccessAt: null, lastOutcome: null, consecutiveFailures: 0, skippedOverlaps: 0, runs: 0 };
const RUN_DIR = /^\d{8}T\d{6}\d{3}Z-[0-9a-f-]{36}$/;

export function validateCron(pattern: string): string | null {
  try {
    new Cron(pattern, { paused: true }).stop();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

export class Scheduler {
  private readonly jobs = new Map<string, Cron>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly state: Record<string, ScheduleState>;

  constructor(
    private readonly schedules: readonly ScheduleConfig[],
    private readonly executor: Executor,
    private readonly stateDir: string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** "config FILE line N" for a config path, to name where a problem is. */
    private readonly where: (path: string) => string,
  ) {
    this.state = this.load();
  }

  private get stateFile(): string {
    return join(this.stateDir, 'schedules.json');
  }

  private load(): Record<string, ScheduleState> {
    try {
      const stored = JSON.parse(readFileSync(this.stateFile, 'utf8')) as Record<string, Partial<ScheduleState>>;
      return Object.fromEntries(Object.entries(stored).map(([name, s]) => [name, { ...EMPTY_STATE, ...s }]));
    } catch {
      return {};
    }
  }

  private save(): void {
    writeFileAtomic(this.stateFile, JSON.stringify(this.state, null, 2));
  }

  outputDirOf(schedule: ScheduleConfig): string {
    return isAbsolute(schedule.outputDir) ? schedule.outputDir : join(this.stateDir, schedule.outputDir);
  }

  /** Every problem of every schedule, each naming its place in the config. */
  validate(): void {
    const problems: string[] = [];
    const names = new Set<string>();
    this.schedules.forEach((schedule, i) => {
      const at = (field: string): string => `${this.where(`schedules[${i}].${field}`)}: schedules[${i}].${field}`;
      if (names.has(schedule.name)) problems.push(`${at('name')}: schedule name "${schedule.name}" is used twice`);
      names.add(schedule.name);
      const cronProblem = validateCron(schedule.cron);
      if (cronProblem) problems.push(`${at('cron')}: invalid cron expression "${schedule.cron}" (${cronProblem})`);
      schedule.workflow.steps.forEach((step, j) => {
        try {
          this.executor.references.stepFile(step.step);
        } catch (error) {
          problems.push(`${at(`workflow.steps[${j}].step`)}: ${(error as Error).message}`);
        }
      });
      if (schedule.workflow.input) {
        try {
          this.executor.references.dataPath(schedule.workflow.input);
        } catch (error) {
          problems.push(`${at('workflow.input')}: ${(error as Error).message}`);
        }
      }
    });
    if (problems.length) throw new RendererError('RENDERER_ERR_CONFIG_INVALID', problems.join('; '));
  }

  start(): void {
    for (const schedule of this.schedules) {
      this.state[schedule.name] ??= { ...EMPTY_STATE };
      this.metrics.schedule(schedule.name, this.state[schedule.name]!);
      const job = new Cron(schedule.cron, { protect: () => this.skipped(schedule), catch: true }, () => this.fire(schedule));
      this.jobs.set(schedule.name, job);
    }
  }

  private skipped(schedule: ScheduleConfig): void {
    this.state[schedule.name]!.skippedOverlaps++;
    this.metrics.scheduleSkippedOverlap(schedule.name);
    this.log.warn({ schedule: schedule.name }, 'schedule fired while its previous run was still going: skipped');
    this.save();
  }

  /** One run of a schedule (croner's `protect` keeps two from overlapping). */
  fire(schedule: ScheduleConfig): Promise<void> {
    const run = this.runOnce(schedule).finally(() => this.running.delete(schedule.name));
    this.running.set(schedule.name, run);
    return run;
  }

  private async runOnce(schedule: ScheduleConfig): Promise<void> {
    const state = (this.state[schedule.name] ??= { ...EMPTY_STATE });
    const startedAt = new Date();
    let result: WorkflowResult | null = null;
    let problem: string | null = null;
    try {
      result = await this.executor.workflow(
        schedule.workflow.steps.map((s) => ({ step: { name: s.step }, params: s.params, timeoutMs: s.timeoutMs, memoryMiB: s.memoryMiB })),
        schedule.workflow.input ? { path: schedule.workflow.input } : null,
      );
      this.writeRun(schedule, startedAt, result);
    } catch (error) {
      problem = (error as Error).message;
    }
    const ok = result?.outcome === 'ok' && problem === null;
    state.runs++;
    state.lastRunAt = startedAt.toISOString();
    state.lastOutcome = problem ? 'not_started' : (result?.outcome ?? null);
    if (ok) {
      state.lastSuccessAt = startedAt.toISOString();
      state.consecutiveFailures = 0;
    } else state.consecutiveFailures++;
    this.save();
    this.metrics.schedule(schedule.name, state);
    this.log.info({ schedule: schedule.name, outcome: state.lastOutcome, ...(problem ? { error: problem } : {}), consecutiveFailures: state.consecutiveFailures }, 'schedule run finished');
  }

  /** <outputDir>/<time>-<runId>/{output.arrow,result.json}, whole or absent; `latest` points at the newest. */
  private writeRun(schedule: ScheduleConfig, startedAt: Date, result: WorkflowResult): void {
    const dir = this.outputDirOf(schedule);
    mkdirSync(dir, { recursive: true });
    const last = result.steps[result.steps.length - 1]!;
    const name = `${startedAt.toISOString().replace(/[-:.]/g, '')}-${last.runId}`;
    const staging = join(dir, `.${name}.tmp`);
    mkdirSync(staging);
    try {
      if (result.outcome === 'ok' && last.outputFile) {
        try {
          linkSync(last.outputFile, join(staging, 'output.arrow'));
        } catch {
          copyFileSync(last.outputFile, join(staging, 'output.arrow'));
        }
      }
      const steps = result.steps.map((record) => ({ runId: record.runId, step: record.step, ...presentResult(record) }));
      writeFileSync(join(staging, 'result.json'), `${stringifyJson({ schedule: schedule.name, startedAt: startedAt.toISOString(), outcome: result.outcome, steps }, 2)}\n`);
      renameSync(staging, join(dir, name));
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    const link = join(dir, `.latest.${process.pid}.tmp`);
    rmSync(link, { force: true });
    symlinkSync(name, link);
    renameSync(link, join(dir, 'latest'));
    const runs = readdirSync(dir).filter((n) => RUN_DIR.test(n)).sort();
    for (const old of runs.slice(0, Math.max(0, runs.length - schedule.keep))) rmSync(join(dir, old), { recursive: true, force: true });
  }

  status(): Array<ScheduleState & { name: string; cron: string; nextRunAt: string | null; running: boolean }> {
    return this.schedules.map((schedule) => ({
      name: schedule.name,
      cron: schedule.cron,
      nextRunAt: this.jobs.get(schedule.name)?.nextRun()?.toISOString() ?? null,
      running: this.running.has(schedule.name),
      ...(this.state[schedule.name] ?? EMPTY_STATE),
    }));
  }

  /** Stops firing; waits for runs in progress. */
  async stop(): Promise<void> {
    for (const job of this.jobs.values()) job.stop();
    await Promise.allSettled(this.running.values());
  }

  /** Leftover staging directories of a crashed predecessor. */
  removeLeftovers(): void {
    for (const schedule of this.schedules) {
      const dir = this.outputDirOf(schedule);
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) if (/^\..*\.tmp$/.test(name)) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
}
