// What an API caller must not be able to do (issue 13, items 3-5): lift the operator's
// limits, make the daemon hold a result as many times its size in heap, or reach a
// loopback daemon from a web page by DNS rebinding.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, it } from 'node:test';
import { configFrom } from '../../../renderer/config/load.js';
import { hostChecker, hostName } from '../../../renderer/http/host-check.js';
import { RawJson, stringifyJson } from '../../../renderer/store/raw-json.js';
import { isRoot, startDaemon } from '../../helpers.js';

type Daemon = Awaited<ReturnType<typeof startDaemon>>;
const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('operator ceilings on per-request limits', () => {
  it('the config refuses a ceiling below its limit, and a schedule above the ceiling', () => {
    assert.throws(() => configFrom({ limits: { memoryMiB: 512, max: { memoryMiB: 256 } } }), /`limits.max.memoryMiB` 256 is below `limits.memoryMiB` 512/);
    const schedule = { name: 'nightly', cron: '0 3 * * *', outputDir: '/tmp/x', workflow: { steps: [{ step: 'example-sum', timeoutMs: 60_000 }] } };
    assert.throws(() => configFrom({ limits: { timeoutMs: 30_000 }, schedules: [schedule] }), /`schedules\[0\]\.workflow\.steps\[0\]\.timeoutMs` 60000 is above this renderer's ceiling of 30000/);
    assert.doesNotThrow(() => configFrom({ limits: { timeoutMs: 30_000, max: { timeoutMs: 60_000 } }, schedules: [schedule] }));
  });

  it('a schedule step without limits gets the config\'s, not a default of its own', () => {
    const config = configFrom({ limits: { timeoutMs: 5000 }, schedules: [{ name: 'n', cron: '* * * * *', outputDir: '/tmp/x', workflow: { steps: [{ step: 'example-sum' }] } }] });
    assert.equal(config.schedules[0]!.workflow.steps[0]!.timeoutMs, undefined);
  });

  describe('through the API', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
    let d: Daemon;
    before(async () => {
      d = await startDaemon({ limits: { memoryMiB: 64, timeoutMs: 10_000, max: { memoryMiB: 128 } }, pool: { size: 0 } });
    });
    after(() => d.stop());

    // The attack: with the config at 64 MiB, a request asked for 1 TiB and a day and got
    // them (it ran at 315 MiB).
    it('a request above a ceiling is refused, naming the field and the ceiling; nothing starts', async () => {
      for (const [body, pattern] of [
        [{ memoryMiB: 1_048_576 }, /`memoryMiB` 1048576 is above this renderer's ceiling of 128 \(the operator's `limits.max.memoryMiB`\)/],
        [{ timeoutMs: 86_400_000 }, /`timeoutMs` 86400000 is above this renderer's ceiling of 10000/],
      ] as const) {
        const response = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { name: 'example-sum' }, ...body }) });
        assert.equal(response.statusCode, 422, response.body);
        assert.equal(response.json().error.code, 'RENDERER_ERR_LIMIT_ABOVE_CEILING');
        assert.match(response.json().error.message, pattern);
      }
      const workflow = await d.inject({ method: 'POST', url: '/v1/workflows/run', ...json({ steps: [{ step: { name: 'example-sum' } }, { step: { name: 'example-sum' }, memoryMiB: 129 }] }) });
      assert.equal(workflow.statusCode, 422);
      assert.equal(workflow.json().error.code, 'RENDERER_ERR_LIMIT_ABOVE_CEILING');
      assert.equal(d.daemon.executor.registry.recent(100).length, 0, 'no run was created');
    });

    it('a request at or under the ceiling runs with what it asked for', async () => {
      const response = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { code: 'export function render() { return { json: { ok: 1 } }; }' }, memoryMiB: 128, timeoutMs: 9000 }) });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().outcome, 'ok');
    });
  });
});

