// Runs and workflows.
import type { FastifyInstance } from 'fastify';
import { createReadStream, statSync } from 'node:fs';
import { RendererError } from '../../errors.js';
import type { Daemon } from '../../daemon/daemon.js';
import type { RunRequest } from '../../daemon/executor.js';
import type { InputRef } from '../../daemon/references.js';
import type { RunRecord } from '../../daemon/run-registry.js';
import { sampleUsage } from '../../observability/usage.js';
import { presentResult, presentRun } from '../present.js';
import { LIST_QUERY, RUN_BODY, RUN_QUERY, WORKFLOW_BODY } from '../schemas.js';
import { ARROW_FILE, parse } from '../server.js';

function findRun(daemon: Daemon, runId: string): RunRecord {
  const record = daemon.executor.registry.get(runId);
  if (!record) throw new RendererError('RENDERER_ERR_HTTP_NOT_FOUND', `no run with id ${JSON.stringify(runId)} (unknown, or forgotten after the run history limit)`);
  return record;
}

/** A run that could not start (its queue deadline passed) answers with that error. */
function notStarted(record: RunRecord): RendererError | null {
  return record.startedAt === null && record.error ? record.error : null;
}

export function registerRunRoutes(app: FastifyInstance, daemon: Daemon): void {
  const { executor } = daemon;

  app.post('/v1/runs', async (request, reply) => {
    const query = parse<{ wait: 'true' | 'false' }>(RUN_QUERY, request.query, 'query');
    const body = parse<RunRequest>(RUN_BODY, request.body, 'body');
    const record = executor.submit(body);
    if (query.wait === 'false') return reply.code(202).send({ runId: record.runId, state: record.state, url: `/v1/runs/${record.runId}` });
    await record.done;
    const error = notStarted(record);
    if (error) throw error;
    return presentResult(record);
  });

  app.get('/v1/runs', async (request) => {
    const { limit } = parse<{ limit: string }>(LIST_QUERY, request.query, 'query');
    return { runs: executor.registry.recent(Number(limit)).map((record) => presentRun(record)) };
  });

  app.get<{ Params: { runId: string } }>('/v1/runs/:runId', async (request) => {
    const record = findRun(daemon, request.params.runId);
    const usage = record.child && record.state === 'running' ? await sampleUsage(record.child) : null;
    return presentRun(record, usage);
  });

  app.get<{ Params: { runId: string } }>('/v1/runs/:runId/output', async (request, reply) => {
    const record = findRun(daemon, request.params.runId);
    if (record.state === 'queued' || record.state === 'running')
      throw new RendererError('RENDERER_ERR_HTTP_CONFLICT', `run ${record.runId} is still ${record.state}`);
    if (!record.outputFile) throw new RendererError('RENDERER_ERR_HTTP_NOT_FOUND', `run ${record.runId} has no output table (outcome ${record.result?.outcome})`);
    reply.header('content-type', ARROW_FILE);
    reply.header('content-length', String(statSync(record.outputFile).size));
    reply.header('content-disposition', `attachment; filename="${record.runId}.arrow"`);
    return reply.send(createReadStream(record.outputFile));
  });

  app.delete<{ Params: { runId: string } }>('/v1/runs/:runId', async (request) => {
    const record = findRun(daemon, request.params.runId);
    if (record.state === 'done' || record.state === 'canceled')
      throw new RendererError('RENDERER_ERR_HTTP_CONFLICT', `run ${record.runId} already ended (${record.state})`);
    executor.cancel(record);
    await record.done;
    return presentRun(record);
  });

  app.post('/v1/workflows/run', async (request) => {
    const body = parse<{ steps: RunRequest[]; input: InputRef }>(WORKFLOW_BODY, request.body, 'body');
    const result = await executor.workflow(body.steps, body.input);
    const first = result.steps[0];
    const error = first ? notStarted(first) : null;
    if (error && result.steps.length === 1) throw error;
    return { outcome: result.outcome, steps: result.steps.map((record) => ({ runId: record.runId, ...presentResult(record) })) };
  });

  app.get('/v1/steps', async () => ({ steps: executor.references.stepNames() }));
}
