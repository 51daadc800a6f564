// The daemon's memory of runs: state, result, output file, live child. Bounded by count
// and by bytes: the oldest finished runs (and their output files) are forgotten past
// `capacity` runs or `byteBudget` bytes of results. Results are kept compact (a step's
// JSON as text: http/raw-json.ts), so bytes here are close to bytes of heap.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { RendererError } from '../errors.js';
import { RawJson } from '../store/raw-json.js';
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

/** What a finished record costs to keep: its strings, and a fixed share for the rest. */
export function recordBytes(record: RunRecord): number {
  const result = record.result;
  if (!result) return RECORD_OVERHEAD;
  const json = result.json instanceof RawJson ? result.json.text.length : 0;
  const text = [result.logs, result.error, result.stack, ...result.errors, ...(result.output?.columns ?? [])];
  return RECORD_OVERHEAD + json + text.reduce((sum, s) => sum + (s?.length ?? 0), 0);
}
const RECORD_OVERHEAD = 1024;

export class RunRegistry {
  private readonly runs = new Map<string, RunRecord>();
  private readonly sizes = new Map<string, number>();
  private bytes = 0;

  constructor(
    private readonly capacity: number,
    private readonly byteBudget = Number.POSITIVE_INFINITY,
  ) {}

  /** Bytes of finished runs' results held now. */
  get heldBytes(): number {
    return this.bytes;
  }

  create(step: string): RunRecord {
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const finish = (): void => {
      if (!this.sizes.has(record.runId) && this.runs.has(record.runId)) {
        const size = recordBytes(record);
        this.sizes.set(record.runId, size);
        this.bytes += size;
        this.evict(record);
      }
      resolveDone();
    };
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

  /** Forgets the oldest finished runs while over either bound, never `keep` (the run
   * that just finished, whose caller is about to read it). */
  private evict(keep?: RunRecord): void {
    const over = (): boolean => this.runs.size > this.capacity || this.bytes > this.byteBudget;
    if (!over()) return;
    for (const [runId, record] of this.runs) {
      if (!over()) break;
      if (record === keep || record.state === 'queued' || record.state === 'running') continue;
      if (record.outputFile) rmSync(record.outputFile, { force: true });
      this.runs.delete(runId);
      this.bytes -= this.sizes.get(runId) ?? 0;
      this.sizes.delete(runId);
    }
  }
}
