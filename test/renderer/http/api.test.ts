// The HTTP API (README "HTTP API", contract section 5): every endpoint's happy path,
// and every bad input answered with a 4xx JSON error naming the problem, nothing started.
import * as arrow from 'apache-arrow';
import assert from 'node:assert/strict';
import { readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isRoot, startDaemon, waitFor } from '../../helpers.js';

type Daemon = Awaited<ReturnType<typeof startDaemon>>;
const ARROW = 'application/vnd.apache.arrow.file';
const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('HTTP API', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await waitFor(() => d.daemon.pool!.warm > 0, 20_000, 'a warm child');
  });
  after(() => d.stop());

  const runsStarted = (): number => d.daemon.executor.registry.recent(100_000).length;

  it('GET /healthz and /readyz', async () => {
    assert.deepEqual((await d.inject({ url: '/healthz' })).json(), { status: 'ok' });
    const ready = await d.inject({ url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { ready: true });
  });

  it('POST /v1/tables then a named step on it: a contract result with output.url; GET the output back', async () => {
    const upload = await d.inject({ method: 'POST', url: '/v1/tables', payload: Buffer.from(arrow.tableToIPC(arrow.tableFromArrays({ n: Float64Array.of(1, 2, 39) }), 'file')), headers: { 'content-type': ARROW } });
    assert.equal(upload.statusCode, 201, upload.body);
    const { tableId, rows, columns } = upload.json();
    assert.equal(rows, 3);
    assert.deepEqual(columns, ['n']);

    const run = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, input: { tableId } }) });
    assert.equal(run.statusCode, 200, run.body);
    const result = run.json();
    for (const key of ['runId', 'outcome', 'exitCode', 'signal', 'durationMs', 'peakMemoryBytes', 'error', 'logs', 'output', 'json']) assert.ok(key in result, key);
    assert.equal(result.outcome, 'ok');
    assert.deepEqual(result.json, { sums: { n: 42 }, rows: 3 });
    assert.equal(result.output.url, `/v1/runs/${result.runId}/output`);
    assert.equal(result.output.path, undefined, 'path is replaced by url');

    const output = await d.inject({ url: result.output.url });
    assert.equal(output.statusCode, 200);
    assert.equal(output.headers['content-type'], ARROW);
    const table = arrow.tableFromIPC(output.rawPayload);
    assert.deepEqual([...table.getChild('sum')!], [42]);

    const status = await d.inject({ url: `/v1/runs/${result.runId}` });
    assert.equal(status.json().state, 'done');
    assert.equal(status.json().result.outcome, 'ok');
  });

  it('inline code and a data-root path as input', async () => {
    const run = await d.inject({
      method: 'POST',
      url: '/v1/runs',
      ...json({ step: { code: 'export function render(t, p) { return { json: { rows: t.numRows, p } }; }' }, params: { x: 1 }, input: { path: 'sample.arrow' } }),
    });
    assert.deepEqual(run.json().json, { rows: 6, p: { x: 1 } });
    assert.equal(run.json().output, null);
  });

  it('?wait=false answers 202 at once; GET shows the state and, while running, live usage', async () => {
    const started = await d.inject({ method: 'POST', url: '/v1/runs?wait=false', ...json({ step: { code: 'export async function render() { const end = Date.now() + 1500; while (Date.now() < end) {} return { json: "done" }; }' } }) });
    assert.equal(started.statusCode, 202);
    const { runId } = started.json();
    // Running from admission on; usage from dispatch on (a busy host takes a while to
    // have the child ready), so wait for the first sample, not a fixed delay.
    let live: { state: string; usage: { cgroup: { memoryBytes: number }; process: { rssBytes: number } } | null } = { state: '', usage: null };
    await waitFor(async () => {
      live = (await d.inject({ url: `/v1/runs/${runId}` })).json();
      return live.usage?.process?.rssBytes !== undefined || live.state === 'done';
    }, 20_000, 'a live usage sample');
    assert.equal(live.state, 'running');
    assert.ok(live.usage!.cgroup.memoryBytes > 0, 'cgroup figures while running');
    assert.ok(live.usage!.process.rssBytes > 0, '/proc figures while running');
    await waitFor(async () => (await d.inject({ url: `/v1/runs/${runId}` })).json().state === 'done', 10_000, 'done');
    assert.equal((await d.inject({ url: `/v1/runs/${runId}` })).json().result.json, 'done');
  });

  it('DELETE cancels a running run by killing its sandbox', async () => {
    const started = await d.inject({ method: 'POST', url: '/v1/runs?wait=false', ...json({ step: { code: 'export function render() { for (;;) {} }' } }) });
    const { runId } = started.json();
    await waitFor(async () => (await d.inject({ url: `/v1/runs/${runId}` })).json().state === 'running', 10_000, 'running');
    const deleted = await d.inject({ method: 'DELETE', url: `/v1/runs/${runId}` });
    assert.equal(deleted.statusCode, 200);
    assert.equal(deleted.json().state, 'canceled');
    assert.equal(deleted.json().result.outcome, 'canceled');
    const again = await d.inject({ method: 'DELETE', url: `/v1/runs/${runId}` });
    assert.equal(again.statusCode, 409);
  });

  it('POST /v1/workflows/run chains outputs into inputs and stops at the first failure', async () => {
    const ok = await d.inject({
      method: 'POST',
      url: '/v1/workflows/run',
      ...json({ steps: [{ step: { name: 'example-filter' }, params: { column: 'region', value: 'north' } }, { step: { name: 'example-sum' } }], input: { path: 'sample.arrow' } }),
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().outcome, 'ok');
    assert.deepEqual(ok.json().steps[1].json, { sums: { units: 21, price: 5 }, rows: 2 });

    const broken = await d.inject({
      method: 'POST',
      url: '/v1/workflows/run',
      ...json({ steps: [{ step: { code: 'export function render() { throw new Error("first fails"); }' } }, { step: { name: 'example-sum' } }] }),
    });
    assert.equal(broken.json().outcome, 'step_error');
    assert.equal(broken.json().steps.length, 1, 'the second step never ran');
  });

  it('GET /v1/steps, /v1/runs and /metrics', async () => {
    assert.ok((await d.inject({ url: '/v1/steps' })).json().steps.includes('example-sum'));
    assert.ok((await d.inject({ url: '/v1/runs?limit=5' })).json().runs.length > 0);
    const metrics = await d.inject({ url: '/metrics' });
    assert.match(metrics.headers['content-type'] as string, /text\/plain/);
    assert.match(metrics.body, /renderer_runs_total\{outcome="ok",step="example-sum"\} \d+/);
  });

  describe('bad input: a 4xx JSON error that names the problem, and no run started', () => {
    const cases: Array<[string, Parameters<Daemon['inject']>[0], number, string, RegExp]> = [
      ['malformed JSON', { method: 'POST', url: '/v1/runs', payload: '{"step":', headers: { 'content-type': 'application/json' } }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /the body is not valid JSON: /],
      ['an empty JSON body', { method: 'POST', url: '/v1/runs', payload: '', headers: { 'content-type': 'application/json' } }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /JSON|body/],
      ['prototype pollution in the body', { method: 'POST', url: '/v1/runs', payload: '{"step":{"name":"example-sum"},"__proto__":{"x":1}}', headers: { 'content-type': 'application/json' } }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /a "__proto__" key is not accepted/],
      ['a missing step', { method: 'POST', url: '/v1/runs', ...json({ params: {} }) }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /Missing required field `step`/],
      ['a wrong type', { method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, timeoutMs: 'soon' }) }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /`timeoutMs`.*got `"soon"` \(string\)/],
      ['an unknown field', { method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, timout: 5 }) }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /Unknown field `timout`/],
      ['an unknown step', { method: 'POST', url: '/v1/runs', ...json({ step: { name: 'no-such-step' } }) }, 404, 'RENDERER_ERR_STEP_NOT_FOUND', /no step named "no-such-step"/],
      ['a step name with a path', { method: 'POST', url: '/v1/runs', ...json({ step: { name: '../../etc/passwd' } }) }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /`step`/],
      ['an unknown table', { method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, input: { tableId: '00000000-0000-4000-8000-000000000000' } }) }, 404, 'RENDERER_ERR_TABLE_NOT_FOUND', /unknown or expired/],
      ['a traversal path', { method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, input: { path: '../../../etc/passwd' } }) }, 400, 'RENDERER_ERR_PATH_OUTSIDE_DATA_ROOT', /contains `..`/],
      ['an absolute path', { method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, input: { path: '/etc/passwd' } }) }, 400, 'RENDERER_ERR_PATH_OUTSIDE_DATA_ROOT', /is absolute/],
      ['a missing data file', { method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, input: { path: 'nope.arrow' } }) }, 400, 'RENDERER_ERR_INPUT_UNREADABLE', /does not exist/],
      ['a wrong media type', { method: 'POST', url: '/v1/runs', payload: 'step=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'RENDERER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', /Content-Type/],
      ['a body over the limit', { method: 'POST', url: '/v1/runs', ...json({ step: { code: 'x'.repeat(5 * 1024 * 1024) } }) }, 413, 'RENDERER_ERR_HTTP_BODY_TOO_LARGE', /larger than/],
      ['a bad wait flag', { method: 'POST', url: '/v1/runs?wait=maybe', ...json({ step: { name: 'example-sum' } }) }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /`wait`/],
      ['an unknown run', { url: '/v1/runs/nope' }, 404, 'RENDERER_ERR_HTTP_NOT_FOUND', /no run with id "nope"/],
      ['an unknown route', { url: '/v2/everything' }, 404, 'RENDERER_ERR_HTTP_NOT_FOUND', /no route GET \/v2\/everything/],
      ['a workflow with an unknown second step', { method: 'POST', url: '/v1/workflows/run', ...json({ steps: [{ step: { name: 'example-sum' } }, { step: { name: 'nope' } }] }) }, 404, 'RENDERER_ERR_STEP_NOT_FOUND', /nope/],
      ['an empty workflow', { method: 'POST', url: '/v1/workflows/run', ...json({ steps: [] }) }, 400, 'RENDERER_ERR_HTTP_BAD_REQUEST', /at least 1 item/],
      ['garbage as a table', { method: 'POST', url: '/v1/tables', payload: Buffer.from('not an arrow file'), headers: { 'content-type': ARROW } }, 400, 'RENDERER_ERR_TABLE_INVALID', /too small to be an Arrow IPC file/],
      ['an Arrow stream as a table', { method: 'POST', url: '/v1/tables', payload: Buffer.from(arrow.tableToIPC(arrow.tableFromArrays({ a: [1] }), 'stream')), headers: { 'content-type': ARROW } }, 400, 'RENDERER_ERR_TABLE_INVALID', /streams are not accepted/],
      ['a table as JSON', { method: 'POST', url: '/v1/tables', ...json({ a: 1 }) }, 415, 'RENDERER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', /Content-Type/],
    ];
    for (const [name, request, status, code, message] of cases) {
      it(name, async () => {
        const before = runsStarted();
        const tables = readdirSync(join(d.stateDir, 'tables')).length;
        const response = await d.inject(request);
        assert.equal(response.statusCode, status, response.body.slice(0, 300));
        const body = response.json();
        assert.equal(body.error.code, code);
        assert.match(body.error.message, message);
        assert.equal(typeof body.error.hint, 'string');
        assert.equal(runsStarted(), before, 'no run was created');
        assert.equal(readdirSync(join(d.stateDir, 'tables')).length, tables, 'no table was kept');
      });
    }

    it('a symlink out of the data root', async () => {
      const link = join(d.daemon.config.dataRoot!, `escape-${process.pid}.arrow`);
      symlinkSync('/etc/passwd', link);
      try {
        const response = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, input: { path: `escape-${process.pid}.arrow` } }) });
        assert.equal(response.statusCode, 400);
        assert.equal(response.json().error.code, 'RENDERER_ERR_PATH_OUTSIDE_DATA_ROOT');
        assert.match(response.json().error.message, /leads outside the data root/);
      } finally {
        (await import('node:fs')).rmSync(link);
      }
    });
  });
});

