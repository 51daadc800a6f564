// Idempotency-Key on POST /v1/runs and /v1/workflows/run: a client that retries after a
// timeout or a dropped connection gets the first request's run (same id, same result)
// instead of running the step twice. The key is remembered with a hash of the request
// for `server.idempotencyWindowSeconds`; the same key with another body is a 422, so a
// client bug that reuses keys cannot silently return someone else's result.
import { createHash } from 'node:crypto';
import { RendererError } from '../errors.js';
import type { RecordStore } from '../store/record-store.js';

/** Printable ASCII without spaces, as most clients generate (UUIDs, ULIDs, hashes). */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's key, or null without one; a malformed one is a 400. */
export function idempotencyKey(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  if (Array.isArray(header) || !KEY.test(header))
    throw new RendererError('RENDERER_ERR_HTTP_BAD_REQUEST', 'the Idempotency-Key header must be one value of 1 to 255 printable ASCII characters without spaces (a UUID, say)');
  return header;
}

/** JSON with object keys sorted, so key order in a retried body does not matter. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

export function requestHash(body: unknown): string {
  let text: string;
  try {
    text = canonical(body);
  } catch (error) {
    // Only nesting deep enough to exhaust the stack gets here.
    if (error instanceof RangeError) throw new RendererError('RENDERER_ERR_HTTP_BAD_REQUEST', 'the body is nested too deeply to be used with an Idempotency-Key');
    throw error;
  }
  return createHash('sha256').update(text).digest('hex');
}

export class IdempotencyKeys {
  constructor(
    private readonly store: RecordStore,
    private readonly windowMs: number,
  ) {}

  /** The id the first request with this key created, or null if there was none in the window. */
  replayOf(scope: string, key: string, hash: string): string | null {
    const entry = this.store.findIdempotencyKey(scope, key, Date.now() - this.windowMs);
    if (!entry) return null;
    if (entry.bodyHash !== hash)
      throw new RendererError('RENDERER_ERR_IDEMPOTENCY_KEY_REUSED', `the Idempotency-Key ${JSON.stringify(key)} was first used ${new Date(entry.createdAt).toISOString()} with a different request body`);
    return entry.targetId;
  }

  remember(scope: string, key: string, hash: string, targetId: string): void {
    this.store.putIdempotencyKey(scope, key, { bodyHash: hash, targetId, createdAt: Date.now() });
  }
}
