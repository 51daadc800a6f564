// Workflows: steps in order, each output the next input. Synchronous by default (the
// contract's answer: the outcome and every step's result); `?wait=false` answers 202 with
// a workflow id to poll (long-polling with ?waitMs) or cancel.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RendererError } from '../../errors.js';
import type { Daemon } from '../../daemon/daemon.js';
import type { RunRequest } from '../../daemon/executor.js';
import type { InputRef } from '../../daemon/references.js';
import type { WorkflowView } from '../../store/record-store.js';
import { idempotencyKey, requestHash } from '../idempotency.js';
import { presentResult, presentWorkflow, workflowUrl } from '../present.js';
import { GET_QUERY, RUN_QUERY, WORKFLOW_BODY } from '../schemas.js';
import { parse } from '../server.js';
import { awaitForCaller, notStarted, waitAtMost, type RouteDeps } from './runs.js';

type WorkflowBody = { steps: RunRequest[]; input: InputRef; callbackUrl?: string };

export function registerWorkflowRoutes(app: FastifyInstance, daemon: Daemon, deps: RouteDeps): void {
  const { executor } = daemon;
  const { registry } = executor;

  const find = (workflowId: string): WorkflowView => {
    const workflow = registry.getWorkflow(workflowId);
    if (!workflow)
      throw new RendererError('RENDERER_ERR_HTTP_NOT_FOUND', `no workflow with id ${JSON.stringify(workflowId)}: it never existed on this renderer, or retention removed it`);
    return workflow;
  };
  const present = (workflow: WorkflowView) => presentWorkflow(workflow, workflow.runIds.map((runId) => registry.get(runId)));

  async function answer(request: FastifyRequest, reply: FastifyReply, workflow: WorkflowView, wait: boolean, replayed: boolean) {
    reply.header('x-workflow-id', workflow.workflowId);
    if (replayed) reply.header('idempotent-replayed', 'true');
    if (!wait) return reply.code(202).send({ workflowId: workflow.workflowId, state: workflow.state, url: workflowUrl(workflow.workflowId) });
    const live = registry.liveWorkflow(workflow.workflowId);
    if (live) await awaitForCaller(daemon, request, reply, live, 'workflow');
    const ended = registry.getWorkflow(workflow.workflowId) ?? workflow;
    const steps = ended.runIds.map((runId) => registry.get(runId));
    // A workflow whose one step never started answers as that step's refusal would.
    const first = steps[0];
    const error = first && steps.length === 1 ? notStarted(first) : null;
    if (error) throw error;
    return {
      workflowId: ended.workflowId,
      outcome: ended.outcome,
      steps: steps.map((run, i) => (run ? { runId: run.runId, ...presentResult(run) } : { runId: ended.runIds[i]!, state: 'forgotten' })),
    };
  }

  app.post('/v1/workflows/run', async (request, reply) => {
    const query = parse<{ wait: 'true' | 'false' }>(RUN_QUERY, request.query, 'query');
    const body = parse<WorkflowBody>(WORKFLOW_BODY, request.body, 'body');
    const wait = query.wait !== 'false';
    const key = idempotencyKey(request.headers['idempotency-key']);
    const hash = key === null ? '' : requestHash(body);
    if (key !== null) {
      const first = deps.idempotency.replayOf('workflows', key, hash);
      const workflow = first === null ? null : registry.getWorkflow(first);
      if (workflow) return answer(request, reply, workflow, wait, true);
    }
    const workflow = executor.startWorkflow(body.steps, body.input, { callback: deps.callbacks.accept(body.callbackUrl), requestId: request.id });
    if (key !== null) deps.idempotency.remember('workflows', key, hash, workflow.workflowId);
    if (workflow.callback) void workflow.done.then(() => deps.callbacks.workflowEnded(workflow.workflowId));
    return answer(request, reply, workflow, wait, false);
  });

  app.get<{ Params: { workflowId: string } }>('/v1/workflows/:workflowId', async (request, reply) => {
    const { waitMs } = parse<{ waitMs: string }>(GET_QUERY, request.query, 'query');
    const found = find(request.params.workflowId);
    await waitAtMost(registry.liveWorkflow(found.workflowId)?.done, Number(waitMs), reply);
    return present(registry.getWorkflow(found.workflowId) ?? found);
  });

  app.delete<{ Params: { workflowId: string } }>('/v1/workflows/:workflowId', async (request) => {
    const found = find(request.params.workflowId);
    const live = registry.liveWorkflow(found.workflowId);
    if (!live) throw new RendererError('RENDERER_ERR_HTTP_CONFLICT', `workflow ${found.workflowId} already ended (${found.state})`);
    executor.cancel(live);
    await live.done;
    return present(registry.getWorkflow(found.workflowId) ?? live);
  });
}
