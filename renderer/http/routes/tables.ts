// POST /v1/tables: upload an Arrow IPC file to use as an input. DELETE to drop it early.
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { RendererError } from '../../errors.js';
import type { Daemon } from '../../daemon/daemon.js';
import { ARROW_FILE } from '../server.js';

export function registerTableRoutes(app: FastifyInstance, daemon: Daemon): void {
  app.post('/v1/tables', async (request, reply) => {
    const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (type !== ARROW_FILE && type !== 'application/octet-stream')
      throw new RendererError('RENDERER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', `send the table with Content-Type ${ARROW_FILE}`);
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (declared > daemon.config.server.maxUploadBytes)
      throw new RendererError('RENDERER_ERR_HTTP_BODY_TOO_LARGE', `the table is ${declared} bytes; the upload limit is ${daemon.config.server.maxUploadBytes}`);
    const table = await daemon.tables.put(request.body as Readable);
    return reply.code(201).send(table);
  });

  app.delete<{ Params: { tableId: string } }>('/v1/tables/:tableId', async (request, reply) => {
    if (!daemon.tables.delete(request.params.tableId))
      throw new RendererError('RENDERER_ERR_TABLE_NOT_FOUND', `no table with id ${JSON.stringify(request.params.tableId)}`);
    return reply.code(204).send();
  });
}
