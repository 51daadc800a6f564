// The local RecordStore: one SQLite database in the state directory (better-sqlite3).
// Every change is its own transaction in WAL mode: a renderer killed with SIGKILL loses
// nothing it had answered (the OS holds the written pages); synchronous=NORMAL means a
// power cut may lose the last few transactions but never corrupts the file.
//
// Calls are synchronous, on the daemon's loop: each touches one row by key or an index
// (a run's record is at most ~1 MiB of JSON plus a 64 KiB log tail), so each costs
// microseconds to a millisecond, never time proportional to the history.
import Database from 'better-sqlite3';
import { chmodSync } from 'node:fs';
import { RendererError, type ErrorCode } from '../errors.js';
import type { RunResult } from '../run/outcome.js';
import { RawJson } from './raw-json.js';
import type { CallbackState, IdempotencyEntry, RecordStore, Retention, RunFilter, RunView, WorkflowView } from './record-store.js';

/** Bumped when the tables change; an older renderer refuses a newer file. */
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL UNIQUE,
  workflow_id TEXT,
  step TEXT NOT NULL,
  state TEXT NOT NULL,
  outcome TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,
  result TEXT,
  json TEXT,
  output_file TEXT,
  error TEXT,
  callback TEXT,
  bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_state ON runs (state, seq);
CREATE INDEX IF NOT EXISTS runs_outcome ON runs (outcome, seq);
CREATE INDEX IF NOT EXISTS runs_step ON runs (step, seq);
CREATE INDEX IF NOT EXISTS runs_workflow ON runs (workflow_id, seq);
CREATE INDEX IF NOT EXISTS runs_ended ON runs (ended_at);
CREATE TABLE IF NOT EXISTS workflows (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  workflow_id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  outcome TEXT,
  created_at INTEGER NOT NULL,
  ended_at INTEGER,
  step_count INTEGER NOT NULL,
  run_ids TEXT NOT NULL,
  callback TEXT
);
CREATE INDEX IF NOT EXISTS workflows_ended ON workflows (ended_at);
CREATE TABLE IF NOT EXISTS idempotency (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  body_hash TEXT NOT NULL,
  target_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
`;

interface RunRow {
  seq: number;
  run_id: string;
  workflow_id: string | null;
  step: string;
  state: RunView['state'];
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  result: string | null;
  json: string | null;
  output_file: string | null;
  error: string | null;
  callback: string | null;
}

interface WorkflowRow {
  workflow_id: string;
  state: WorkflowView['state'];
  outcome: string | null;
  created_at: number;
  ended_at: number | null;
  step_count: number;
  run_ids: string;
  callback: string | null;
}

const FINISHED = `state IN ('done', 'canceled')`;

/** Cursors are opaque to callers: the last listed run's sequence number, encoded. */
const encodeCursor = (seq: number): string => Buffer.from(`r${seq}`).toString('base64url');
function decodeCursor(cursor: string): number {
  const match = /^r([0-9]{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!match) throw new RendererError('RENDERER_ERR_HTTP_BAD_REQUEST', `cursor ${JSON.stringify(cursor.slice(0, 40))} is not one this renderer gave out; pass a page's nextCursor as it is`);
  return Number(match[1]);
}

function toView(row: RunRow): RunView {
  let result: RunResult | null = null;
  if (row.result !== null) {
    result = JSON.parse(row.result) as RunResult;
    result.json = row.json === null ? null : RawJson.stored(row.json);
  }
  return {
    runId: row.run_id,
    state: row.state,
    step: row.step,
    workflowId: row.workflow_id,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    result,
    outputFile: row.output_file,
    error: row.error === null ? null : (JSON.parse(row.error) as { code: ErrorCode; message: string }),
    callback: row.callback === null ? null : (JSON.parse(row.callback) as CallbackState),
  };
}

const toWorkflow = (row: WorkflowRow): WorkflowView => ({
  workflowId: row.workflow_id,
  state: row.state,
  outcome: row.outcome,
  createdAt: row.created_at,
  endedAt: row.ended_at,
  stepCount: row.step_count,
  runIds: JSON.parse(row.run_ids) as string[],
  callback: row.callback === null ? null : (JSON.parse(row.callback) as CallbackState),
});

