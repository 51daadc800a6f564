// Validation of untrusted Arrow files off the event loop: a few worker threads
// (validate-worker.ts), started when first needed and reused, each mapping the file
// itself. Linear as validation is (validate.ts), a 2 GiB output takes seconds of CPU,
// and before this a 72 KB upload held the daemon's loop for 7.6-30 s (/healthz
// unanswered). Each file also gets a deadline scaled by its size; a worker past it is
// terminated and replaced, and the file refused.
import { lstatSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ValidationRules } from '../config/config-schema.js';
import { MapError } from './mapped-file.js';
import { InvalidTable } from './invalid-table.js';
import type { TableSummary } from './validate.js';

export interface ValidationRequest {
  id: number;
  path: string;
  maxBytes: number;
  rules: ValidationRules;
}

export type ValidationReply =
  | { id: number; kind: 'ok'; summary: TableSummary }
  | { id: number; kind: 'invalid' | 'error' | 'warning'; message: string }
  | { id: number; kind: 'map'; code: string; message: string };

/** The file took longer than its deadline: refused, its worker terminated. */
export class ValidationTimeout extends Error {
  constructor(readonly limitMs: number) {
    super(`validating it took longer than ${(limitMs / 1000).toFixed(1)} s, the limit for its size`);
    this.name = 'ValidationTimeout';
  }
}

/**
 * 10 s, plus 1 s per 10 MB: at ~0.5 ms/MB (a plain table, or the worst a file may ask
 * for, on this project's 2-core machine) that is 200 times the work, room for a
 * loaded host and for reading a file that is no longer in the page cache.
 */
export const defaultDeadlineMs = (bytes: number): number => 10_000 + bytes / 10_000;

/**
 * Workers: one per core, at most 4 (validation is quick; beyond that it competes with
 * the steps). 0 validates in the caller's thread, without a deadline: for `renderer
 * run`, which has no event loop to keep free and whose start-up a worker (a thread,
 * an isolate, apache-arrow loaded again: ~100 ms on 2 cores) would slow by a fifth.
 */
export const defaultPoolSize = (cores = availableParallelism()): number => Math.max(1, Math.min(cores, 4));

const WORKER_URL = new URL('./validate-worker.js', import.meta.url);

interface Job {
  request: ValidationRequest;
  deadlineMs: number;
  resolve: (summary: TableSummary) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  timer: NodeJS.Timeout | undefined;
}

export interface ValidationPoolOptions {
  size?: number;
  /** The workers' nice value (the steps' one: sandbox.niceness). */
  niceness?: number;
  deadlineMs?: (bytes: number) => number;
  warn?: (message: string) => void;
}

/** A job's outcome from its reply: the summary, or the error the caller can tell apart. */
function settle(job: Job, reply: ValidationReply): void {
  if (reply.kind === 'ok') job.resolve(reply.summary);
  else if (reply.kind === 'invalid') job.reject(new InvalidTable(reply.message));
  else if (reply.kind === 'map') job.reject(new MapError(reply.message, reply.code));
  else job.reject(new Error(reply.message));
}

export class ValidationPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  readonly size: number;
  private readonly deadlineMs: (bytes: number) => number;
  private readonly warn: (message: string) => void;
  private readonly niceness: number;

  constructor(options: ValidationPoolOptions = {}) {
    this.size = options.size ?? defaultPoolSize();
    this.niceness = options.niceness ?? 10;
    this.deadlineMs = options.deadlineMs ?? defaultDeadlineMs;
    this.warn = options.warn ?? ((message) => process.emitWarning(message));
  }

  /**
   * Maps and validates `path` (a regular file, never followed if a link, at most
   * `maxBytes`) in a worker. Rejects with InvalidTable, MapError (the file could not be
   * mapped: its code says why) or ValidationTimeout.
   */
  validateFile(path: string, maxBytes: number, rules: ValidationRules): Promise<TableSummary> {
    if (this.closed) return Promise.reject(new Error('the validation pool is closed'));
    let bytes = 0;
    try {
      bytes = lstatSync(path).size; // never follows a link; the worker checks the file itself
    } catch {
      /* the worker reports it */
    }
    return new Promise((resolve, reject) => {
      const job: Job = { request: { id: this.nextId++, path, maxBytes, rules }, deadlineMs: this.deadlineMs(Math.min(bytes, maxBytes)), resolve, reject };
      if (this.size > 0) {
        this.queue.push(job);
        this.dispatch();
      } else this.inThread().then(({ validateFileNow }) => settle(job, validateFileNow(job.request, this.warn)), reject);
    });
  }

  /** Starts a worker now if none runs (or loads the validator, for size 0), so that the
   * first file does not wait for it to load. */
  warm(): void {
    if (this.closed) return;
    if (this.size === 0) void this.inThread();
    else if (this.slots.size === 0) this.spawn();
  }

  private loaded: Promise<typeof import('./validate-file.js')> | undefined;

  /** The validator, loaded once, only when this thread validates (it brings apache-arrow). */
  private inThread(): Promise<typeof import('./validate-file.js')> {
    this.loaded ??= import('./validate-file.js');
    return this.loaded;
  }

  /** Terminates every worker; jobs still queued or running are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('the validation pool was closed'));
    await Promise.all([...this.slots].map((slot) => this.retire(slot, new Error('the validation pool was closed'))));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = [...this.slots].find((s) => s.job === null);
      if (!slot) {
        if (this.slots.size >= this.size) return;
        slot = this.spawn();
      }
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.ref(); // a job in flight keeps the process alive until it answers
      slot.timer = setTimeout(() => void this.retire(slot, new ValidationTimeout(job.deadlineMs)), job.deadlineMs);
      slot.worker.postMessage(job.request);
    }
  }

  private spawn(): Slot {
    // No flags of the parent's (a worker inherits process.execArgv): it needs none, and
    // some (--input-type, --eval) would stop it from starting.
    const worker = new Worker(WORKER_URL, { workerData: { niceness: this.niceness }, execArgv: [] });
    const slot: Slot = { worker, job: null, timer: undefined };
    worker.on('message', (reply: ValidationReply) => this.answer(slot, reply));
    worker.on('error', (error) => void this.retire(slot, new Error(`the validation worker failed: ${error.message}`)));
    worker.on('exit', (code) => void this.retire(slot, new Error(`the validation worker exited (code ${code})`)));
    // An idle worker never keeps `renderer run` from exiting. After the listeners: a
    // 'message' listener refs the worker's port again.
    worker.unref();
    this.slots.add(slot);
    return slot;
  }

  private answer(slot: Slot, reply: ValidationReply): void {
    const job = slot.job;
    if (!job || reply.id !== job.request.id) return;
    if (reply.kind === 'warning') return this.warn(reply.message);
    clearTimeout(slot.timer);
    slot.job = null;
    slot.worker.unref();
    settle(job, reply);
    this.dispatch();
  }

  /** Ends a worker (past its deadline, failed, or the pool closing) and its job. */
  private async retire(slot: Slot, reason: Error): Promise<void> {
    if (!this.slots.delete(slot)) return;
    clearTimeout(slot.timer);
    const job = slot.job;
    slot.job = null;
    job?.reject(reason);
    await slot.worker.terminate();
    if (!this.closed) this.dispatch();
  }
}
