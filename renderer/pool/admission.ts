// Admission control: at most `maxConcurrent` runs at once and a bounded queue behind
// them. When the queue is full a new run is refused at once (503 with Retry-After)
// rather than accepted into unbounded memory; a queued run that waits past its
// deadline is refused too. Memory never grows with offered load.
import { RendererError } from '../errors.js';

interface Waiter {
  admit: () => void;
  reject: (error: Error) => void;
}

export class Admission {
  private running = 0;
  private readonly queue: Waiter[] = [];
  /** Runs refused because the queue was full. */
  rejected = 0;

  constructor(
    readonly maxConcurrent: number,
    readonly queueSize: number,
    private readonly queueTimeoutMs: number,
  ) {}

  get active(): number {
    return this.running;
  }

  get depth(): number {
    return this.queue.length;
  }

  /** Throws QUEUE_FULL if a run submitted now could neither start nor queue. */
  check(): void {
    if (this.running >= this.maxConcurrent && this.queue.length >= this.queueSize) {
      this.rejected++;
      throw this.full();
    }
  }

  private full(): RendererError {
    return new RendererError(
      'RENDERER_ERR_QUEUE_FULL',
      `${this.running} runs are running and ${this.queue.length} are queued, the most this renderer takes`,
    );
  }

  /** Throws QUEUE_FULL now, or waits for a slot; call the returned function once done. */
  async enter(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw Object.assign(new Error('canceled before it was admitted'), { name: 'AbortError' });
    const release = (): void => {
      const next = this.queue.shift();
      if (next) next.admit();
      else this.running--;
    };
    if (this.running < this.maxConcurrent) {
      this.running++;
      return once(release);
    }
    this.check();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        admit: () => {
          cleanup();
          resolve(once(release)); // the slot passes straight to this waiter
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      const timer = setTimeout(
        () => waiter.reject(new RendererError('RENDERER_ERR_DEADLINE', `the run waited ${this.queueTimeoutMs} ms in the queue without starting`)),
        this.queueTimeoutMs,
      );
      const onAbort = (): void => waiter.reject(Object.assign(new Error('canceled while queued'), { name: 'AbortError' }));
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
      };
      this.queue.push(waiter);
    });
  }

  /** A hint for Retry-After, in seconds: longer the fuller the queue. */
  retryAfterSeconds(): number {
    return Math.min(60, 1 + Math.ceil(this.queue.length / Math.max(1, this.maxConcurrent)));
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}
