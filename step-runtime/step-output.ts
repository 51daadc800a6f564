// Turning what render() returned into the protocol's result: a table written as an
// Arrow IPC file, a JSON value, user-facing errors. Anything else is the step's mistake
// and becomes a step_error with a message that says what was expected.
import type * as Arrow from 'apache-arrow';
import { closeSync, openSync } from 'node:fs';
import { writeAllSync } from './io.js';

export class StepContractError extends Error {}

export interface Interpreted {
  table: Arrow.Table | null;
  json: string | null;
  errors: string[];
}

const RESULT_KEYS = new Set(['table', 'json', 'errors']);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object of class ${(value as object).constructor?.name ?? 'none'}`;
  return `a ${typeof value}`;
}

function toTable(arrow: typeof Arrow, value: unknown, where: string): Arrow.Table | null {
  if (value === undefined || value === null) return null;
  if (value instanceof arrow.Table) return value;
  if (value instanceof arrow.RecordBatch) return new arrow.Table(value);
  throw new StepContractError(`${where} is ${describe(value)}; expected an apache-arrow Table (use ctx.arrow to build one)`);
}

export function interpretReturn(arrow: typeof Arrow, value: unknown): Interpreted {
  if (value === undefined || value === null) return { table: null, json: null, errors: [] };
  if (value instanceof arrow.Table || value instanceof arrow.RecordBatch)
    return { table: toTable(arrow, value, 'render()'), json: null, errors: [] };
  if (typeof value !== 'object' || Array.isArray(value))
    throw new StepContractError(
      `render() returned ${describe(value)}; expected a Table, an object { table?, json?, errors? }, or nothing`,
    );
  const record = value as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !RESULT_KEYS.has(key));
  if (unknown.length)
    throw new StepContractError(
      `render() returned an object with unknown key(s) ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: table, json, errors`,
    );
  let json: string | null = null;
  if (record.json !== undefined && record.json !== null) {
    try {
      json = JSON.stringify(record.json) ?? null;
    } catch (error) {
      throw new StepContractError(`the returned json is not JSON-serialisable: ${(error as Error).message}`);
    }
    if (json === null) throw new StepContractError(`the returned json is ${describe(record.json)}, which JSON cannot represent`);
  }
  const errors = record.errors ?? [];
  if (!Array.isArray(errors) || !errors.every((e) => typeof e === 'string'))
    throw new StepContractError(`the returned errors must be an array of strings, got ${describe(errors)}`);
  return { table: toTable(arrow, record.table, 'the returned table'), json, errors: errors as string[] };
}

/**
 * Streams `table` into `path` as an Arrow IPC file, batch by batch: the file is never
 * assembled in memory. The path is the run's pre-created output file.
 */
export function writeTableFile(arrow: typeof Arrow, table: Arrow.Table, path: string): void {
  const fd = openSync(path, 'w');
  try {
    class FdSink extends arrow.AsyncByteQueue {
      override write(chunk: Parameters<Arrow.AsyncByteQueue["write"]>[0]): void {
        const bytes = arrow.util.toUint8Array(chunk);
        if (bytes.byteLength > 0) writeAllSync(fd, bytes);
      }
    }
    const writer = new arrow.RecordBatchFileWriter();
    writer.reset(new FdSink() as never, table.schema);
    for (const batch of table.batches) writer.write(batch);
    // A table with no batches still needs its schema: reset(schema) above wrote it.
    writer.finish();
    // No fsync: the permission model forbids it, and the renderer fsyncs the file when
    // it hands it back; until then the page cache is what it reads.
  } finally {
    closeSync(fd);
  }
}
