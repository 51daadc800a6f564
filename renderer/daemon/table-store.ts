// Uploaded input tables: streamed to disk (never buffered whole), capped in size,
// validated as Arrow IPC files (by a worker thread, never on the daemon's loop) before
// they are accepted, kept until they expire.
import { randomUUID } from 'node:crypto';
import { chmodSync, createWriteStream, existsSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { ValidationRules } from '../config/config-schema.js';
import { RendererError } from '../errors.js';
import { MapError } from '../arrow/mapped-file.js';
import { InvalidTable } from '../arrow/invalid-table.js';
import type { TableSummary } from '../arrow/validate.js';
import { ValidationTimeout, type ValidationPool } from '../arrow/validation-pool.js';
import { ensurePrivateDir } from '../state-dir.js';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export interface StoredTable extends TableSummary {
  tableId: string;
  expiresAt: string;
}

export class TableStore {
  readonly dir: string;

  constructor(
    stateDir: string,
    private readonly maxBytes: number,
    private readonly ttlSeconds: number,
    private readonly rules: ValidationRules,
    private readonly validator: ValidationPool,
  ) {
    this.dir = ensurePrivateDir(join(stateDir, 'tables'));
  }

  /** Stores the body of POST /v1/tables; refuses it if too large or not a valid table. */
  async put(body: Readable): Promise<StoredTable> {
    const tableId = randomUUID();
    const partial = join(this.dir, `.${tableId}.part`);
    let size = 0;
    const cap = this.maxBytes;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > cap) callback(new RendererError('RENDERER_ERR_HTTP_BODY_TOO_LARGE', `the table is larger than the upload limit of ${cap} bytes`));
        else callback(null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(partial, { mode: 0o644 }));
      let summary: TableSummary;
      try {
        summary = await this.validator.validateFile(partial, cap, this.rules);
      } catch (error) {
        if (error instanceof InvalidTable) throw new RendererError('RENDERER_ERR_TABLE_INVALID', `the uploaded table is invalid: ${error.message}`);
        if (error instanceof ValidationTimeout) throw new RendererError('RENDERER_ERR_TABLE_VALIDATION_TIMEOUT', `the uploaded table was refused: ${error.message}`);
        if (error instanceof MapError) throw error;
        // A worker that died on the file (out of memory, say): refused like the file.
        throw new RendererError('RENDERER_ERR_TABLE_INVALID', `the uploaded table could not be validated: ${(error as Error).message}`);
      }
      chmodSync(partial, 0o644);
      const path = this.path(tableId);
      renameSync(partial, path);
      return { tableId, ...summary, expiresAt: new Date(Date.now() + this.ttlSeconds * 1000).toISOString() };
    } catch (error) {
      rmSync(partial, { force: true });
      throw error;
    }
  }

  private path(tableId: string): string {
    return join(this.dir, `${tableId}.arrow`);
  }

  /** The file of a live table; throws TABLE_NOT_FOUND for unknown or expired ids. */
  resolve(tableId: string): string {
    const path = ID.test(tableId) ? this.path(tableId) : null;
    if (!path || !existsSync(path) || this.expired(path))
      throw new RendererError('RENDERER_ERR_TABLE_NOT_FOUND', `no table with id ${JSON.stringify(tableId)} (unknown or expired)`);
    // Using a table keeps it alive for another TTL.
    const now = new Date();
    utimesSync(path, now, now);
    return path;
  }

  delete(tableId: string): boolean {
    if (!ID.test(tableId) || !existsSync(this.path(tableId))) return false;
    rmSync(this.path(tableId));
    return true;
  }

  private expired(path: string): boolean {
    return Date.now() - statSync(path).mtimeMs > this.ttlSeconds * 1000;
  }

  /** Removes expired tables and half-uploaded files; returns how many. */
  sweep(): number {
    let removed = 0;
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      if (name.endsWith('.part') ? Date.now() - statSync(path).mtimeMs > 3_600_000 : this.expired(path)) {
        rmSync(path, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
