// runStep: one step, one fresh sandboxed child, one result. The library API that the
// CLI, the daemon and the tests share.
import { randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, linkSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Limits } from '../config/config-schema.js';
import type { CgroupStats } from '../sandbox/cgroup/driver.js';
import { classify, type RunResult } from './outcome.js';
import { handBack, inspectOutput, InvalidOutput } from './output.js';
import { checkResult, type ChildResult } from './protocol.js';
import { INPUT_FILE, SANDBOX_IN, STEP_FILE } from './run-dir.js';
import type { Runner } from './runner.js';
import type { StepChild } from './step-child.js';

const STARTUP_TIMEOUT_MS = 15_000;
/** Children tried for one run before it is a sandbox_error: a child that failed to
 * start ran no user code, so another try is always safe. */
const START_ATTEMPTS = 2;
const MAX_STEP_SOURCE_BYTES = 4 * 1024 * 1024;

export interface RunStepOptions {
  step: { path: string } | { code: string };
  /** Host path of an Arrow IPC file; absent: an empty table. */
  input?: string | null;
  /** Where the output table goes; absent: validated, reported, not kept. */
  output?: string | null;
  /** JSON text of the params. */
  paramsJson?: string;
  limits: Limits;
  runId?: string;
  signal?: AbortSignal;
  /** Called once the child is dispatched (the daemon samples its resources). */
  onDispatch?: (child: StepChild) => void;
  /** Provides the child; by default a cold spawn. */
  acquireChild?: (limits: Limits) => Promise<StepChild>;
}

export function emptyResult(runId: string): RunResult {
  return {
    runId,
    outcome: 'sandbox_error',
    exitCode: null,
    signal: null,
    durationMs: 0,
    peakMemoryBytes: null,
    error: null,
    logs: '',
    output: null,
    json: null,
    errors: [],
    stack: null,
    cpuSeconds: null,
    logsDroppedBytes: 0,
  };
}

/** Puts the step module and the input where the sandbox sees them (/run/in). */
function stage(child: StepChild, options: RunStepOptions): void {
  const stepFile = join(child.dir.inDir, STEP_FILE);
  if ('code' in options.step) writeFileSync(stepFile, options.step.code, { mode: 0o644 });
  else {
    const size = statSync(options.step.path).size;
    if (size > MAX_STEP_SOURCE_BYTES) throw new Error(`the step module is ${size} bytes; at most ${MAX_STEP_SOURCE_BYTES}`);
    writeFileSync(stepFile, readFileSync(options.step.path), { mode: 0o644 });
  }
  chmodSync(stepFile, 0o644);
  if (options.input) {
    const source = realpathSync(options.input);
    const target = join(child.dir.inDir, INPUT_FILE);
    // A hard link costs nothing for a 1 GiB table; the step sees it read-only. A copy
    // when it cannot be linked (another filesystem) or the step user could not read it.
    const worldReadable = (statSync(source).mode & 0o004) !== 0;
    let linked = false;
    if (worldReadable) {
      try {
        linkSync(source, target);
        linked = true;
      } catch {
        /* EXDEV, EPERM: copy instead */
      }
    }
    if (!linked) {
      copyFileSync(source, target);
      chmodSync(target, 0o644);
    }
  }
}

type Start = 'ready' | 'exited' | 'stalled';

/** Waits for the child's ready message: 'exited' if it ended first, 'stalled' if it
 * took longer than STARTUP_TIMEOUT_MS. */
