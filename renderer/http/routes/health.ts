// Liveness, readiness and metrics.
import type { FastifyInstance } from 'fastify';
import type { Daemon } from '../../daemon/daemon.js';

export function registerHealthRoutes(app: FastifyInstance, daemon: Daemon): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready only when steps can run: the sandbox works and, with a pool, a child is warm.
  app.get('/readyz', async (_request, reply) => {
    const problems = daemon.readinessProblems();
    if (problems.length) return reply.code(503).send({ ready: false, problems });
    return { ready: true };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', daemon.metrics.contentType);
    return daemon.metrics.text();
  });
}
