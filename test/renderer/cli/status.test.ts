// `renderer status` against a live daemon, and when there is none.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cli, cliAsync, isRoot, startDaemon } from '../../helpers.js';

describe('renderer status', { skip: !isRoot && 'needs root' }, () => {
  it('shows readiness, pool, queue, outcome counts and recent runs', async () => {
    const d = await startDaemon({ pool: { size: 1 } });
    try {
      const run = await d.inject({ method: 'POST', url: '/v1/runs', payload: JSON.stringify({ step: { name: 'example-describe' } }), headers: { 'content-type': 'application/json' } });
      const { port } = d.app.server.address() as { port: number };
      const url = `http://127.0.0.1:${port}`;
      const r = await cliAsync(['status', '--url', url]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`renderer at ${url}: (ready|NOT READY)`));
      assert.match(r.stdout, /outcomes since start: ok 1/);
      assert.match(r.stdout, new RegExp(`${run.json().runId.slice(0, 8)}\\s+example-describe\\s+ok`));
      const json = JSON.parse((await cliAsync(['status', '--url', url, '--json'])).stdout);
      assert.equal(json.outcomes.ok, 1);
    } finally {
      await d.stop();
    }
  });

  it('says clearly when no daemon answers (exit 1), and refuses bad flags (exit 2)', () => {
    const r = cli(['status', '--url', 'http://127.0.0.1:9']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot reach the renderer at http:\/\/127.0.0.1:9.*is `renderer serve` running\?/);
    assert.equal(cli(['status', '--url', 'not a url']).status, 2);
  });
});