async function becameReady(child: StepChild): Promise<Start> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      child.ready.then((): Start => 'ready', (): Start => 'exited'),
      child.process.exited.then((): Start => 'exited'),
      new Promise<Start>((resolve) => (timer = setTimeout(() => resolve('stalled'), STARTUP_TIMEOUT_MS))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** "load average 7.9 over 2 cores" — the evidence for an overloaded host. */
function hostLoad(): string {
  return `load average ${loadavg()[0]!.toFixed(1)} over ${availableParallelism()} cores`;
}

/** How a child that never said ready ended, for the log line of a retry. */
function describeEarlyExit(child: StepChild): string {
  const said = sandboxMessages(child.logs.text());
  return `it ended before it said ready${said ? `: ${said}` : ''}`;
}

function sandboxMessages(logs: string): string {
  return logs
    .split('\n')
    .filter((line) => /^(bwrap|renderer-launcher|renderer-reaper|renderer step-runtime):/.test(line))
    .slice(0, 5)
    .join('; ');
}

export async function runStep(runner: Runner, options: RunStepOptions): Promise<RunResult> {
  const runId = options.runId ?? randomUUID();
  const { limits } = options;
  const result = emptyResult(runId);
  if (!runner.sandbox) {
    result.error = `the sandbox is unavailable: ${runner.sandboxProblem}`;
    return result;
  }
  if (options.signal?.aborted) return { ...result, outcome: 'canceled', error: 'the run was canceled' };

  const acquire = options.acquireChild ?? ((l: Limits) => runner.spawnChild(l));
  let child: StepChild | undefined;
  let start: Start = 'exited';
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => void child?.kill('canceled');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let stats: CgroupStats | null = null;
  try {
    // A child that dies or stalls before it says ready ran no user code: it is the
    // renderer's failure (a host limit, overload), never the step's. Such a child is
    // discarded and another tried before the run is reported as a sandbox_error.
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      const failed = child;
      try {
        child = await acquire(limits);
      } catch (error) {
        if (!failed) {
          result.error = `the sandbox could not be started: ${(error as Error).message}`;
          return result;
        }
        runner.warn(`no second step child for run ${runId}: ${(error as Error).message}`);
        child = failed; // its failure, with its evidence, is the one reported
        break;
      }
      if (failed) {
        runner.warn(`a step child failed to start (${start === 'stalled' ? `not ready within ${STARTUP_TIMEOUT_MS} ms, ${hostLoad()}` : describeEarlyExit(failed)}); trying another for run ${runId}`);
        runner.defer(() => failed.discard());
      }
      // A cancel that came while the child was being acquired has fired already.
      if (options.signal?.aborted) onAbort();
      try {
        stage(child, options);
      } catch (error) {
        result.error = `the run could not be prepared: ${(error as Error).message}`;
        start = 'exited';
        break;
      }
      start = await becameReady(child);
      if (start === 'ready' || child.killedFor === 'canceled') break;
    }
    child = child!;
    if (start === 'ready' && !child.killedFor) {
      child.dispatch({
        runId,
        stepPath: `${SANDBOX_IN}/${STEP_FILE}`,
        inputPath: options.input ? `${SANDBOX_IN}/${INPUT_FILE}` : undefined,
        paramsJson: options.paramsJson ?? '{}',
      });
      timer = setTimeout(() => void child?.kill('timeout'), limits.timeoutMs);
      options.onDispatch?.(child);
      runner.validator.warm(); // loads while the step runs, ready for its output
    } else if (!child.killedFor) {
      // Not dispatched: no user code ran. classify() reports why (sandbox_error).
      await child.kill('startup');
    }

    const exit = await child.process.exited;
    const endedAt = performance.now();
    clearTimeout(timer);
    await Promise.all([child.channel.closed, child.outputDone]);
    stats = await child.process.finish();

    let childResult: ChildResult | null = null;
    let channelProblem = child.channel.problem;
    if (!channelProblem && child.channel.result) {
      try {
        childResult = checkResult(child.channel.result, runId);
      } catch (error) {
        channelProblem = `the result message is invalid: ${(error as Error).message}`;
      }
    }
    const logs = child.logs.text();
    const killedBySelf = child.killedFor !== null && !exit.signal && exit.exitCode === null;
    const facts = {
      exit: killedBySelf ? { ...exit, signal: 'SIGKILL' } : exit,
      killedFor: child.killedFor === 'startup' ? null : child.killedFor,
      // Dispatch happens only after the child said ready: before that no user code ran.
      wasReady: child.dispatchedAt !== null,
      startupStalled: start === 'stalled' ? `it did not say ready within ${STARTUP_TIMEOUT_MS} ms (${hostLoad()})` : null,
      pidsLimitHits: stats?.pidsLimitHits ?? 0,
      maxProcesses: limits.maxProcesses,
      oomKills: stats?.oomKills ?? 0,
      timeoutMs: limits.timeoutMs,
      memoryMiB: limits.memoryMiB,
      maxOutputBytes: limits.maxOutputBytes,
      channelProblem,
      child: childResult,
      outputProblem: null as string | null,
      sandboxMessages: sandboxMessages(logs),
    };
    let verdict = classify(facts);
    if (verdict.outcome === 'ok' && childResult) {
      try {
        const summary = await inspectOutput(child.dir.outputFile, childResult.wroteOutput, limits.maxOutputBytes, runner.config.validation, runner.validator);
        if (summary) {
          if (options.output) handBack(child.dir.outputFile, options.output, runId);
          result.output = { path: options.output ?? null, rows: summary.rows, columns: summary.columns };
        }
      } catch (error) {
        facts.outputProblem = error instanceof InvalidOutput ? error.message : `the output could not be handed back: ${(error as Error).message}`;
        verdict = classify(facts);
      }
    }
    if (result.error && verdict.outcome === 'sandbox_error') verdict = { outcome: 'sandbox_error', error: result.error };

    Object.assign(result, {
      outcome: verdict.outcome,
      error: verdict.error,
      exitCode: facts.exit.exitCode,
      signal: facts.exit.signal,
      durationMs: Math.round((endedAt - (child.dispatchedAt ?? child.spawnedAt)) * 100) / 100,
      peakMemoryBytes: stats?.peakMemoryBytes ?? null,
      cpuSeconds: stats?.cpuSeconds ?? null,
      logs,
      logsDroppedBytes: child.logs.droppedBytes,
      json: verdict.outcome === 'ok' ? (childResult?.json ?? null) : null,
      errors: childResult?.errors ?? [],
      stack: verdict.outcome === 'step_error' ? (childResult?.error?.stack ?? null) : null,
    });
    if (verdict.outcome !== 'ok') result.output = null;
    return result;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    const last = child;
    if (last) {
      last.finished();
      runner.defer(() => last.cleanUp());
    }
  }
}