describe('HTTP API limits and access', { skip: !isRoot && 'needs root' }, () => {
  it('a full queue answers 503 with Retry-After, starting nothing more', async () => {
    const d = await startDaemon({ server: { port: 0, maxConcurrentRuns: 1, queueSize: 1 }, pool: { size: 0 } });
    try {
      const hang = { step: { code: 'export function render() { for (;;) {} }' }, timeoutMs: 20_000 };
      const first = await d.inject({ method: 'POST', url: '/v1/runs?wait=false', ...json(hang) });
      const second = await d.inject({ method: 'POST', url: '/v1/runs?wait=false', ...json(hang) });
      assert.equal(first.statusCode, 202);
      assert.equal(second.statusCode, 202);
      await waitFor(() => d.daemon.executor.admission.depth === 1, 10_000, 'one queued');
      const third = await d.inject({ method: 'POST', url: '/v1/runs', ...json(hang) });
      assert.equal(third.statusCode, 503);
      assert.equal(third.json().error.code, 'RENDERER_ERR_QUEUE_FULL');
      assert.ok(Number(third.headers['retry-after']) >= 1);
      assert.equal(d.daemon.executor.registry.recent(100).length, 2);
      const queued = second.json().runId;
      assert.equal((await d.inject({ method: 'DELETE', url: `/v1/runs/${queued}` })).json().state, 'canceled', 'a queued run can be canceled');
      await d.inject({ method: 'DELETE', url: `/v1/runs/${first.json().runId}` });
    } finally {
      await d.stop();
    }
  });

  it('a bearer token is required beyond loopback, and checked', async () => {
    const { Daemon } = await import('../../../renderer/daemon/daemon.js');
    const { configFrom } = await import('../../../renderer/config/load.js');
    await assert.rejects(Daemon.create(configFrom({ server: { host: '0.0.0.0' } })), /server.token is required to listen on 0.0.0.0/);

    const d = await startDaemon({ server: { port: 0, token: 'a-long-enough-secret-token' } });
    try {
      const missing = await d.inject({ url: '/v1/steps' });
      assert.equal(missing.statusCode, 401);
      assert.equal(missing.json().error.code, 'RENDERER_ERR_HTTP_UNAUTHORIZED');
      assert.equal((await d.inject({ url: '/v1/steps', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
      assert.equal((await d.inject({ url: '/v1/steps', headers: { authorization: 'Bearer a-long-enough-secret-token' } })).statusCode, 200);
      assert.equal((await d.inject({ url: '/healthz' })).statusCode, 200, 'probes need no token');
    } finally {
      await d.stop();
    }
  });

  it('a slow-loris body is cut off after requestTimeoutMs, starting nothing', async () => {
    const d = await startDaemon({ server: { port: 0, requestTimeoutMs: 500 }, pool: { size: 0 } });
    try {
      const { connect } = await import('node:net');
      const port = (d.app.server.address() as { port: number }).port;
      const socket = connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.on('connect', resolve));
      socket.write('POST /v1/runs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"step":');
      const started = Date.now();
      const drip = setInterval(() => socket.write(' '), 100);
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk));
      await new Promise((resolve) => socket.on('close', resolve));
      clearInterval(drip);
      assert.ok(Date.now() - started < 5000, 'cut off, not left hanging');
      assert.match(answer, /^HTTP\/1.1 408/);
      assert.equal(d.daemon.executor.registry.recent(10).length, 0);
    } finally {
      await d.stop();
    }
  });

  it('listens on a unix socket', async () => {
    const { scratchDir } = await import('../../helpers.js');
    const dir = scratchDir();
    const socket = join(dir.path, 'renderer.sock');
    const d = await startDaemon({ server: { socket } });
    try {
      const { request } = await import('node:http');
      const body = await new Promise<string>((resolve, reject) => {
        request({ socketPath: socket, path: '/healthz' }, (res) => {
          let data = '';
          res.on('data', (c) => (data += c));
          res.on('end', () => resolve(data));
        })
          .on('error', reject)
          .end();
      });
      assert.deepEqual(JSON.parse(body), { status: 'ok' });
    } finally {
      await d.stop();
      dir.remove();
    }
  });

  it('the pool never serves a child twice', async () => {
    const d = await startDaemon({ pool: { size: 2 } });
    try {
      await waitFor(() => d.daemon.pool!.warm === 2, 20_000, 'two warm children');
      const children = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const child = await d.daemon.pool!.acquire(d.daemon.runner.limits());
        assert.ok(!children.has(child.childId), 'a fresh child each time');
        children.add(child.childId);
        child.dispatch({ runId: `r${i}`, stepPath: '/run/in/none.mjs', paramsJson: '{}' });
        assert.throws(() => child.dispatch({ runId: 'again', stepPath: '/x', paramsJson: '{}' }), /already dispatched/);
        await child.process.exited;
        await child.process.finish();
        child.finished();
        await child.cleanUp();
      }
    } finally {
      await d.stop();
    }
  });

  it('a per-request memory limit is in force on a warm child', async () => {
    const d = await startDaemon({ pool: { size: 1 } });
    try {
      await waitFor(() => d.daemon.pool!.warm === 1, 20_000, 'a warm child');
      const run = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { code: 'export function render() { const a = []; for (;;) a.push(Buffer.alloc(1 << 24, 1)); }' }, memoryMiB: 96 }) });
      assert.equal(run.json().outcome, 'oom_killed');
      assert.ok(run.json().peakMemoryBytes <= 96 * 1024 * 1024 + 4096);
    } finally {
      await d.stop();
    }
  });

  it('uploaded tables are size-capped, streamed and expire', async () => {
    const d = await startDaemon({ server: { port: 0, maxUploadBytes: 2048, tableTtlSeconds: 1 } });
    try {
      const big = Buffer.from(arrow.tableToIPC(arrow.tableFromArrays({ a: new Float64Array(1000) }), 'file'));
      const refused = await d.inject({ method: 'POST', url: '/v1/tables', payload: big, headers: { 'content-type': ARROW } });
      assert.equal(refused.statusCode, 413);
      assert.equal(refused.json().error.code, 'RENDERER_ERR_HTTP_BODY_TOO_LARGE');
      const small = Buffer.from(arrow.tableToIPC(arrow.tableFromArrays({ a: Int8Array.of(1) }), 'file'));
      const { tableId } = (await d.inject({ method: 'POST', url: '/v1/tables', payload: small, headers: { 'content-type': ARROW } })).json();
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const run = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, input: { tableId } }) });
      assert.equal(run.statusCode, 404);
      assert.equal(run.json().error.code, 'RENDERER_ERR_TABLE_NOT_FOUND');
    } finally {
      await d.stop();
    }
  });

  it('a bad schedule in the config is refused, naming its line', async () => {
    const { scratchDir } = await import('../../helpers.js');
    const { loadConfig } = await import('../../../renderer/config/load.js');
    const { Daemon } = await import('../../../renderer/daemon/daemon.js');
    const dir = scratchDir();
    try {
      const file = join(dir.path, 'config.json');
      writeFileSync(
        file,
        `{\n  "stateDir": "${dir.path}/state",\n  "schedules": [\n    {\n      "name": "bad",\n      "cron": "every tuesday",\n      "workflow": { "steps": [ { "step": "no-such-step" } ] },\n      "outputDir": "out"\n    }\n  ]\n}\n`,
      );
      await assert.rejects(Daemon.create(loadConfig(file)), (error: Error) => {
        assert.match(error.message, /config.json line 6: schedules\[0\].cron: invalid cron expression "every tuesday"/);
        assert.match(error.message, /line 7: schedules\[0\].workflow.steps\[0\].step: no step named "no-such-step"/);
        return true;
      });
    } finally {
      dir.remove();
    }
  });
});
