// The daemon's memory of runs: state, result, output file, live child. Bounded: the
// oldest finished runs (and their output files) are forgotten past `capacity`.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { RendererError } from '../errors.js';
import type { RunResult } from '../run/outcome.js';
import type { StepChild } from '../run/step-child.js';

export type RunState = 'queued' | 'running' | 'done' | 'canceled';

export interface RunRecord {
  runId: string;
  state: RunState;
  /** Low-cardinality label: the step's name, or "inline" for submitted code. */
  step: string;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  result: RunResult | null;
  /** Where the output table is kept, when the run produced one. */
  outputFile: string | null;
  child: StepChild | null;
  /** Why the run never started (its queue deadline passed), when that happened. */
  error: RendererError | null;
  readonly abort: AbortController;
  /** Resolves when the run ends, whatever its outcome. */
  readonly done: Promise<void>;
  finish(): void;
}

export class RunRegistry {
  private readonly runs = new Map<string, RunRecord>();

  constructor(private readonly capacity: number) {}

  create(step: string): RunRecord {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const record: RunRecord = {
      runId: randomUUID(),
      state: 'queued',
      step,
      createdAt: Date.now(),
      startedAt: null,
      endedAt: null,
      result: null,
      outputFile: null,
      child: null,
      error: null,
      abort: new AbortController(),
      done,
      finish,
    };
    this.runs.set(record.runId, record);
    this.evict();
    return record;
  }

  get(runId: string): RunRecord | undefined {
    return this.runs.get(runId);
  }

  /** Most recent first. */
  recent(limit: number): RunRecord[] {
    return [...this.runs.values()].slice(-limit).reverse();
  }

  get unfinished(): RunRecord[] {
    return [...this.runs.values()].filter((r) => r.state === 'queued' || r.state === 'running');
  }

  private evict(): void {
    if (this.runs.size <= this.capacity) return;
    for (const [runId, record] of this.runs) {
      if (this.runs.size <= this.capacity) break;
      if (record.state === 'queued' || record.state === 'running') continue;
      if (record.outputFile) rmSync(record.outputFile, { force: true });
      this.runs.delete(runId);
    }
  }
}
