// Maps a file and validates it, answering in the pool's message format: what each
// validation worker does with a request, and what `renderer run` (which has no event
// loop to keep free) does in its own thread. One path either way.
import { mapFile, MapError } from './mapped-file.js';
import { InvalidTable, validateArrowFile } from './validate.js';
import type { ValidationReply, ValidationRequest } from './validation-pool.js';

export function validateFileNow(request: ValidationRequest, warn: (message: string) => void): ValidationReply {
  let mapped: ReturnType<typeof mapFile> | undefined;
  try {
    mapped = mapFile(request.path, request.maxBytes, warn);
    return { id: request.id, kind: 'ok', summary: validateArrowFile(mapped.bytes, request.rules) };
  } catch (error) {
    if (error instanceof MapError) return { id: request.id, kind: 'map', code: error.code, message: error.message };
    if (error instanceof InvalidTable) return { id: request.id, kind: 'invalid', message: error.message };
    return { id: request.id, kind: 'error', message: (error as Error).message };
  } finally {
    mapped?.close();
  }
}
