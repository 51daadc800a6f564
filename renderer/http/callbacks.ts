// Completion callbacks: when a run or workflow that asked for one (`callbackUrl`) ends,
// its record (the body of GET /v1/runs/{id} or /v1/workflows/{id}) is POSTed there,
// signed, and retried with exponential backoff until a 2xx or `callbacks.maxAttempts`.
// Delivery state is on the record and in the store, so a restart resumes what was pending.
//
// The URL is the caller's, the request is the renderer's: without a check any API caller
// could make the renderer POST to internal services (SSRF). So only URLs under one of the
// operator's `callbacks.allowedUrlPrefixes` are accepted (same origin exactly, path under
// the prefix's after normalisation, no credentials), redirects are never followed, and
// each attempt has a deadline.
import { createHmac } from 'node:crypto';
import type { CallbackConfig } from '../config/config-schema.js';
import { RendererError } from '../errors.js';
import type { RunRegistry } from '../daemon/run-registry.js';
import type { Logger } from '../observability/logger.js';
import type { CallbackState, RunView, WorkflowView } from '../store/record-store.js';
import { presentRun, presentWorkflow } from './present.js';
import { stringifyJson } from '../store/raw-json.js';

/** Backoff between attempts: initialDelayMs, doubled each time, at most this. */
const MAX_DELAY_MS = 10 * 60_000;

/**
 * The signature a receiver checks: HMAC-SHA256 over "<unix seconds>.<body>" with the
 * shared secret, sent as `Renderer-Signature: t=<unix seconds>,v1=<hex>`. The time is
 * signed too, so a receiver can refuse replays of old deliveries.
 */
export function signBody(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

function underPrefix(url: URL, prefix: URL): boolean {
  if (url.origin !== prefix.origin) return false;
  const base = prefix.pathname.endsWith('/') ? prefix.pathname : `${prefix.pathname}/`;
  return url.pathname === prefix.pathname || url.pathname.startsWith(base);
}

export class Callbacks {
  private readonly prefixes: URL[];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  private closed = false;

  constructor(
    private readonly config: CallbackConfig,
    private readonly registry: RunRegistry,
    private readonly log: Logger,
  ) {
    this.prefixes = config.allowedUrlPrefixes.map((prefix) => new URL(prefix));
  }

  /** The initial delivery state for a requested URL; a URL not allowed is a 422. */
  accept(url: string | undefined): CallbackState | null {
    if (url === undefined) return null;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new RendererError('RENDERER_ERR_CALLBACK_URL_NOT_ALLOWED', `callbackUrl ${JSON.stringify(url.slice(0, 200))} is not a URL`);
    }
    if (this.prefixes.length === 0)
      throw new RendererError('RENDERER_ERR_CALLBACK_URL_NOT_ALLOWED', 'this renderer allows no callback URLs (callbacks.allowedUrlPrefixes is empty)');
    const allowed = (parsed.protocol === 'http:' || parsed.protocol === 'https:') && !parsed.username && !parsed.password && this.prefixes.some((prefix) => underPrefix(parsed, prefix));
    if (!allowed) throw new RendererError('RENDERER_ERR_CALLBACK_URL_NOT_ALLOWED', `callbackUrl ${JSON.stringify(parsed.href.slice(0, 200))} is not under any of callbacks.allowedUrlPrefixes`);
    return { url: parsed.href, state: 'pending', attempts: 0, lastError: null, deliveredAt: null };
  }

  runEnded(runId: string): void {
    this.schedule('run', runId, 0);
  }

  workflowEnded(workflowId: string): void {
    this.schedule('workflow', workflowId, 0);
  }

  /** At start-up: deliveries a previous daemon left pending. */
  resume(): number {
    const { runs, workflows } = this.registry.store.pendingCallbacks();
    for (const run of runs) this.schedule('run', run.runId, this.config.initialDelayMs);
    for (const workflow of workflows) this.schedule('workflow', workflow.workflowId, this.config.initialDelayMs);
    return runs.length + workflows.length;
  }

  /** Stops delivering; what is pending stays pending in the store for the next start. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const controller of this.inFlight) controller.abort();
  }

  private schedule(kind: 'run' | 'workflow', id: string, delayMs: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(kind, id);
    }, delayMs);
    this.timers.add(timer);
  }

  private view(kind: 'run' | 'workflow', id: string): RunView | WorkflowView | null {
    return kind === 'run' ? this.registry.get(id) : this.registry.getWorkflow(id);
  }

  private present(view: RunView | WorkflowView): unknown {
    if ('runId' in view) return presentRun(view);
    return presentWorkflow(view, view.runIds.map((runId) => this.registry.get(runId)));
  }

  private save(view: RunView | WorkflowView): void {
    if ('runId' in view) this.registry.save(view);
    else this.registry.saveWorkflow(view);
  }

  private async attempt(kind: 'run' | 'workflow', id: string): Promise<void> {
    // One id per event, the same in every attempt and after a restart: receivers
    // de-duplicate on it (delivery is at least once).
    const deliveryId = `${kind}-${id}`;
    const view = this.view(kind, id);
    const callback = view?.callback;
    if (!view || !callback || callback.state !== 'pending' || this.closed) return;
    const body = stringifyJson({ event: `${kind}.ended`, deliveryId, [kind]: this.present(view) });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.config.timeoutMs);
    this.inFlight.add(controller);
    let problem: string | null = null;
    try {
      const response = await fetch(callback.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: controller.signal,
        headers: {
          'content-type': 'application/json',
          'renderer-event': `${kind}.ended`,
          'renderer-delivery': deliveryId,
          'renderer-signature': signBody(this.config.secret ?? '', body, Math.floor(Date.now() / 1000)),
        },
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.status < 200 || response.status > 299) problem = `the receiver answered ${response.status}`;
    } catch (error) {
      const cause = (error as Error).cause;
      problem = controller.signal.aborted
        ? this.closed
          ? 'the renderer stopped'
          : `no answer within ${this.config.timeoutMs} ms`
        : `the request failed: ${cause instanceof Error ? cause.message : (error as Error).message}`;
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
    // Stopping: the store may be closing. Still pending, so resumed at the next start
    // (delivered twice at worst: receivers de-duplicate on Renderer-Delivery).
    if (this.closed) return;
    const attempts = callback.attempts + 1;
    const next: CallbackState =
      problem === null
        ? { ...callback, state: 'delivered', attempts, lastError: null, deliveredAt: new Date().toISOString() }
        : { ...callback, state: attempts >= this.config.maxAttempts ? 'failed' : 'pending', attempts, lastError: problem };
    // Written on the stored record, re-read: it may have changed while we waited.
    const current = this.view(kind, id);
    if (!current) return;
    current.callback = next;
    this.save(current);
    if (next.state === 'pending') this.schedule(kind, id, Math.min(MAX_DELAY_MS, this.config.initialDelayMs * 2 ** (attempts - 1)));
    else if (next.state === 'failed') {
      // Not the whole URL: its query may carry the receiver's own token.
      const url = new URL(next.url);
      this.log.warn({ [`${kind}Id`]: id, url: `${url.origin}${url.pathname}`, attempts, error: problem }, 'callback not delivered: giving up');
    }
  }
}
