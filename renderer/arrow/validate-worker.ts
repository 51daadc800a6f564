// A validation worker (validation-pool.ts starts it): maps each file it is sent, on its
// own thread, and validates it. Whatever the file makes the validator do, the daemon's
// event loop goes on answering; a file that takes too long gets this thread terminated.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { mapFile, MapError } from './mapped-file.js';
import { InvalidTable, validateArrowFile } from './validate.js';
import type { ValidationReply, ValidationRequest } from './validation-pool.js';

const port = parentPort;
if (!port) throw new Error('validate-worker.js runs as a worker thread (validation-pool.ts)');
// This thread only (Linux keeps a nice value per thread): validation yields the CPU to
// the daemon's event loop as the steps do, so /healthz is answered on a busy host too.
setPriority((workerData as { niceness: number }).niceness);

port.on('message', (request: ValidationRequest) => {
  const reply = (message: ValidationReply): void => port.postMessage(message);
  let mapped: ReturnType<typeof mapFile> | undefined;
  try {
    mapped = mapFile(request.path, request.maxBytes, (warning) => reply({ id: request.id, kind: 'warning', message: warning }));
    reply({ id: request.id, kind: 'ok', summary: validateArrowFile(mapped.bytes, request.rules) });
  } catch (error) {
    if (error instanceof MapError) reply({ id: request.id, kind: 'map', code: error.code, message: error.message });
    else if (error instanceof InvalidTable) reply({ id: request.id, kind: 'invalid', message: error.message });
    else reply({ id: request.id, kind: 'error', message: (error as Error).message });
  } finally {
    mapped?.close();
  }
});
