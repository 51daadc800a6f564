// Runs and workflows for the daemon: every caller's mistake (unknown step, bad input,
// params too large, a full queue) is found before anything starts; then the run waits
// for admission, takes a warm child, and goes through runStep like any other run. One
// log line and one metrics update per run.
import { join } from 'node:path';
import type { Config, Limits } from '../config/config-schema.js';
import { limitCeilings, limitsAboveCeilings } from '../config/load.js';
import { isRendererError, RendererError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { StartHealth } from './start-health.js';
import { INLINE_STEP, type Metrics } from '../observability/metrics.js';
import { OutcomeTimeline } from '../observability/timeline.js';
import { sampleWhileRunning, type UsagePeaks } from '../observability/usage.js';
import type { Admission } from '../pool/admission.js';
import type { WarmPool } from '../pool/warm-pool.js';
import { RawJson } from '../store/raw-json.js';
import { emptyResult, runStep, type RunStepOptions } from '../run/run-step.js';
import type { Runner } from '../run/runner.js';
import { ensurePrivateDir } from '../state-dir.js';
import type { References, InputRef, StepRef } from './references.js';
import type { CallbackState } from '../store/record-store.js';
import type { RunRecord, RunRegistry, WorkflowRecord } from './run-registry.js';

export interface RunRequest {
  step: StepRef;
  params?: unknown;
  input?: InputRef;
  timeoutMs?: number;
  memoryMiB?: number;
}

interface Resolved {
  label: string;
  step: RunStepOptions['step'];
  input: string | null;
  paramsJson: string;
  limits: Limits;
}

/** What a caller adds to a run besides the request itself. */
export interface SubmitOptions {
  /** Checked by the caller (http/callbacks.ts) before it gets here. */
  callback?: CallbackState | null;
  /** The HTTP request that asked for it, for the run's log line. */
  requestId?: string | null;
}

export interface WorkflowResult {
  outcome: string;
  steps: RunRecord[];
}

export class Executor {
  readonly outputsDir: string;

  constructor(
    private readonly runner: Runner,
    private readonly config: Readonly<Config>,
    private readonly pool: WarmPool | null,
    readonly admission: Admission,
    readonly registry: RunRegistry,
    readonly references: References,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    readonly timeline = new OutcomeTimeline(),
    readonly startHealth = new StartHealth(),
  ) {
    this.outputsDir = ensurePrivateDir(join(runner.stateDir, 'outputs'));
  }

  /** Checks a request and resolves what it names; throws 4xx RendererErrors. */
  resolve(request: RunRequest, input?: string | null): Resolved {
    const step: RunStepOptions['step'] = 'name' in request.step ? { path: this.references.stepFile(request.step.name) } : { code: request.step.code };
    const above = limitsAboveCeilings(request, limitCeilings(this.config.limits));
    if (above.length > 0) throw new RendererError('RENDERER_ERR_LIMIT_ABOVE_CEILING', above.join('; '));
    const paramsJson = JSON.stringify(request.params ?? {});
    if (Buffer.byteLength(paramsJson) > this.config.limits.maxParamsBytes)
      throw new RendererError('RENDERER_ERR_PARAMS_INVALID', `params take ${Buffer.byteLength(paramsJson)} bytes as JSON; the limit is ${this.config.limits.maxParamsBytes}`);
    return {
      label: 'name' in request.step ? request.step.name : INLINE_STEP,
      step,
      input: input !== undefined ? input : this.references.input(request.input ?? null),
      paramsJson,
      limits: this.runner.limits({ timeoutMs: request.timeoutMs, memoryMiB: request.memoryMiB }),
    };
  }

  /** Starts a run in the background (after admission); throws before creating it if
   * the request is bad or the queue is full. */
  submit(request: RunRequest, options: SubmitOptions = {}): RunRecord {
    const resolved = this.resolve(request);
    this.admission.check();
    const record = this.registry.create(resolved.label, { callback: options.callback ?? null });
    void this.execute(record, resolved, options.requestId ?? null);
    return record;
  }

  cancel(record: RunRecord | WorkflowRecord): void {
    record.abort.abort();
  }

  private async execute(record: RunRecord, resolved: Resolved, requestId: string | null): Promise<void> {
    // The request that asked for it, in every line about it (when there was one).
    const log = requestId ? this.log.child({ reqId: requestId }) : this.log;
    let release: (() => void) | null = null;
    try {
      release = await this.admission.enter(record.abort.signal);
    } catch (error) {
      record.state = 'canceled';
      record.endedAt = Date.now();
      if (isRendererError(error)) record.error = { code: error.code, message: error.message };
      record.result = { ...emptyResult(record.runId), outcome: 'canceled', error: isRendererError(error) ? error.message : 'the run was canceled while queued' };
      this.metrics.runFinished(record.step, record.result);
      this.timeline.record('canceled');
      log.info({ runId: record.runId, step: record.step, outcome: 'canceled', reason: record.result.error }, 'run not started');
      this.registry.finish(record);
      return;
    }
    record.state = 'running';
    record.startedAt = Date.now();
    this.registry.save(record);
    // Stopped whatever happens (a sampler left running would hold the child), and its
    // peaks logged as null when nothing was sampled, never as measured zeros.
    let sampler: ReturnType<typeof sampleWhileRunning> | null = null;
    const stopSampler = (): UsagePeaks => {
      const peaks = (sampler as ReturnType<typeof sampleWhileRunning> | null)?.stop() ?? { maxCpuPercent: null, maxRssBytes: null };
      sampler = null;
      return peaks;
    };
    const output = join(this.outputsDir, `${record.runId}.arrow`);
    try {
      const result = await runStep(this.runner, {
        runId: record.runId,
        step: resolved.step,
        input: resolved.input,
        output,
        paramsJson: resolved.paramsJson,
        limits: resolved.limits,
        signal: record.abort.signal,
        acquireChild: (limits) => (this.pool ? this.pool.acquire(limits) : this.runner.spawnChild(limits)),
        onDispatch: (child) => {
          record.child = child;
          sampler = sampleWhileRunning(child);
        },
      });
      const peaks = stopSampler();
      // Kept as text, not objects: http/raw-json.ts.
      record.result = { ...result, json: result.json === null ? null : RawJson.of(result.json) };
      record.outputFile = result.output ? output : null;
      record.state = result.outcome === 'canceled' ? 'canceled' : 'done';
      this.metrics.runFinished(record.step, result);
      this.timeline.record(result.outcome);
      this.startHealth.record(result.outcome !== 'sandbox_error', result.error);
      log.info(
        {
          runId: record.runId,
          step: record.step,
          outcome: result.outcome,
          exitCode: result.exitCode,
          signal: result.signal,
          durationMs: result.durationMs,
          peakMemoryBytes: result.peakMemoryBytes,
          cpuSeconds: result.cpuSeconds,
          maxCpuPercent: peaks.maxCpuPercent,
          maxRssBytes: peaks.maxRssBytes,
          ...(result.outcome === 'ok' ? {} : { error: result.error }),
        },
        'run finished',
      );
    } catch (error) {
      // runStep reports every failure of a step as a result; reaching here is our bug.
      log.error({ runId: record.runId, err: error }, 'internal error running a step');
      record.result = { ...emptyResult(record.runId), outcome: 'sandbox_error', error: `internal error: ${(error as Error).message}` };
      record.state = 'done';
    } finally {
      stopSampler();
      record.child = null;
      record.endedAt = Date.now();
      release();
      this.registry.finish(record);
    }
  }

  /**
   * Starts a workflow in the background: steps in order, each output the next input,
   * stopping at the first outcome not ok (or a cancel). Every step and the input are
   * checked before anything starts; throws 4xx RendererErrors, or QUEUE_FULL.
   */
  startWorkflow(steps: RunRequest[], input: InputRef, options: SubmitOptions = {}): WorkflowRecord {
    const resolved = steps.map((step) => this.resolve(step, null));
    const first = this.references.input(input);
    this.admission.check();
    const workflow = this.registry.createWorkflow(steps.length, options.callback ?? null);
    void this.runWorkflow(workflow, resolved, first, options.requestId ?? null);
    return workflow;
  }

  /** The workflow to its end (the scheduler's way). */
  async workflow(steps: RunRequest[], input: InputRef): Promise<WorkflowResult> {
    const workflow = this.startWorkflow(steps, input);
    await workflow.done;
    return { outcome: workflow.outcome ?? 'canceled', steps: workflow.runs };
  }

  private async runWorkflow(workflow: WorkflowRecord, steps: Resolved[], input: string | null, requestId: string | null): Promise<void> {
    let current = input;
    workflow.state = 'running';
    this.registry.saveWorkflow(workflow);
    try {
      for (const step of steps) {
        if (workflow.abort.signal.aborted) break;
        const record = this.registry.create(step.label, { workflowId: workflow.workflowId });
        workflow.runs.push(record);
        workflow.runIds.push(record.runId);
        this.registry.saveWorkflow(workflow);
        // Canceling the workflow cancels the step it is on.
        const cancelStep = (): void => record.abort.abort();
        workflow.abort.signal.addEventListener('abort', cancelStep);
        try {
          await this.execute(record, { ...step, input: current }, requestId);
        } finally {
          workflow.abort.signal.removeEventListener('abort', cancelStep);
        }
        if (record.result?.outcome !== 'ok') break;
        current = record.outputFile;
      }
    } finally {
      const last = workflow.runs[workflow.runs.length - 1];
      const outcome = last?.result?.outcome ?? 'canceled';
      // Canceled between two steps: the last one was ok, the workflow was not finished.
      workflow.outcome = workflow.abort.signal.aborted && outcome === 'ok' && workflow.runs.length < workflow.stepCount ? 'canceled' : outcome;
      workflow.state = workflow.outcome === 'canceled' ? 'canceled' : 'done';
      workflow.endedAt = Date.now();
      this.registry.finishWorkflow(workflow);
    }
  }
}
