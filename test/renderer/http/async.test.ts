// Issue 15: what an engine builds on. Async workflows with ids, long-polling, retries made
// safe by Idempotency-Key, run lists with cursors and filters, and what happens to a
// synchronous run whose caller hangs up.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isRoot, startDaemon, waitFor } from '../../helpers.js';

const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const sleeper = (ms: number) => ({ code: `export async function render() { await new Promise((r) => setTimeout(r, ${ms})); return { json: ${ms} }; }` });
const SUM = { step: { name: 'example-sum' }, input: { path: 'sample.arrow' } };

describe('async workflows, long-polling, idempotency, lists', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  before(async () => (d = await startDaemon({ pool: { size: 1 } })));
  after(() => d.stop());

  it('POST /v1/workflows/run?wait=false answers 202 with an id; GET long-polls it to its end', async () => {
    const started = await d.inject({ method: 'POST', url: '/v1/workflows/run?wait=false', ...json({ steps: [{ step: sleeper(300) }, { step: { name: 'example-sum' } }], input: null }) });
    assert.equal(started.statusCode, 202, started.body);
    const { workflowId, url } = started.json();
    assert.match(workflowId, /^[0-9a-f-]{36}$/);
    assert.equal(url, `/v1/workflows/${workflowId}`);
    const polled = await d.inject({ url: `${url}?waitMs=60000` });
    assert.equal(polled.statusCode, 200);
    const workflow = polled.json();
    assert.equal(workflow.state, 'done');
    assert.equal(workflow.stepCount, 2);
    assert.equal(workflow.steps.length, 2);
    assert.equal(workflow.steps[0].outcome, 'ok');
    assert.equal(workflow.steps[0].json, 300);
    // The runs know their workflow, and the list filters by it.
    const runs = (await d.inject({ url: `/v1/runs?workflowId=${workflowId}` })).json().runs;
    assert.deepEqual(runs.map((r: { runId: string }) => r.runId).reverse(), workflow.steps.map((s: { runId: string }) => s.runId));
  });

  it('DELETE /v1/workflows/{id} cancels the step it is on and runs no more; a second DELETE is a 409', async () => {
    const started = await d.inject({ method: 'POST', url: '/v1/workflows/run?wait=false', ...json({ steps: [{ step: sleeper(30_000) }, { step: { name: 'example-sum' } }] }) });
    const { workflowId } = started.json();
    await waitFor(async () => (await d.inject({ url: `/v1/workflows/${workflowId}` })).json().steps[0]?.state === 'running', 20_000, 'the first step to run');
    const canceled = await d.inject({ method: 'DELETE', url: `/v1/workflows/${workflowId}` });
    assert.equal(canceled.statusCode, 200, canceled.body);
    assert.equal(canceled.json().state, 'canceled');
    assert.equal(canceled.json().outcome, 'canceled');
    assert.equal(canceled.json().steps.length, 1, 'the second step never started');
    assert.equal((await d.inject({ method: 'DELETE', url: `/v1/workflows/${workflowId}` })).statusCode, 409);
    assert.equal((await d.inject({ url: '/v1/workflows/no-such-id' })).statusCode, 404);
  });

  it('GET /v1/runs/{id}?waitMs answers when the run ends, and at the deadline if it has not', async () => {
    const { runId } = (await d.inject({ method: 'POST', url: '/v1/runs?wait=false', ...json({ step: sleeper(1500) }) })).json();
    const early = await d.inject({ url: `/v1/runs/${runId}?waitMs=1` });
    assert.ok(['queued', 'running'].includes(early.json().state), 'a tiny wait answers before the end');
    const ended = await d.inject({ url: `/v1/runs/${runId}?waitMs=60000` });
    assert.equal(ended.json().state, 'done');
    assert.equal(ended.json().result.json, 1500);
    for (const bad of ['-1', '60001', 'soon', '1e3'])
      assert.equal((await d.inject({ url: `/v1/runs/${runId}?waitMs=${bad}` })).statusCode, 400, `waitMs=${bad}`);
  });

  it('a retried POST with the same Idempotency-Key returns the first run and runs nothing again', async () => {
    const key = `k-${Date.now()}`;
    const body = { step: { code: 'let n = 0; export function render() { return { json: Date.now() }; }' } };
    const first = await d.inject({ method: 'POST', url: '/v1/runs', ...json(body), headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    assert.equal(first.statusCode, 200, first.body);
    // Same body with its keys in another order: the same request.
    const retried = await d.inject({ method: 'POST', url: '/v1/runs', payload: JSON.stringify({ params: {}, ...body }), headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    assert.equal(retried.statusCode, 200);
    assert.equal(retried.headers['idempotent-replayed'], 'true');
    assert.equal(retried.json().runId, first.json().runId, 'same run');
    assert.equal(retried.json().json, first.json().json, 'same result (the step did not run again)');
    const async = await d.inject({ method: 'POST', url: '/v1/runs?wait=false', ...json(body), headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    assert.equal(async.statusCode, 202);
    assert.equal(async.json().runId, first.json().runId);

    const other = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' } }), headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    assert.equal(other.statusCode, 422, other.body);
    assert.equal(other.json().error.code, 'RENDERER_ERR_IDEMPOTENCY_KEY_REUSED');
    for (const bad of ['', 'has space', 'x'.repeat(256), 'naïve'])
      assert.equal((await d.inject({ method: 'POST', url: '/v1/runs', ...json(body), headers: { 'content-type': 'application/json', 'idempotency-key': bad } })).statusCode, 400, JSON.stringify(bad));
  });

  it('concurrent retries with one key, while the first is still running, all get the one run', async () => {
    const key = `c-${Date.now()}`;
    const post = () => d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: sleeper(500) }), headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    const answers = await Promise.all([post(), post(), post()]);
    assert.deepEqual(answers.map((a) => a.statusCode), [200, 200, 200]);
    assert.equal(new Set(answers.map((a) => a.json().runId)).size, 1);
  });

  it('a workflow with an Idempotency-Key: a retry returns the same workflow id', async () => {
    const key = `w-${Date.now()}`;
    const headers = { 'content-type': 'application/json', 'idempotency-key': key };
    const body = JSON.stringify({ steps: [{ step: SUM.step }], input: SUM.input });
    const first = await d.inject({ method: 'POST', url: '/v1/workflows/run', payload: body, headers });
    const again = await d.inject({ method: 'POST', url: '/v1/workflows/run', payload: body, headers });
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(again.json().workflowId, first.json().workflowId);
    assert.deepEqual(again.json().steps.map((s: { runId: string }) => s.runId), first.json().steps.map((s: { runId: string }) => s.runId));
  });

  it('GET /v1/runs pages with a cursor, newest first, each run once, and filters', async () => {
    for (let i = 0; i < 3; i++) await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { code: 'export function render() { throw new Error("no"); }' } }) });
    const all = (await d.inject({ url: '/v1/runs?limit=1000' })).json().runs.map((r: { runId: string }) => r.runId);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { runs: { runId: string }[]; nextCursor: string | null } = (await d.inject({ url: `/v1/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}` })).json();
      assert.ok(page.runs.length <= 2);
      paged.push(...page.runs.map((r) => r.runId));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(paged, all);
    const failed = (await d.inject({ url: '/v1/runs?outcome=step_error' })).json().runs;
    assert.ok(failed.length >= 3 && failed.every((r: { result: { outcome: string } }) => r.result.outcome === 'step_error'));
    const byStep = (await d.inject({ url: '/v1/runs?step=example-sum&state=done' })).json().runs;
    assert.ok(byStep.length >= 1 && byStep.every((r: { step: string; state: string }) => r.step === 'example-sum' && r.state === 'done'));
    for (const bad of ['cursor=bogus', 'state=lost', 'outcome=fine', 'limit=0', 'limit=1001'])
      assert.equal((await d.inject({ url: `/v1/runs?${bad}` })).statusCode, 400, bad);
  });
});