describe('run results are held compactly, and the history is bounded by bytes', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  // 1 MiB of `{},` is ~350,000 objects: ~20 MiB of heap per run when held parsed.
  const bigJson = 'export function render() { return { json: Array.from({ length: 300000 }, () => ({})) }; }';

  it('results of empty objects cost about their text size in heap, not 20 times it', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const d = await startDaemon({ limits: { maxResultBytes: 2 * 1024 * 1024 }, pool: { size: 0 } });
    try {
      const run = async (): Promise<void> => {
        const response = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { code: bigJson } }) });
        assert.equal(response.json().outcome, 'ok', response.body.slice(0, 300));
      };
      await run();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 5; i++) await run();
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      // Held parsed, five results grew the heap by ~100 MiB; as text, by ~3 MiB.
      assert.ok(grown < 30 * 1024 * 1024, `five 900 KB results grew the heap by ${(grown / 1048576).toFixed(1)} MiB`);
      const last = d.daemon.executor.registry.recent(1)[0]!;
      const fetched = await d.inject({ url: `/v1/runs/${last.runId}` });
      assert.equal(fetched.json().result.json.length, 300_000, 'the JSON comes back whole');
    } finally {
      await d.stop();
    }
  });

  it('past server.runHistoryBytes the oldest finished runs are forgotten at the next prune, the newest kept', async () => {
    const d = await startDaemon({ server: { port: 0, runHistoryBytes: 1024 * 1024 }, limits: { maxResultBytes: 2 * 1024 * 1024 }, pool: { size: 0 } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await d.inject({ method: 'POST', url: '/v1/runs', ...json({ step: { code: bigJson } }) });
        ids.push(response.json().runId);
      }
      const registry = d.daemon.executor.registry;
      assert.equal(registry.prune(), 2, 'two runs forgotten');
      assert.equal((await d.inject({ url: `/v1/runs/${ids[0]}` })).statusCode, 404, 'the oldest is forgotten');
      assert.equal((await d.inject({ url: `/v1/runs/${ids[2]}` })).statusCode, 200, 'the newest is kept, even alone over the budget');
    } finally {
      await d.stop();
    }
  });

  it('stringifyJson splices the text in, and a step cannot forge the marker', () => {
    const forged = 'raw-json:00:0';
    const value = { a: RawJson.of({ x: [1, 'two'] }), b: forged, c: [RawJson.of(null), RawJson.of('"quoted"')] };
    assert.deepEqual(JSON.parse(stringifyJson(value)), { a: { x: [1, 'two'] }, b: forged, c: [null, '"quoted"'] });
    assert.deepEqual(JSON.parse(stringifyJson(value, 2)), JSON.parse(stringifyJson(value)));
  });
});

describe('DNS rebinding: the Host header is checked', () => {
  it('hostName takes the name from a Host header, or says it is malformed', () => {
    assert.equal(hostName('LocalHost:8080'), 'localhost');
    assert.equal(hostName('[::1]:80'), '[::1]');
    assert.equal(hostName('example.com.'), 'example.com');
    assert.equal(hostName('a:b:c'), null);
    assert.equal(hostName(''), null);
  });

  it('without a token: loopback names and IP literals only, plus allowedHosts', () => {
    const check = hostChecker({}, false)!;
    for (const ok of ['localhost', 'localhost:8080', '127.0.0.1:8080', '[::1]:8080', 'foo.localhost', '10.1.2.3']) assert.ok(check(ok), ok);
    for (const bad of ['rebind.attacker.example', 'rebind.attacker.example:8080', 'localhost.attacker.example', '127.0.0.1.nip.io', '999.1.1.1', '']) assert.ok(!check(bad), bad);
    assert.ok(hostChecker({ allowedHosts: ['renderer.internal'] }, false)!('renderer.internal:8080'));
    assert.equal(hostChecker({ socket: '/run/r.sock' }, false), null, 'no browser reaches a unix socket');
    assert.equal(hostChecker({}, true), null, 'a token protects a server without allowedHosts');
    assert.ok(!hostChecker({ allowedHosts: ['a.example'] }, true)!('b.example'), 'listed names are checked with a token too');
    assert.equal(hostChecker({ allowedHosts: ['*'] }, false), null);
  });

  it('a loopback daemon without a token answers 421 to a rebound name, over a real socket, and runs nothing', { skip: !isRoot && 'needs root' }, async () => {
    const d = await startDaemon({ pool: { size: 0 } });
    try {
      const port = (d.app.server.address() as { port: number }).port;
      const send = (host: string): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          const body = JSON.stringify({ step: { code: 'export function render() { return { json: 1 }; }' } });
          const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/runs', headers: { host, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
            let data = '';
            res.on('data', (c) => (data += c));
            res.on('end', () => resolve({ status: res.statusCode!, body: data }));
          });
          req.on('error', reject);
          req.end(body);
        });
      const rebound = await send('rebind.attacker.example');
      assert.equal(rebound.status, 421, rebound.body);
      assert.equal(JSON.parse(rebound.body).error.code, 'RENDERER_ERR_HTTP_HOST_NOT_ALLOWED');
      assert.equal(d.daemon.executor.registry.recent(10).length, 0, 'nothing ran');
      const local = await send(`localhost:${port}`);
      assert.equal(local.status, 200, local.body);
    } finally {
      await d.stop();
    }
  });
});
