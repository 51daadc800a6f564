// Runs: submit (synchronously or not), read (long-polling if asked), list, cancel, and
// read the output table.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createReadStream, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RendererError } from '../../errors.js';
import type { Daemon } from '../../daemon/daemon.js';
import type { RunRequest } from '../../daemon/executor.js';
import type { RunRecord } from '../../daemon/run-registry.js';
import { sampleUsage } from '../../observability/usage.js';
import type { RunFilter, RunView } from '../../store/record-store.js';
import type { Callbacks } from '../callbacks.js';
import { idempotencyKey, requestHash, type IdempotencyKeys } from '../idempotency.js';
import { presentResult, presentRun, runUrl } from '../present.js';
import { GET_QUERY, LIST_QUERY, RUN_BODY, RUN_QUERY } from '../schemas.js';
import { ARROW_FILE, parse } from '../server.js';

export interface RouteDeps {
  callbacks: Callbacks;
  idempotency: IdempotencyKeys;
}

export function findRun(daemon: Daemon, runId: string): RunView {
  const record = daemon.executor.registry.get(runId);
  if (!record)
    throw new RendererError('RENDERER_ERR_HTTP_NOT_FOUND', `no run with id ${JSON.stringify(runId)}: it never existed on this renderer, or retention removed it (server.runHistory ${daemon.config.server.runHistory} runs, server.runHistoryMaxAgeSeconds ${daemon.config.server.runHistoryMaxAgeSeconds})`);
  return record;
}

/** A run that could not start (its queue deadline passed) answers with that error. */
export function notStarted(record: RunView): RendererError | null {
  return record.startedAt === null && record.error ? new RendererError(record.error.code, record.error.message) : null;
}

/**
 * Waits for a live run or workflow to end, at most `ms`; returns early when the client
 * hangs up (nobody is left to answer).
 */
export async function waitAtMost(done: Promise<void> | undefined, ms: number, reply: FastifyReply): Promise<void> {
  if (!done || ms <= 0) return;
  const gone = new AbortController();
  const hangUp = (): void => gone.abort();
  reply.raw.once('close', hangUp);
  try {
    await Promise.race([done, sleep(ms, undefined, { signal: gone.signal }).catch(() => undefined)]);
  } finally {
    gone.abort();
    reply.raw.off('close', hangUp);
  }
}

/**
 * A synchronous caller waits for its run. If it hangs up first, `server.onClientDisconnect`
 * decides: `cancel` (the default: nobody will read the result, stop spending on it) or
 * `keep` (the run finishes and is recorded; a retry with the same Idempotency-Key, or
 * GET /v1/runs, finds it).
 */
export async function awaitForCaller(daemon: Daemon, request: FastifyRequest, reply: FastifyReply, live: { done: Promise<void>; abort: AbortController }, what: string): Promise<void> {
  const hangUp = (): void => {
    if (reply.raw.writableEnded) return;
    if (daemon.config.server.onClientDisconnect === 'cancel') {
      request.log.info(`the client hung up before the ${what} ended: canceling it (server.onClientDisconnect)`);
      live.abort.abort();
    } else request.log.info(`the client hung up before the ${what} ended: it goes on (server.onClientDisconnect keep)`);
  };
  reply.raw.once('close', hangUp);
  try {
    await live.done;
  } finally {
    reply.raw.off('close', hangUp);
  }
}

export function registerRunRoutes(app: FastifyInstance, daemon: Daemon, deps: RouteDeps): void {
  const { executor } = daemon;
  const { registry } = executor;

  /** The answer to a POST: the run's result when waited for, else 202 with its id. */
  async function answer(request: FastifyRequest, reply: FastifyReply, run: RunView, wait: boolean, replayed: boolean) {
    reply.header('x-run-id', run.runId);
    if (replayed) reply.header('idempotent-replayed', 'true');
    if (!wait) return reply.code(202).send({ runId: run.runId, state: run.state, url: runUrl(run.runId) });
    const live = registry.live(run.runId);
    if (live) await awaitForCaller(daemon, request, reply, live, 'run');
    const ended = registry.get(run.runId) ?? run;
    const error = notStarted(ended);
    if (error) throw error;
    return presentResult(ended);
  }

  app.post('/v1/runs', async (request, reply) => {
    const query = parse<{ wait: 'true' | 'false' }>(RUN_QUERY, request.query, 'query');
    const body = parse<RunRequest & { callbackUrl?: string }>(RUN_BODY, request.body, 'body');
    const wait = query.wait !== 'false';
    const key = idempotencyKey(request.headers['idempotency-key']);
    const hash = key === null ? '' : requestHash(body);
    if (key !== null) {
      const first = deps.idempotency.replayOf('runs', key, hash);
      const run = first === null ? null : registry.get(first);
      if (run) return answer(request, reply, run, wait, true);
    }
    const { callbackUrl, ...run } = body;
    const record: RunRecord = executor.submit(run, { callback: deps.callbacks.accept(callbackUrl), requestId: request.id });
    if (key !== null) deps.idempotency.remember('runs', key, hash, record.runId);
    if (record.callback) void record.done.then(() => deps.callbacks.runEnded(record.runId));
    return answer(request, reply, record, wait, false);
  });

  app.get('/v1/runs', async (request) => {
    const query = parse<Omit<RunFilter, 'limit'> & { limit: string }>(LIST_QUERY, request.query, 'query');
    const page = registry.list({ ...query, limit: Number(query.limit) });
    return { runs: page.runs.map((run) => presentRun(run)), nextCursor: page.nextCursor };
  });

  app.get<{ Params: { runId: string } }>('/v1/runs/:runId', async (request, reply) => {
    const { waitMs } = parse<{ waitMs: string }>(GET_QUERY, request.query, 'query');
    const found = findRun(daemon, request.params.runId);
    await waitAtMost(registry.live(found.runId)?.done, Number(waitMs), reply);
    const run = registry.live(found.runId) ?? registry.get(found.runId) ?? found;
    const live = registry.live(run.runId);
    const usage = live?.child && live.state === 'running' ? await sampleUsage(live.child) : null;
    return presentRun(run, usage);
  });

  app.get<{ Params: { runId: string } }>('/v1/runs/:runId/output', async (request, reply) => {
    const run = findRun(daemon, request.params.runId);
    if (run.state === 'queued' || run.state === 'running') throw new RendererError('RENDERER_ERR_HTTP_CONFLICT', `run ${run.runId} is still ${run.state}`);
    if (!run.outputFile) throw new RendererError('RENDERER_ERR_HTTP_NOT_FOUND', `run ${run.runId} has no output table (outcome ${run.result?.outcome})`);
    let size: number;
    try {
      size = statSync(run.outputFile).size;
    } catch {
      throw new RendererError('RENDERER_ERR_HTTP_NOT_FOUND', `run ${run.runId}'s output table was removed by retention`);
    }
    reply.header('content-type', ARROW_FILE);
    reply.header('content-length', String(size));
    reply.header('content-disposition', `attachment; filename="${run.runId}.arrow"`);
    return reply.send(createReadStream(run.outputFile));
  });

  app.delete<{ Params: { runId: string } }>('/v1/runs/:runId', async (request) => {
    const run = findRun(daemon, request.params.runId);
    const live = registry.live(run.runId);
    if (!live) throw new RendererError('RENDERER_ERR_HTTP_CONFLICT', `run ${run.runId} already ended (${run.state})`);
    executor.cancel(live);
    await live.done;
    return presentRun(registry.get(run.runId) ?? live);
  });

  app.get('/v1/steps', async () => ({ steps: executor.references.stepNames() }));
}