export class SqliteRecordStore implements RecordStore {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(readonly file: string) {
    try {
      this.db = new Database(file);
      // Runs' results are the callers' data: the file is the renderer's alone (sqlite
      // gives its -wal and -shm files the same mode).
      chmodSync(file, 0o600);
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION)
        throw new Error(`it was written by a newer renderer (schema ${version}; this one knows ${SCHEMA_VERSION})`);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (error) {
      throw new RendererError('RENDERER_ERR_STATE_DIR', `the run records database ${file} cannot be used: ${(error as Error).message}; move it aside to start with an empty history`, { cause: error });
    }
    const db = this.db;
    this.statements = {
      putRun: db.prepare(`INSERT INTO runs (run_id, workflow_id, step, state, outcome, created_at, started_at, ended_at, result, json, output_file, error, callback, bytes)
        VALUES (@run_id, @workflow_id, @step, @state, @outcome, @created_at, @started_at, @ended_at, @result, @json, @output_file, @error, @callback, @bytes)
        ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, outcome = excluded.outcome, started_at = excluded.started_at, ended_at = excluded.ended_at,
          result = excluded.result, json = excluded.json, output_file = excluded.output_file, error = excluded.error, callback = excluded.callback, bytes = excluded.bytes`),
      getRun: db.prepare(`SELECT * FROM runs WHERE run_id = ?`),
      putWorkflow: db.prepare(`INSERT INTO workflows (workflow_id, state, outcome, created_at, ended_at, step_count, run_ids, callback)
        VALUES (@workflow_id, @state, @outcome, @created_at, @ended_at, @step_count, @run_ids, @callback)
        ON CONFLICT (workflow_id) DO UPDATE SET state = excluded.state, outcome = excluded.outcome, ended_at = excluded.ended_at, run_ids = excluded.run_ids, callback = excluded.callback`),
      getWorkflow: db.prepare(`SELECT * FROM workflows WHERE workflow_id = ?`),
      unfinishedRuns: db.prepare(`SELECT * FROM runs WHERE state IN ('queued', 'running') ORDER BY seq`),
      unfinishedWorkflows: db.prepare(`SELECT * FROM workflows WHERE state IN ('queued', 'running') ORDER BY seq`),
      pendingRuns: db.prepare(`SELECT * FROM runs WHERE callback IS NOT NULL AND json_extract(callback, '$.state') = 'pending' AND ${FINISHED} ORDER BY seq`),
      pendingWorkflows: db.prepare(`SELECT * FROM workflows WHERE callback IS NOT NULL AND json_extract(callback, '$.state') = 'pending' AND ${FINISHED} ORDER BY seq`),
      findKey: db.prepare(`SELECT body_hash, target_id, created_at FROM idempotency WHERE scope = ? AND key = ? AND created_at >= ?`),
      putKey: db.prepare(`INSERT OR REPLACE INTO idempotency (scope, key, body_hash, target_id, created_at) VALUES (?, ?, ?, ?, ?)`),
      outputFiles: db.prepare(`SELECT output_file FROM runs WHERE output_file IS NOT NULL`),
      expiredRuns: db.prepare(`SELECT run_id, output_file FROM runs WHERE ${FINISHED} AND ended_at < ? ORDER BY seq LIMIT 1000`),
      runCount: db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM runs`),
      oldestRuns: db.prepare(`SELECT run_id, output_file, bytes FROM runs WHERE ${FINISHED} ORDER BY seq LIMIT ?`),
      deleteRun: db.prepare(`DELETE FROM runs WHERE run_id = ?`),
      expiredWorkflows: db.prepare(`DELETE FROM workflows WHERE ${FINISHED} AND ended_at < ?`),
      workflowCount: db.prepare(`SELECT COUNT(*) AS n FROM workflows`),
      oldestWorkflows: db.prepare(`DELETE FROM workflows WHERE seq IN (SELECT seq FROM workflows WHERE ${FINISHED} ORDER BY seq LIMIT ?)`),
      expiredKeys: db.prepare(`DELETE FROM idempotency WHERE created_at < ?
        OR (target_id NOT IN (SELECT run_id FROM runs) AND target_id NOT IN (SELECT workflow_id FROM workflows))`),
    };
  }

  putRun(run: RunView): void {
    const result = run.result ? JSON.stringify({ ...run.result, json: null }) : null;
    const json = run.result?.json instanceof RawJson ? run.result.json.text : run.result?.json != null ? (RawJson.of(run.result.json)?.text ?? null) : null;
    this.statements.putRun.run({
      run_id: run.runId,
      workflow_id: run.workflowId,
      step: run.step,
      state: run.state,
      outcome: run.result?.outcome ?? null,
      created_at: run.createdAt,
      started_at: run.startedAt,
      ended_at: run.endedAt,
      result,
      json,
      output_file: run.outputFile,
      error: run.error ? JSON.stringify(run.error) : null,
      callback: run.callback ? JSON.stringify(run.callback) : null,
      bytes: (result?.length ?? 0) + (json?.length ?? 0),
    });
  }

  getRun(runId: string): RunView | null {
    const row = this.statements.getRun.get(runId) as RunRow | undefined;
    return row ? toView(row) : null;
  }

  listRuns(filter: RunFilter): { runs: RunView[]; nextCursor: string | null } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.cursor !== undefined) (where.push('seq < ?'), args.push(decodeCursor(filter.cursor)));
    if (filter.state !== undefined) (where.push('state = ?'), args.push(filter.state));
    if (filter.outcome !== undefined) (where.push('outcome = ?'), args.push(filter.outcome));
    if (filter.step !== undefined) (where.push('step = ?'), args.push(filter.step));
    if (filter.workflowId !== undefined) (where.push('workflow_id = ?'), args.push(filter.workflowId));
    // One more than asked: whether there is a next page, without a COUNT.
    const rows = this.db
      .prepare(`SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`)
      .all(...args, filter.limit + 1) as RunRow[];
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return { runs: page.map(toView), nextCursor: rows.length > filter.limit && last ? encodeCursor(last.seq) : null };
  }

  putWorkflow(workflow: WorkflowView): void {
    this.statements.putWorkflow.run({
      workflow_id: workflow.workflowId,
      state: workflow.state,
      outcome: workflow.outcome,
      created_at: workflow.createdAt,
      ended_at: workflow.endedAt,
      step_count: workflow.stepCount,
      run_ids: JSON.stringify(workflow.runIds),
      callback: workflow.callback ? JSON.stringify(workflow.callback) : null,
    });
  }

  getWorkflow(workflowId: string): WorkflowView | null {
    const row = this.statements.getWorkflow.get(workflowId) as WorkflowRow | undefined;
    return row ? toWorkflow(row) : null;
  }

  unfinished(): { runs: RunView[]; workflows: WorkflowView[] } {
    return {
      runs: (this.statements.unfinishedRuns.all() as RunRow[]).map(toView),
      workflows: (this.statements.unfinishedWorkflows.all() as WorkflowRow[]).map(toWorkflow),
    };
  }

  pendingCallbacks(): { runs: RunView[]; workflows: WorkflowView[] } {
    return {
      runs: (this.statements.pendingRuns.all() as RunRow[]).map(toView),
      workflows: (this.statements.pendingWorkflows.all() as WorkflowRow[]).map(toWorkflow),
    };
  }

  findIdempotencyKey(scope: string, key: string, notBefore: number): IdempotencyEntry | null {
    const row = this.statements.findKey.get(scope, key, notBefore) as { body_hash: string; target_id: string; created_at: number } | undefined;
    return row ? { bodyHash: row.body_hash, targetId: row.target_id, createdAt: row.created_at } : null;
  }

  putIdempotencyKey(scope: string, key: string, entry: IdempotencyEntry): void {
    this.statements.putKey.run(scope, key, entry.bodyHash, entry.targetId, entry.createdAt);
  }

  prune({ maxRuns, maxAgeMs, maxBytes, keyWindowMs, now }: Retention): { runs: number; files: string[] } {
    const files: string[] = [];
    let runs = 0;
    const forget = this.db.transaction((rows: { run_id: string; output_file: string | null }[]) => {
      for (const row of rows) {
        runs++;
        this.statements.deleteRun.run(row.run_id);
        if (row.output_file) files.push(row.output_file);
      }
    });
    // By age, then by count and bytes, oldest first; in bounded batches.
    for (let rows; (rows = this.statements.expiredRuns.all(now - maxAgeMs) as { run_id: string; output_file: string | null }[]).length > 0; ) forget(rows);
    for (;;) {
      const { n, bytes } = this.statements.runCount.get() as { n: number; bytes: number };
      if (n <= maxRuns && bytes <= maxBytes) break;
      const rows = this.statements.oldestRuns.all(Math.min(1000, Math.max(1, n - maxRuns))) as { run_id: string; output_file: string | null; bytes: number }[];
      if (rows.length === 0) break; // only unfinished runs are left
      if (n > maxRuns) forget(rows);
      else {
        // Over the byte budget: forget just enough of the oldest.
        let excess = bytes - maxBytes;
        const some: typeof rows = [];
        for (const row of rows) {
          if (excess <= 0) break;
          some.push(row);
          excess -= row.bytes;
        }
        forget(some.length > 0 ? some : rows.slice(0, 1));
      }
    }
    this.statements.expiredWorkflows.run(now - maxAgeMs);
    const { n: workflows } = this.statements.workflowCount.get() as { n: number };
    if (workflows > maxRuns) this.statements.oldestWorkflows.run(workflows - maxRuns);
    this.statements.expiredKeys.run(now - keyWindowMs);
    return { runs, files };
  }

  outputFiles(): Set<string> {
    return new Set((this.statements.outputFiles.all() as { output_file: string }[]).map((row) => row.output_file));
  }

  close(): void {
    this.db.close();
  }
}
