// Issue 15: completion callbacks. Only URLs under the operator's prefixes (else any API
// caller could make the renderer POST into the internal network), every body signed,
// retried with backoff, and the delivery state on the run.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { configFrom } from '../../../renderer/config/load.js';
import { signBody } from '../../../renderer/http/callbacks.js';
import { PACKAGE_ROOT } from '../../../renderer/paths.js';
import { isRoot, scratchDir, startDaemon, waitFor } from '../../helpers.js';

/** The README's receiver check, in Python, run as a receiver would. */
function readmeVerify(secret: string, header: string, body: string): boolean {
  const readme = readFileSync(`${PACKAGE_ROOT}/README.md`, 'utf8');
  const code = /a receiver checks it like this:\n\n```python\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README shows the check');
  const dir = scratchDir();
  try {
    writeFileSync(`${dir.path}/verify.py`, `${code}\nimport sys\nprint(verify(sys.argv[1].encode(), sys.argv[2], open(sys.argv[3], 'rb').read()))\n`);
    writeFileSync(`${dir.path}/body`, body);
    return execFileSync('python3', [`${dir.path}/verify.py`, secret, header, `${dir.path}/body`], { encoding: 'utf8' }).trim() === 'True';
  } finally {
    dir.remove();
  }
}

const SECRET = 'a-callback-secret-of-some-length';
const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

interface Delivery {
  headers: IncomingMessage['headers'];
  body: string;
}

describe('completion callbacks', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let receiver: Server;
  let base: string;
  const deliveries: Delivery[] = [];
  /** Answers this many deliveries with 500 before accepting. */
  let failFirst = 0;
  let d: Awaited<ReturnType<typeof startDaemon>>;

  before(async () => {
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        deliveries.push({ headers: request.headers, body });
        response.statusCode = failFirst-- > 0 ? 500 : 204;
        response.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    d = await startDaemon({ pool: { size: 0 }, callbacks: { allowedUrlPrefixes: [`${base}/hooks/`], secret: SECRET, initialDelayMs: 20 } });
  });
  after(async () => {
    await d.stop();
    receiver.close();
  });

  it('a finished run is POSTed to its callbackUrl, signed; the run shows it delivered', async () => {
    deliveries.length = 0;
    const run = await d.inject({ method: 'POST', url: '/v1/runs?wait=false', ...json({ step: { name: 'example-sum' }, input: { path: 'sample.arrow' }, callbackUrl: `${base}/hooks/runs?tenant=7` }) });
    assert.equal(run.statusCode, 202, run.body);
    const { runId } = run.json();
    await waitFor(() => deliveries.length === 1, 30_000, 'the callback');
    const [delivery] = deliveries;
    const body = JSON.parse(delivery!.body);
    assert.equal(body.event, 'run.ended');
    assert.equal(body.run.runId, runId);
    assert.equal(body.run.result.outcome, 'ok');
    // The receiver's check, as README documents it.
    const [, t, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(delivery!.headers['renderer-signature']))!;
    assert.equal(createHmac('sha256', SECRET).update(`${t}.${delivery!.body}`).digest('hex'), mac);
    assert.ok(Math.abs(Number(t) - Date.now() / 1000) < 300);
    assert.equal(readmeVerify(SECRET, String(delivery!.headers['renderer-signature']), delivery!.body), true, 'the README\'s Python check accepts it');
    assert.equal(readmeVerify(SECRET, String(delivery!.headers['renderer-signature']), `${delivery!.body} `), false, 'and refuses a changed body');
    await waitFor(async () => (await d.inject({ url: `/v1/runs/${runId}` })).json().callback?.state === 'delivered', 10_000, 'the state to say delivered');
    const callback = (await d.inject({ url: `/v1/runs/${runId}` })).json().callback;
    assert.equal(callback.attempts, 1);
    assert.equal(callback.url, `${base}/hooks/runs?tenant=7`);
  });

  it('a receiver that fails is retried with backoff until it answers 2xx', async () => {
    deliveries.length = 0;
    failFirst = 2;
    const workflow = await d.inject({ method: 'POST', url: '/v1/workflows/run', ...json({ steps: [{ step: { name: 'example-sum' } }], callbackUrl: `${base}/hooks/wf` }) });
    assert.equal(workflow.statusCode, 200, workflow.body);
    const { workflowId } = workflow.json();
    await waitFor(async () => (await d.inject({ url: `/v1/workflows/${workflowId}` })).json().callback?.state === 'delivered', 30_000, 'delivery after retries');
    const callback = (await d.inject({ url: `/v1/workflows/${workflowId}` })).json().callback;
    assert.equal(callback.attempts, 3);
    assert.equal(deliveries.length, 3);
    assert.equal(new Set(deliveries.map((x) => x.headers['renderer-delivery'])).size, 1, 'one delivery id across retries, for the receiver to de-duplicate');
    assert.equal(JSON.parse(deliveries[2]!.body).workflow.workflowId, workflowId);
  });

  it('a delivery still pending when the daemon stops is resumed by the next one, with the same delivery id', async () => {
    deliveries.length = 0;
    failFirst = 1e9;
    const state = scratchDir('renderer-callbacks-');
    const config = { stateDir: state.path, pool: { size: 0 }, callbacks: { allowedUrlPrefixes: [`${base}/hooks/`], secret: SECRET, initialDelayMs: 20 } };
    try {
      const first = await startDaemon(config);
      let runId: string;
      try {
        runId = (await first.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, callbackUrl: `${base}/hooks/r` }) })).json().runId;
        await waitFor(() => deliveries.length >= 2, 30_000, 'failed attempts');
      } finally {
        await first.stop();
      }
      failFirst = 0;
      const second = await startDaemon(config);
      try {
        await waitFor(async () => (await second.inject({ url: `/v1/runs/${runId}` })).json().callback?.state === 'delivered', 30_000, 'delivery after the restart');
        assert.deepEqual([...new Set(deliveries.map((x) => x.headers['renderer-delivery']))], [`run-${runId}`]);
      } finally {
        await second.stop();
      }
    } finally {
      failFirst = 0;
      state.remove();
    }
  });

  it('a callbackUrl outside the allowed prefixes is a 422 and starts nothing', async () => {
    const before = d.daemon.executor.registry.recent(1000).length;
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      `${base}/hooksevil`,
      `${base}/hooks/../admin`,
      `${base.replace('127.0.0.1', 'user:pw@127.0.0.1')}/hooks/x`,
      `${base.replace('http:', 'https:')}/hooks/x`,
      'file:///etc/passwd',
      'not a url',
    ]) {
      const response = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, callbackUrl: url }) });
      assert.equal(response.statusCode, 422, `${url}: ${response.body}`);
      assert.equal(response.json().error.code, 'RENDERER_ERR_CALLBACK_URL_NOT_ALLOWED');
    }
    assert.equal(d.daemon.executor.registry.recent(1000).length, before, 'no run was created');
  });
});

describe('callback configuration', () => {
  it('without allowed prefixes every callbackUrl is refused; prefixes need a secret', () => {
    assert.throws(() => configFrom({ callbacks: { allowedUrlPrefixes: ['https://engine.internal/hooks/'] } }), /callbacks.secret/);
    assert.throws(() => configFrom({ callbacks: { allowedUrlPrefixes: ['ftp://x/'], secret: SECRET } }), /allowedUrlPrefixes\[0\]/);
    assert.equal(configFrom({}).callbacks.allowedUrlPrefixes.length, 0);
  });

  it('the signature covers the time and the body', () => {
    const a = signBody(SECRET, '{"a":1}', 1000);
    assert.notEqual(a, signBody(SECRET, '{"a":2}', 1000));
    assert.notEqual(a, signBody(SECRET, '{"a":1}', 1001));
    assert.match(a, /^t=1000,v1=[0-9a-f]{64}$/);
  });
});