describe('a synchronous caller that hangs up', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  /** Sends a synchronous run over a raw socket and hangs up once it is running. */
  async function hangUpDuring(d: Awaited<ReturnType<typeof startDaemon>>): Promise<string> {
    const port = (d.app.server.address() as { port: number }).port;
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.on('connect', resolve));
    const body = JSON.stringify({ step: sleeper(1500) });
    socket.write(`POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    let runId = '';
    await waitFor(() => {
      runId = d.daemon.executor.registry.unfinished[0]?.runId ?? '';
      return d.daemon.executor.registry.unfinished[0]?.state === 'running';
    }, 20_000, 'the run to start');
    socket.destroy();
    return runId;
  }

  it('cancels the run by default (server.onClientDisconnect: cancel)', async () => {
    const d = await startDaemon({ pool: { size: 0 } });
    try {
      const runId = await hangUpDuring(d);
      const run = (await d.inject({ url: `/v1/runs/${runId}?waitMs=60000` })).json();
      assert.equal(run.state, 'canceled');
      assert.equal(run.result.outcome, 'canceled');
    } finally {
      await d.stop();
    }
  });

  it('keeps it going with server.onClientDisconnect: keep', async () => {
    const d = await startDaemon({ pool: { size: 0 }, server: { port: 0, onClientDisconnect: 'keep' } });
    try {
      const runId = await hangUpDuring(d);
      const run = (await d.inject({ url: `/v1/runs/${runId}?waitMs=60000` })).json();
      assert.equal(run.state, 'done');
      assert.equal(run.result.outcome, 'ok');
    } finally {
      await d.stop();
    }
  });
});
