// What the API returns for a run: the contract's result with output.path replaced by
// output.url, plus the run's state and timing.
import type { RunRecord } from '../daemon/run-registry.js';
import type { RunResult } from '../run/outcome.js';
import type { Usage } from '../observability/usage.js';

export const outputUrl = (runId: string): string => `/v1/runs/${runId}/output`;

export function presentResult(record: RunRecord): (Omit<RunResult, 'output'> & { output: { url: string; rows: number; columns: string[] } | null }) | null {
  const result = record.result;
  if (!result) return null;
  const { output, ...rest } = result;
  return { ...rest, output: output && record.outputFile ? { url: outputUrl(record.runId), rows: output.rows, columns: output.columns } : null };
}

export function presentRun(record: RunRecord, usage: Usage | null = null) {
  return {
    runId: record.runId,
    state: record.state,
    step: record.step,
    createdAt: new Date(record.createdAt).toISOString(),
    startedAt: record.startedAt ? new Date(record.startedAt).toISOString() : null,
    endedAt: record.endedAt ? new Date(record.endedAt).toISOString() : null,
    result: presentResult(record),
    usage,
  };
}
