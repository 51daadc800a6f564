// How a run ended, decided in one place from facts gathered by the run: what the
// reaper reported, whether we killed it and why, the cgroup's OOM counter, what came
// over the result pipe and what the output file held. Failed and successful runs have
// one result shape (contract section 3).
import type { SandboxExit } from '../sandbox/launch.js';
import type { ChildResult } from './protocol.js';

export const OUTCOMES = ['ok', 'step_error', 'timeout', 'oom_killed', 'crashed', 'invalid_output', 'sandbox_error', 'canceled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface RunResult {
  runId: string;
  outcome: Outcome;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  peakMemoryBytes: number | null;
  error: string | null;
  logs: string;
  output: { path: string | null; rows: number; columns: string[] } | null;
  json: unknown;
  // Extensions of the contract.
  /** Messages the step returned for its user. */
  errors: string[];
  /** For step_error: the stack frames of the step's own module. */
  stack: string | null;
  cpuSeconds: number | null;
  /** Bytes of logs that did not fit the tail. */
  logsDroppedBytes: number;
}

export type KillReason = 'timeout' | 'canceled' | 'protocol' | 'startup';

export interface RunFacts {
  exit: SandboxExit;
  killedFor: KillReason | null;
  /** Did the child say it was ready before it ended? Before that, no user code ran. */
  wasReady: boolean;
  oomKills: number;
  timeoutMs: number;
  memoryMiB: number;
  maxOutputBytes: number;
  channelProblem: string | null;
  child: ChildResult | null;
  /** Set when the output file failed its checks. */
  outputProblem: string | null;
  /** Lines bwrap or the launcher printed, for sandbox_error messages. */
  sandboxMessages: string;
}

function describeExit(exit: SandboxExit): string {
  if (exit.signal) return `was killed by ${exit.signal}${exit.coreDumped ? ' (core dumped)' : ''}`;
  return `exited with code ${exit.exitCode}`;
}

export function classify(facts: RunFacts): { outcome: Outcome; error: string | null } {
  const { exit } = facts;
  if (exit.setupError)
    return { outcome: 'sandbox_error', error: `the sandbox could not be set up: ${exit.setupError}${facts.sandboxMessages ? ` (${facts.sandboxMessages})` : ''}` };
  if (facts.killedFor === 'timeout')
    return { outcome: 'timeout', error: `the step ran longer than ${facts.timeoutMs} ms and was killed` };
  // Only the kernel's own count says OOM: a SIGKILL alone proves nothing.
  if (facts.oomKills > 0)
    return { outcome: 'oom_killed', error: `the step exceeded its memory limit of ${facts.memoryMiB} MiB and was killed by the kernel` };
  if (facts.killedFor === 'canceled') return { outcome: 'canceled', error: 'the run was canceled' };
  if (facts.channelProblem) return { outcome: 'invalid_output', error: facts.channelProblem };
  // RLIMIT_FSIZE at the output limit stops the write: EFBIG for the runtime (Node
  // ignores SIGXFSZ), SIGXFSZ for a process that does not.
  if (exit.signal === 'SIGXFSZ' || facts.child?.status === 'output_too_large')
    return { outcome: 'invalid_output', error: `the step wrote a file larger than the output limit of ${facts.maxOutputBytes} bytes` };
  if (!facts.wasReady)
    return {
      outcome: 'sandbox_error',
      error: `the step runtime failed to start: it ${describeExit(exit)}${facts.sandboxMessages ? ` (${facts.sandboxMessages})` : ''}`,
    };
  const clean = exit.exitCode === 0 && exit.signal === null;
  if (!facts.child) return { outcome: 'crashed', error: clean ? 'the step exited without returning a result' : `the step ${describeExit(exit)}` };
  if (!clean) return { outcome: 'crashed', error: `the step ${describeExit(exit)} after returning its result` };
  if (facts.child.status === 'step_error') return { outcome: 'step_error', error: facts.child.error?.message ?? 'the step failed' };
  if (facts.outputProblem) return { outcome: 'invalid_output', error: facts.outputProblem };
  return { outcome: 'ok', error: null };
}

/** Exit status of `renderer run` for an outcome (contract section 2). */
export const exitStatusFor = (outcome: Outcome): number => (outcome === 'ok' ? 0 : outcome === 'step_error' ? 1 : 3);
