// Issue 15: run records and kept outputs survive a restart, kill -9 included; runs that
// were going when the daemon died are marked `interrupted`, never left `running`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../../renderer/paths.js';
import { BIN, isRoot, scratchDir, startDaemon, waitFor } from '../../helpers.js';

const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const SUM = { step: { name: 'example-sum' }, input: { path: 'sample.arrow' } };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('durable run records', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  it('a stopped and restarted daemon still serves its runs, workflows and outputs', async () => {
    const state = scratchDir('renderer-restart-');
    try {
      const first = await startDaemon({ stateDir: state.path, pool: { size: 0 } });
      let runId: string;
      let workflowId: string;
      let output: string;
      try {
        const run = await first.inject({ method: 'POST', url: '/v1/runs', ...json(SUM) });
        assert.equal(run.json().outcome, 'ok', run.body);
        runId = run.json().runId;
        output = (await first.inject({ url: `/v1/runs/${runId}/output` })).rawPayload.toString('base64');
        workflowId = (await first.inject({ method: 'POST', url: '/v1/workflows/run', ...json({ steps: [{ step: SUM.step }], input: SUM.input }) })).json().workflowId;
      } finally {
        await first.stop();
      }
      const second = await startDaemon({ stateDir: state.path, pool: { size: 0 } });
      try {
        const run = (await second.inject({ url: `/v1/runs/${runId}` })).json();
        assert.equal(run.state, 'done');
        assert.equal(run.result.outcome, 'ok');
        assert.equal(run.result.output.url, `/v1/runs/${runId}/output`);
        assert.equal((await second.inject({ url: `/v1/runs/${runId}/output` })).rawPayload.toString('base64'), output, 'the same output bytes');
        const workflow = (await second.inject({ url: `/v1/workflows/${workflowId}` })).json();
        assert.equal(workflow.outcome, 'ok');
        assert.equal(workflow.steps[0].outcome, 'ok');
        assert.ok((await second.inject({ url: '/v1/runs' })).json().runs.some((r: { runId: string }) => r.runId === runId));
      } finally {
        await second.stop();
      }
    } finally {
      state.remove();
    }
  });

  it('after kill -9: finished runs are all there, the running one is marked interrupted', async () => {
    const dir = scratchDir('renderer-kill9-');
    const port = await freePort();
    const config = join(dir.path, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({ stateDir: join(dir.path, 'state'), stepsDir: join(PACKAGE_ROOT, 'examples', 'steps'), dataRoot: join(PACKAGE_ROOT, 'examples', 'data'), pool: { size: 0 }, server: { port }, schedules: [], log: { level: 'warn' } }),
    );
    const base = `http://127.0.0.1:${port}`;
    const serve = () => {
      const child = spawn(process.execPath, [BIN, 'serve', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      return { child, stderr: () => stderr };
    };
    const up = async (): Promise<void> =>
      waitFor(async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok === true, 60_000, 'the daemon to listen');
    const post = async (url: string, body: unknown) => (await fetch(`${base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<Record<string, unknown>>;

    let daemon = serve();
    try {
      await up();
      const done = await post('/v1/runs', SUM);
      assert.equal(done.outcome, 'ok', JSON.stringify(done));
      const output = Buffer.from(await (await fetch(`${base}/v1/runs/${done.runId}/output`)).arrayBuffer());
      const going = await post('/v1/runs?wait=false', { step: { code: 'export async function render() { await new Promise((r) => setTimeout(r, 60000)); }' } });
      await waitFor(async () => ((await (await fetch(`${base}/v1/runs/${going.runId}`)).json()) as { state: string }).state === 'running', 30_000, 'the long run to start');
      daemon.child.kill('SIGKILL');
      await new Promise((resolve) => daemon.child.once('exit', resolve));

      daemon = serve();
      await up();
      const kept = (await (await fetch(`${base}/v1/runs/${done.runId}`)).json()) as { state: string; result: { outcome: string } };
      assert.equal(kept.state, 'done');
      assert.equal(kept.result.outcome, 'ok');
      assert.deepEqual(Buffer.from(await (await fetch(`${base}/v1/runs/${done.runId}/output`)).arrayBuffer()), output, 'the output survived');
      const interrupted = (await (await fetch(`${base}/v1/runs/${going.runId}`)).json()) as { state: string; result: { outcome: string; error: string } };
      assert.equal(interrupted.state, 'done');
      assert.equal(interrupted.result.outcome, 'interrupted');
      assert.match(interrupted.result.error, /the renderer stopped .* while this run was running/);
    } finally {
      daemon.child.kill('SIGKILL');
      await new Promise((resolve) => (daemon.child.exitCode !== null || daemon.child.signalCode !== null ? resolve(null) : daemon.child.once('exit', resolve)));
      dir.remove();
    }
  });
});
