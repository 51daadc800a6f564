// The HTTP API on fastify. JSON in, JSON out; every error has one shape,
//   {"error": {"code": "RENDERER_ERR_...", "message": "...", "hint": "..."}}
// with a 4xx status for the caller's mistakes and 5xx only for the renderer's own.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { Readable } from 'node:stream';
import { SchemaError, validate, type Schema } from '../config/schema.js';
import { ERRORS, isRendererError, RendererError, type ErrorCode } from '../errors.js';
import type { Daemon } from '../daemon/daemon.js';
import { stringifyJson } from '../store/raw-json.js';
import { hostChecker } from './host-check.js';
import { registerHealthRoutes } from './routes/health.js';
import { Callbacks } from './callbacks.js';
import { IdempotencyKeys } from './idempotency.js';
import { registerRunRoutes } from './routes/runs.js';
import { registerWorkflowRoutes } from './routes/workflows.js';
import { registerStatusPage, registerStatusRoutes } from './routes/status.js';
import { registerTableRoutes } from './routes/tables.js';

export const ARROW_FILE = 'application/vnd.apache.arrow.file';
/** Reachable without the token: probes from load balancers and the page's own files. */
const PUBLIC = new Set(['/healthz', '/readyz', '/', '/status.js', '/status.css', '/favicon.ico']);

export function sendError(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  return reply.code(ERRORS[code].status).send({ error: { code, message, hint: ERRORS[code].hint } });
}

/** Validates a body or query against `schema`; SchemaError becomes a 400 in onError. */
export const parse = <T>(schema: Schema, value: unknown, what: string): T => {
  try {
    return validate<T>(schema, value ?? (schema.type === 'object' ? {} : value));
  } catch (error) {
    if (error instanceof SchemaError) throw new RendererError('RENDERER_ERR_HTTP_BAD_REQUEST', `${what}: ${error.message}`);
    throw error;
  }
};

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function buildServer(daemon: Daemon): FastifyInstance {
  const { server } = daemon.config;
  const app: FastifyInstance = Fastify({
    loggerInstance: daemon.log.child({ component: 'http' }) as FastifyBaseLogger,
    // One log line per run is ours to write; per-request lines would double them.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: server.bodyLimitBytes,
    // Slow-loris protection: a request must arrive whole within this time (408 else).
    // Only the request: a synchronous run may take as long as its timeoutMs to answer.
    requestTimeout: server.requestTimeoutMs,
    // Node checks that timeout only every connectionsCheckingInterval (30 s by default).
    serverFactory: (handler) =>
      createServer({ requestTimeout: server.requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, server.requestTimeoutMs) }, handler),
    return503OnClosing: true,
    // Ids in URLs are checked by the routes; anything odd is a plain 404.
    routerOptions: { maxParamLength: 200 },
  });

  // A run's JSON is held as text (raw-json.ts) and written into replies as it is.
  app.setReplySerializer((payload) => stringifyJson(payload));

  // JSON bodies: the parse error says what is wrong, and a "__proto__" key is refused by
  // name (prototype poisoning; the validator would keep it as plain data anyway).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string, (key, value: unknown) => {
        if (key === '__proto__') throw new Error('a "__proto__" key is not accepted');
        return value;
      }));
    } catch (error) {
      done(new RendererError('RENDERER_ERR_HTTP_BAD_REQUEST', `the body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });

  // Uploads are streamed to disk by the route, never buffered here.
  app.addContentTypeParser([ARROW_FILE, 'application/octet-stream'], (_request: FastifyRequest, payload: Readable, done: (err: null, body: Readable) => void) => done(null, payload));

  const hostAllowed = hostChecker(server, daemon.token !== null);
  if (hostAllowed) {
    app.addHook('onRequest', async (request, reply) => {
      if (!hostAllowed(request.headers.host))
        return sendError(reply, 'RENDERER_ERR_HTTP_HOST_NOT_ALLOWED', `this renderer does not answer to the host name ${JSON.stringify(request.headers.host)}`);
    });
  }

  if (daemon.token) {
    const token = daemon.token;
    app.addHook('onRequest', async (request, reply) => {
      if (PUBLIC.has(request.url.split('?')[0]!)) return;
      if (!tokenMatches(request.headers.authorization, token))
        return sendError(reply, 'RENDERER_ERR_HTTP_UNAUTHORIZED', request.headers.authorization ? 'the bearer token is wrong' : 'this renderer requires a bearer token');
    });
  }

  app.addHook('onRequest', async (_request, reply) => {
    if (daemon.stopping) return sendError(reply, 'RENDERER_ERR_SHUTTING_DOWN', 'the renderer is shutting down and takes no new requests');
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, 'RENDERER_ERR_HTTP_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isRendererError(error)) {
      if (error.code === 'RENDERER_ERR_QUEUE_FULL') reply.header('retry-after', String(daemon.executor.admission.retryAfterSeconds()));
      return sendError(reply, error.code, error.message);
    }
    // fastify's own refusals: body too large, wrong media type, malformed JSON.
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, 'RENDERER_ERR_HTTP_BODY_TOO_LARGE', `the body is larger than ${server.bodyLimitBytes} bytes`);
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return sendError(reply, 'RENDERER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted here`);
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500)
      return sendError(reply, 'RENDERER_ERR_HTTP_BAD_REQUEST', error.message);
    request.log.error({ err: error, url: request.url }, 'internal error');
    return sendError(reply, 'RENDERER_ERR_INTERNAL', 'the renderer failed to handle this request');
  });

  registerHealthRoutes(app, daemon);
  registerTableRoutes(app, daemon);
  const { registry } = daemon.executor;
  const deps = {
    callbacks: new Callbacks(daemon.config.callbacks, registry, daemon.log.child({ component: 'callbacks' })),
    idempotency: new IdempotencyKeys(registry.store, server.idempotencyWindowSeconds * 1000),
  };
  // Deliveries a previous daemon left pending resume once this one serves (after the
  // daemon's start-up marked its unfinished runs interrupted); they stop with the server.
  app.addHook('onReady', async () => {
    const resumed = deps.callbacks.resume();
    if (resumed > 0) daemon.log.info({ resumed }, 'resuming pending callbacks');
  });
  app.addHook('onClose', async () => deps.callbacks.close());
  registerRunRoutes(app, daemon, deps);
  registerWorkflowRoutes(app, daemon, deps);
  registerStatusRoutes(app, daemon);
  registerStatusPage(app);
  return app;
}
