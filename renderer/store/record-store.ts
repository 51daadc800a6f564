// What the daemon remembers of runs and workflows, behind one interface: the local
// implementation is an embedded database in the state directory (sqlite-record-store.ts);
// a fleet keeps the same records in a shared store. Nothing above this interface knows
// which one it talks to.
import type { ErrorCode } from '../errors.js';
import type { RunResult } from '../run/outcome.js';

export type RunState = 'queued' | 'running' | 'done' | 'canceled';

/** Where a completion callback stands (callbacks.ts delivers it). */
export interface CallbackState {
  url: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastError: string | null;
  /** ISO time of the 2xx answer, once delivered. */
  deliveredAt: string | null;
}

/** A run as stored: everything the API shows of it. */
export interface RunView {
  runId: string;
  state: RunState;
  /** Low-cardinality label: the step's name, or "inline" for submitted code. */
  step: string;
  /** The workflow the run is a step of, if any. */
  workflowId: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  result: RunResult | null;
  /** Where the output table is kept, when the run produced one. */
  outputFile: string | null;
  /** Why the run never started (its queue deadline passed, the renderer stopped). */
  error: { code: ErrorCode; message: string } | null;
  callback: CallbackState | null;
}

export interface WorkflowView {
  workflowId: string;
  state: RunState;
  /** The last step's outcome once the workflow ended. */
  outcome: string | null;
  createdAt: number;
  endedAt: number | null;
  /** Steps asked for; `runIds` holds those started so far, in order. */
  stepCount: number;
  runIds: string[];
  callback: CallbackState | null;
}

export interface RunFilter {
  state?: RunState | undefined;
  outcome?: string | undefined;
  step?: string | undefined;
  workflowId?: string | undefined;
  /** From a previous page's `nextCursor`: runs older than its last one. */
  cursor?: string | undefined;
  limit: number;
}

export interface IdempotencyEntry {
  /** SHA-256 of the request's canonical body: a reused key must come with the same. */
  bodyHash: string;
  /** The run or workflow the first request created. */
  targetId: string;
  createdAt: number;
}

export interface Retention {
  maxRuns: number;
  maxAgeMs: number;
  /** Bytes of stored results (logs, JSON, errors) kept at most. */
  maxBytes: number;
  /** Idempotency keys are forgotten after this long. */
  keyWindowMs: number;
  now: number;
}

export interface RecordStore {
  putRun(run: RunView): void;
  getRun(runId: string): RunView | null;
  /** Most recent first; `nextCursor` is null on the last page. */
  listRuns(filter: RunFilter): { runs: RunView[]; nextCursor: string | null };
  putWorkflow(workflow: WorkflowView): void;
  getWorkflow(workflowId: string): WorkflowView | null;
  /** Runs and workflows left queued or running by a renderer that stopped without ending them. */
  unfinished(): { runs: RunView[]; workflows: WorkflowView[] };
  /** Callbacks still to deliver (after a restart). */
  pendingCallbacks(): { runs: RunView[]; workflows: WorkflowView[] };
  findIdempotencyKey(scope: string, key: string, notBefore: number): IdempotencyEntry | null;
  putIdempotencyKey(scope: string, key: string, entry: IdempotencyEntry): void;
  /** Forgets finished runs and workflows past retention: how many runs, and the output files to delete. */
  prune(retention: Retention): { runs: number; files: string[] };
  /** Every output file a stored run still refers to. */
  outputFiles(): Set<string>;
  close(): void;
}
