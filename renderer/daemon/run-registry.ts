// The daemon's memory of runs and workflows. Live ones (queued or running) are held here
// with what only a live run has: its child, its abort controller, the promise of its
// end. Every record is also written to the RecordStore at each change of state, so the
// store alone answers for finished runs, and a restarted daemon finds every run it had
// accepted: finished ones as they ended, unfinished ones marked `interrupted`.
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { emptyResult } from '../run/run-step.js';
import type { StepChild } from '../run/step-child.js';
import type { CallbackState, RecordStore, Retention, RunFilter, RunState, RunView, WorkflowView } from '../store/record-store.js';

export type { RunState } from '../store/record-store.js';

interface Live {
  readonly abort: AbortController;
  /** Resolves when it ends, whatever its outcome. */
  readonly done: Promise<void>;
}

export interface RunRecord extends RunView, Live {
  child: StepChild | null;
}

export interface WorkflowRecord extends WorkflowView, Live {
  /** The steps' live records, in order, as they start. */
  readonly runs: RunRecord[];
}

const isLive = (state: RunState): boolean => state === 'queued' || state === 'running';

export class RunRegistry {
  private readonly runs = new Map<string, { record: RunRecord; end: () => void }>();
  private readonly workflows = new Map<string, { record: WorkflowRecord; end: () => void }>();

  constructor(
    readonly store: RecordStore,
    private readonly retention: () => Omit<Retention, 'now'>,
  ) {}

  create(step: string, options: { workflowId?: string | null; callback?: CallbackState | null } = {}): RunRecord {
    let end!: () => void;
    const done = new Promise<void>((resolve) => (end = resolve));
    const record: RunRecord = {
      runId: randomUUID(),
      state: 'queued',
      step,
      workflowId: options.workflowId ?? null,
      createdAt: Date.now(),
      startedAt: null,
      endedAt: null,
      result: null,
      outputFile: null,
      error: null,
      callback: options.callback ?? null,
      child: null,
      abort: new AbortController(),
      done,
    };
    this.store.putRun(record);
    this.runs.set(record.runId, { record, end });
    return record;
  }

  createWorkflow(stepCount: number, callback: CallbackState | null = null): WorkflowRecord {
    let end!: () => void;
    const done = new Promise<void>((resolve) => (end = resolve));
    const record: WorkflowRecord = {
      workflowId: randomUUID(),
      state: 'queued',
      outcome: null,
      createdAt: Date.now(),
      endedAt: null,
      stepCount,
      runIds: [],
      callback,
      runs: [],
      abort: new AbortController(),
      done,
    };
    this.store.putWorkflow(record);
    this.workflows.set(record.workflowId, { record, end });
    return record;
  }

  /** Writes a live record's current state (a run started, a callback was delivered). */
  save(record: RunView): void {
    this.store.putRun(record);
  }

  saveWorkflow(record: WorkflowView): void {
    this.store.putWorkflow(record);
  }

  /** Records the end of a run: stored, no longer live, its waiters woken. */
  finish(record: RunRecord): void {
    this.store.putRun(record);
    const entry = this.runs.get(record.runId);
    this.runs.delete(record.runId);
    entry?.end();
  }

  finishWorkflow(record: WorkflowRecord): void {
    this.store.putWorkflow(record);
    const entry = this.workflows.get(record.workflowId);
    this.workflows.delete(record.workflowId);
    entry?.end();
  }

  /** A live run with its promise, or undefined once it ended. */
  live(runId: string): RunRecord | undefined {
    return this.runs.get(runId)?.record;
  }

  liveWorkflow(workflowId: string): WorkflowRecord | undefined {
    return this.workflows.get(workflowId)?.record;
  }

  get(runId: string): RunView | null {
    return this.live(runId) ?? this.store.getRun(runId);
  }

  getWorkflow(workflowId: string): WorkflowView | null {
    return this.liveWorkflow(workflowId) ?? this.store.getWorkflow(workflowId);
  }

  list(filter: RunFilter): { runs: RunView[]; nextCursor: string | null } {
    const page = this.store.listRuns(filter);
    // A live run's in-memory record is the same as its stored one, plus its child.
    return { runs: page.runs.map((run) => this.live(run.runId) ?? run), nextCursor: page.nextCursor };
  }

  /** The newest runs, most recent first. */
  recent(limit: number): RunView[] {
    return this.list({ limit }).runs;
  }

  get unfinished(): RunRecord[] {
    return [...this.runs.values()].map(({ record }) => record);
  }

  /**
   * At start-up: what a previous daemon left queued or running never finished and never
   * will (its children died with it, or were removed as leftovers). Each is marked
   * `interrupted`, with a message that says so, never left `running`; partial outputs go.
   */
  recover(): { runs: number; workflows: number } {
    const { runs, workflows } = this.store.unfinished();
    const now = Date.now();
    for (const run of runs) {
      const error = `the renderer stopped (a restart, crash or kill) while this run was ${run.state}; it did not finish and was not retried: submit it again`;
      if (run.outputFile) rmSync(run.outputFile, { force: true });
      this.store.putRun({ ...run, state: 'done', endedAt: now, outputFile: null, result: { ...emptyResult(run.runId), outcome: 'interrupted', error } });
    }
    for (const workflow of workflows) this.store.putWorkflow({ ...workflow, state: 'done', outcome: 'interrupted', endedAt: now });
    return { runs: runs.length, workflows: workflows.length };
  }

  /** Applies retention and deletes the forgotten runs' outputs; returns how many runs it forgot. */
  prune(): number {
    const { runs, files } = this.store.prune({ ...this.retention(), now: Date.now() });
    for (const file of files) rmSync(file, { force: true });
    return runs;
  }

  /** At start-up, after recover(): output files no stored run refers to (a run forgotten
   * between its record's deletion and its file's, or older renderers' leftovers). */
  removeOrphanOutputs(outputsDir: string): number {
    const kept = this.store.outputFiles();
    const live = new Set(this.unfinished.map((record) => `${record.runId}.arrow`));
    let orphans = 0;
    for (const name of readdirSync(outputsDir)) {
      const file = join(outputsDir, name);
      if (kept.has(file) || live.has(name)) continue;
      rmSync(file, { force: true });
      orphans++;
    }
    return orphans;
  }

  isLive(view: RunView | WorkflowView): boolean {
    return isLive(view.state);
  }
}
