// The daemon validates untrusted tables in its worker threads, never on its event loop
// (issue 13: /healthz went unanswered for 11.6 s after one inline step, and for 7.6-30 s
// after a 72 KB upload, which was then accepted with 1,200 rows for 1). Uploads and
// step outputs both go through the workers; /healthz answers while the attack
// files are uploaded and refused.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ValidationPool } from '../../../renderer/arrow/validation-pool.js';
import { TableStore } from '../../../renderer/daemon/table-store.js';
import { isRendererError } from '../../../renderer/errors.js';
import { aliasedBatches, plainTable, repeatedDelta } from '../../arrow-files.js';
import { isRoot, RULES, scratchDir, startDaemon, step, waitFor } from '../../helpers.js';

const ARROW = 'application/vnd.apache.arrow.file';

describe('untrusted tables in the daemon', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  let url: string;
  let validations = 0;
  before(async () => {
    d = await startDaemon();
    url = `http://127.0.0.1:${(d.app.server.address() as AddressInfo).port}`;
    const pool = d.daemon.runner.validator;
    const validateFile = pool.validateFile.bind(pool);
    pool.validateFile = (...args) => {
      validations++;
      return validateFile(...args);
    };
    await waitFor(() => d.daemon.pool!.warm > 0, 20_000, 'a warm child');
  });
  after(() => d.stop());

  it('/healthz answers within 1 s while the issue\'s attack files are uploaded, each refused by a worker', async (t) => {
    const attacks = [repeatedDelta(2700), aliasedBatches(200, 1200)];
    const before = validations;
    const latencies: number[] = [];
    let uploading = true;
    const poller = (async () => {
      while (uploading) {
        const started = performance.now();
        const response = await fetch(`${url}/healthz`);
        await response.text();
        assert.equal(response.status, 200);
        latencies.push(performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const answers: Array<{ status: number; message: string }> = [];
    try {
      for (let round = 0; round < 5; round++)
        for (const body of attacks) {
          const response = await fetch(`${url}/v1/tables`, { method: 'POST', headers: { 'content-type': ARROW }, body });
          answers.push({ status: response.status, message: ((await response.json()) as { error: { message: string } }).error.message });
        }
    } finally {
      uploading = false;
      await poller;
    }
    for (const { status, message } of answers) {
      assert.equal(status, 400);
      assert.match(message, /^the uploaded table is invalid: (dictionary batch 2 overlaps dictionary batch 1|record batch 1 overlaps record batch 0) or comes before it/);
    }
    assert.equal(validations - before, answers.length, 'every upload was validated by the pool');
    const max = Math.max(...latencies);
    t.diagnostic(`/healthz during ${answers.length} attack uploads: ${latencies.length} requests, max ${max.toFixed(1)} ms`);
    // The target is 50 ms (npm run bench measures it); 1 s leaves room for a
    // loaded CI machine, and is 10 times less than one such upload held the loop before.
    assert.ok(max < 1000, `/healthz took ${max.toFixed(0)} ms`);
  });

  it('a step\'s output goes through the workers too: one batch listed 1,200 times is invalid_output, not 1,200 rows', async () => {
    const before = validations;
    const run = await d.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ step: { code: readFileSync(step('aliased-output'), 'utf8') } }),
    });
    const result = run.json() as { outcome: string; error: string; output: unknown };
    assert.equal(result.outcome, 'invalid_output', run.body);
    assert.match(result.error, /the output table is invalid: record batch 1 overlaps record batch 0/);
    assert.equal(result.output, null);
    assert.equal(validations - before, 1);
  });
});

describe('TableStore', () => {
  it('an upload past its validation deadline is RENDERER_ERR_TABLE_VALIDATION_TIMEOUT (400), and nothing is kept', async () => {
    const dir = scratchDir();
    const pool = new ValidationPool({ size: 1, deadlineMs: () => 1 });
    try {
      const store = new TableStore(dir.path, 1 << 30, 60, RULES, pool);
      await assert.rejects(store.put(Readable.from([Buffer.from(plainTable(4e6))])), (error: unknown) =>
        isRendererError(error) && error.code === 'RENDERER_ERR_TABLE_VALIDATION_TIMEOUT' && error.statusCode === 400 && /was refused: validating it took longer than/.test(error.message));
      assert.deepEqual(readdirSync(store.dir), []);
    } finally {
      await pool.close();
      dir.remove();
    }
  });
});
