// A summary of the daemon for ops: `renderer status` and the status page read it.
import type { FastifyInstance } from 'fastify';
import type { Daemon } from '../../daemon/daemon.js';
import { presentRun } from '../present.js';

export function registerStatusRoutes(app: FastifyInstance, daemon: Daemon): void {
  app.get('/v1/status', async () => ({
    ...daemon.status(),
    recentRuns: daemon.executor.registry.recent(50).map((record) => {
      const { runId, state, step, createdAt, endedAt, result } = presentRun(record);
      return { runId, state, step, createdAt, endedAt, outcome: result?.outcome ?? null, exitCode: result?.exitCode ?? null, signal: result?.signal ?? null, durationMs: result?.durationMs ?? null, peakMemoryBytes: result?.peakMemoryBytes ?? null };
    }),
  }));
}
