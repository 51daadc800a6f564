// How a run ended, decided in one place from facts gathered by the run: what the
// reaper reported, whether we killed it and why, the cgroup's OOM counter, what came
// over the result pipe and what the output file held. Failed and successful runs have
// one result shape (contract section 3).
import type { SandboxExit } from '../sandbox/launch.js';
import type { ChildResult } from './protocol.js';
import { RUNTIME_THREADS } from './step-child.js';

/** Tasks of a ready step sandbox: bwrap, the reaper and the runtime's threads. */
const RUNTIME_TASKS = 2 + RUNTIME_THREADS;

export const OUTCOMES = ['ok', 'step_error', 'timeout', 'oom_killed', 'crashed', 'invalid_output', 'sandbox_error', 'canceled', 'interrupted'] as const;
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
  /** Why a child that never said ready was given up on, when it stalled (overload). */
  startupStalled: string | null;
  /** Forks and clones the run's pids cgroup refused (pids.events). */
  pidsLimitHits: number;
  maxProcesses: number;
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
  // Before ready no user code ran: whatever ended the child is the renderer's or the
  // host's, never the step's, and the message says which evidence there is.
  if (!facts.wasReady) {
    const why = facts.startupStalled
      ? `${facts.startupStalled}: the host is overloaded, or its start-up budget too small for it`
      : facts.pidsLimitHits > 0
        ? `it ${describeExit(exit)} after its sandbox refused ${facts.pidsLimitHits} new threads or processes at limits.maxProcesses ${facts.maxProcesses}; a ready runtime holds ${RUNTIME_TASKS} tasks, so raise limits.maxProcesses`
        : `it ${describeExit(exit)}`;
    return { outcome: 'sandbox_error', error: `the step runtime failed to start: ${why}${facts.sandboxMessages ? ` (${facts.sandboxMessages})` : ''}` };
  }
  const clean = exit.exitCode === 0 && exit.signal === null;
  const atLimit = facts.pidsLimitHits > 0 ? ` (it had tried to start more than its limit of ${facts.maxProcesses} processes and threads)` : '';
  if (!facts.child) return { outcome: 'crashed', error: clean ? 'the step exited without returning a result' : `the step ${describeExit(exit)}${atLimit}` };
  if (!clean) return { outcome: 'crashed', error: `the step ${describeExit(exit)} after returning its result` };
  if (facts.child.status === 'step_error') return { outcome: 'step_error', error: facts.child.error?.message ?? 'the step failed' };
  if (facts.outputProblem) return { outcome: 'invalid_output', error: facts.outputProblem };
  return { outcome: 'ok', error: null };
}

/** Exit status of `renderer run` for an outcome (contract section 2). */
export const exitStatusFor = (outcome: Outcome): number => (outcome === 'ok' ? 0 : outcome === 'step_error' ? 1 : 3);
