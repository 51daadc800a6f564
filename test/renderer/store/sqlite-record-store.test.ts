// The local RecordStore: what is put comes back, pages cover every match exactly once,
// retention forgets only finished runs, oldest first, and the file is the renderer's.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { emptyResult } from '../../../renderer/run/run-step.js';
import { RawJson } from '../../../renderer/store/raw-json.js';
import type { RunState, RunView } from '../../../renderer/store/record-store.js';
import { SqliteRecordStore } from '../../../renderer/store/sqlite-record-store.js';
import { scratchDir } from '../../helpers.js';

let n = 0;
function run(overrides: Partial<RunView> = {}): RunView {
  const runId = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  const state = overrides.state ?? 'done';
  return {
    runId,
    state,
    step: 'example-sum',
    workflowId: null,
    createdAt: 1000 + n,
    startedAt: 1000 + n,
    endedAt: state === 'done' || state === 'canceled' ? 2000 + n : null,
    result: state === 'done' ? { ...emptyResult(runId), outcome: 'ok', json: RawJson.of({ n }) } : null,
    outputFile: null,
    error: null,
    callback: null,
    ...overrides,
  };
}

const RETAIN_ALL = { maxRuns: 1e9, maxAgeMs: 1e15, maxBytes: 1e15, keyWindowMs: 1e15, now: 10_000 };

describe('SqliteRecordStore', () => {
  let dir: ReturnType<typeof scratchDir>;
  let store: SqliteRecordStore;
  beforeEach(() => {
    dir = scratchDir('renderer-store-');
    store = new SqliteRecordStore(join(dir.path, 'records.sqlite'));
  });
  afterEach(() => {
    store.close();
    dir.remove();
  });

  it('a run comes back as it was put, its JSON as text, and an update replaces it in place', () => {
    const record = run({ state: 'running', result: null, endedAt: null });
    store.putRun(record);
    assert.equal(store.getRun(record.runId)?.state, 'running');
    const ended = run({ runId: record.runId, createdAt: record.createdAt, outputFile: '/x/y.arrow', callback: { url: 'http://h/', state: 'pending', attempts: 0, lastError: null, deliveredAt: null } });
    store.putRun(ended);
    const back = store.getRun(record.runId)!;
    assert.equal(back.state, 'done');
    assert.ok(back.result?.json instanceof RawJson);
    assert.deepEqual((back.result!.json as RawJson).parse(), (ended.result!.json as RawJson).parse());
    assert.deepEqual({ ...back, result: null }, { ...ended, result: null });
    assert.equal(store.listRuns({ limit: 10 }).runs.length, 1, 'one row, not two');
    assert.equal(statSync(store.file).mode & 0o777, 0o600, 'the records are the renderer\'s alone');
  });

  it('pages of any size cover every matching run once, newest first (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<RunState>('queued', 'running', 'done', 'canceled'), { maxLength: 40 }), fc.integer({ min: 1, max: 7 }), fc.constantFrom<RunState | undefined>(undefined, 'done', 'running'), (states, limit, state) => {
        const local = new SqliteRecordStore(join(dir.path, `p-${++n}.sqlite`));
        try {
          const ids = states.map((s) => {
            const r = run({ state: s });
            local.putRun(r);
            return r;
          });
          const expected = ids.filter((r) => state === undefined || r.state === state).map((r) => r.runId).reverse();
          const seen: string[] = [];
          let cursor: string | undefined;
          for (let pages = 0; pages <= expected.length + 1; pages++) {
            const page = local.listRuns({ limit, state, cursor });
            assert.ok(page.runs.length <= limit);
            seen.push(...page.runs.map((r) => r.runId));
            if (!page.nextCursor) break;
            cursor = page.nextCursor;
          }
          assert.deepEqual(seen, expected);
        } finally {
          local.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a cursor it did not give out is a clear 400', () => {
    for (const cursor of ['bogus', Buffer.from('r1; DROP TABLE runs').toString('base64url'), ''])
      assert.throws(() => store.listRuns({ limit: 5, cursor }), (error: Error & { code?: string }) => error.code === 'RENDERER_ERR_HTTP_BAD_REQUEST');
  });

  it('retention forgets finished runs by count, age and bytes, oldest first, never a live one', () => {
    const live = run({ state: 'running', result: null, endedAt: null });
    store.putRun(live);
    const finished = Array.from({ length: 5 }, (_, i) => run({ outputFile: `/out/${i}.arrow` }));
    for (const r of finished) store.putRun(r);
    const byCount = store.prune({ ...RETAIN_ALL, maxRuns: 4 });
    assert.equal(byCount.runs, 2);
    assert.deepEqual(byCount.files, ['/out/0.arrow', '/out/1.arrow']);
    assert.ok(store.getRun(live.runId), 'a live run is never forgotten');
    const byAge = store.prune({ ...RETAIN_ALL, maxAgeMs: 10_000 - finished[3]!.endedAt! });
    assert.deepEqual(byAge.files, ['/out/2.arrow'], 'ended before now - maxAge');
    const byBytes = store.prune({ ...RETAIN_ALL, maxBytes: 1 });
    assert.deepEqual(byBytes.files, ['/out/3.arrow', '/out/4.arrow']);
    assert.deepEqual(store.listRuns({ limit: 10 }).runs.map((r) => r.runId), [live.runId]);
    assert.deepEqual([...store.outputFiles()], []);
  });

  it('idempotency keys are found within their window and forgotten after it or with their run', () => {
    const r = run();
    store.putRun(r);
    store.putIdempotencyKey('runs', 'k', { bodyHash: 'h', targetId: r.runId, createdAt: 5000 });
    assert.equal(store.findIdempotencyKey('runs', 'k', 4000)?.targetId, r.runId);
    assert.equal(store.findIdempotencyKey('runs', 'k', 6000), null, 'outside the window');
    assert.equal(store.findIdempotencyKey('workflows', 'k', 0), null, 'scoped by route');
    store.prune({ ...RETAIN_ALL, maxRuns: 0 });
    assert.equal(store.findIdempotencyKey('runs', 'k', 0), null, 'gone with its run');
  });

  it('unfinished runs and workflows are listed for recovery', () => {
    store.putRun(run({ state: 'queued', result: null, endedAt: null }));
    store.putRun(run());
    store.putWorkflow({ workflowId: 'w1', state: 'running', outcome: null, createdAt: 1, endedAt: null, stepCount: 2, runIds: ['a'], callback: null });
    const { runs, workflows } = store.unfinished();
    assert.deepEqual(runs.map((r) => r.state), ['queued']);
    assert.deepEqual(workflows.map((w) => w.workflowId), ['w1']);
  });

  it('a database from a newer renderer is refused with a message that says what to do', () => {
    store.close();
    const file = join(dir.path, 'newer.sqlite');
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => new SqliteRecordStore(file), /written by a newer renderer .* move it aside/);
    store = new SqliteRecordStore(join(dir.path, 'records.sqlite'));
  });
});
