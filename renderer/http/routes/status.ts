// A summary of the daemon for ops: `renderer status` and the status page read it.
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../paths.js';
import type { Daemon } from '../../daemon/daemon.js';
import { presentRun } from '../present.js';

export function registerStatusRoutes(app: FastifyInstance, daemon: Daemon): void {
  app.get('/v1/status', async () => ({
    ...(await daemon.status()),
    recentRuns: daemon.executor.registry.list({ limit: 50 }).runs.map((record) => {
      const { runId, state, step, createdAt, endedAt, result } = presentRun(record);
      return { runId, state, step, createdAt, endedAt, outcome: result?.outcome ?? null, exitCode: result?.exitCode ?? null, signal: result?.signal ?? null, durationMs: result?.durationMs ?? null, peakMemoryBytes: result?.peakMemoryBytes ?? null };
    }),
  }));
}

/** The status page's files, read once: plain HTML, JS and CSS, no build step. */
const STATIC_FILES: Record<string, string> = { '/': 'index.html', '/status.js': 'status.js', '/status.css': 'status.css' };
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

export function registerStatusPage(app: FastifyInstance): void {
  // Browsers ask for it unprompted; there is none.
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  for (const [url, file] of Object.entries(STATIC_FILES)) {
    const body = readFileSync(join(PACKAGE_ROOT, 'renderer', 'http', 'static', file));
    const type = TYPES[file.split('.').pop()!]!;
    app.get(url, async (_request, reply) =>
      reply
        .header('content-type', type)
        .header('cache-control', 'no-cache')
        // The page loads only its own files and talks only to this origin.
        .header('content-security-policy', "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:")
        .send(body),
    );
  }
}
