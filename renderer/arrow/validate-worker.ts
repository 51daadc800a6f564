// A validation worker (validation-pool.ts starts it): maps each file it is sent, on its
// own thread, and validates it. Whatever the file makes the validator do, the daemon's
// event loop goes on answering; a file that takes too long gets this thread terminated.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { validateFileNow } from './validate-file.js';
import type { ValidationRequest } from './validation-pool.js';

const port = parentPort;
if (!port) throw new Error('validate-worker.js runs as a worker thread (validation-pool.ts)');
// This thread only (Linux keeps a nice value per thread): validation yields the CPU to
// the daemon's event loop as the steps do, so /healthz is answered on a busy host too.
setPriority((workerData as { niceness: number }).niceness);

port.on('message', (request: ValidationRequest) =>
  port.postMessage(validateFileNow(request, (warning) => port.postMessage({ id: request.id, kind: 'warning', message: warning }))),
);
