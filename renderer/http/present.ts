// What the API returns for a run: the contract's result with output.path replaced by
// output.url, plus the run's state and timing; and for a workflow, its steps so.
import type { RunResult } from '../run/outcome.js';
import type { Usage } from '../observability/usage.js';
import type { RunView, WorkflowView } from '../store/record-store.js';

export const outputUrl = (runId: string): string => `/v1/runs/${runId}/output`;
export const runUrl = (runId: string): string => `/v1/runs/${runId}`;
export const workflowUrl = (workflowId: string): string => `/v1/workflows/${workflowId}`;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function presentResult(record: RunView): (Omit<RunResult, 'output'> & { output: { url: string; rows: number; columns: string[] } | null }) | null {
  const result = record.result;
  if (!result) return null;
  const { output, ...rest } = result;
  return { ...rest, output: output && record.outputFile ? { url: outputUrl(record.runId), rows: output.rows, columns: output.columns } : null };
}

export function presentRun(record: RunView, usage: Usage | null = null) {
  return {
    runId: record.runId,
    state: record.state,
    step: record.step,
    workflowId: record.workflowId,
    createdAt: iso(record.createdAt)!,
    startedAt: iso(record.startedAt),
    endedAt: iso(record.endedAt),
    result: presentResult(record),
    usage,
    callback: record.callback,
  };
}

/** A workflow and the runs of its steps so far (a step forgotten by retention shows as its id alone). */
export function presentWorkflow(workflow: WorkflowView, steps: (RunView | null)[]) {
  return {
    workflowId: workflow.workflowId,
    state: workflow.state,
    outcome: workflow.outcome,
    createdAt: iso(workflow.createdAt)!,
    endedAt: iso(workflow.endedAt),
    stepCount: workflow.stepCount,
    steps: steps.map((run, i) => (run ? { runId: run.runId, state: run.state, ...presentResult(run) } : { runId: workflow.runIds[i]!, state: 'forgotten' })),
    callback: workflow.callback,
  };
}
