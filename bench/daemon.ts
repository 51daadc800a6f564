// A `renderer serve` daemon for a benchmark: a scratch directory of its own (config,
// state dir, and any files the benchmark puts there), a random loopback port, ready
// (GET /readyz) before it is handed over; stop() ends it and removes the directory.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../renderer/paths.js';

export interface BenchDaemon {
  readonly url: string;
  readonly pid: number;
  /** The scratch directory, mode 755. */
  readonly dir: string;
  stop(): Promise<void>;
}

/** What a POST /v1/runs answered: the result's outcome, or what stood in its way. */
export interface RunAnswer {
  /** `ok`, another outcome, `http 503 RENDERER_ERR_…`, or `request failed`. */
  outcome: string;
  /** The result's error (else its signal or exit code), or the HTTP error's message. */
  error: string | null;
}

/** `config` is merged over a scratch state dir, port 0 and info logs (the port is read from the log). */
export async function startDaemon(name: string, config: { server?: Record<string, unknown>; [key: string]: unknown } = {}): Promise<BenchDaemon> {
  const dir = mkdtempSync(`/tmp/renderer-bench-${name}-`);
  chmodSync(dir, 0o755);
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ stateDir: join(dir, 'state'), log: { level: 'info' }, ...config, server: { port: 0, ...config.server } }));
  const daemon = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'renderer.js'), 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => daemon.on('exit', resolve));
  let log = '';
  daemon.stdout.on('data', (c: Buffer) => (log += c));
  daemon.stderr.on('data', (c: Buffer) => (log += c));
  const stop = async (): Promise<void> => {
    daemon.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200 && daemon.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const port = /"address":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(log)?.[1];
    if (port && (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)))
      return { url: `http://127.0.0.1:${port}`, pid: daemon.pid!, dir, stop };
  }
  await stop();
  throw new Error(`daemon did not become ready:\n${log}`);
}

/** POST /v1/runs and wait for the result; never throws: a refusal or a failed request is an answer too. */
export async function postRun(url: string, body: string): Promise<RunAnswer> {
  try {
    const response = await fetch(`${url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answer = (await response.json()) as { outcome?: string; exitCode?: number | null; signal?: string | null; error?: string | { code: string; message: string } | null };
    if (answer.outcome) {
      const exit = answer.signal ? `signal ${answer.signal}` : answer.exitCode ? `exit code ${answer.exitCode}` : null;
      return { outcome: answer.outcome, error: typeof answer.error === 'string' ? answer.error : exit };
    }
    const error = typeof answer.error === 'object' ? answer.error : null;
    return { outcome: `http ${response.status} ${error?.code ?? ''}`.trim(), error: error?.message ?? null };
  } catch (error) {
    return { outcome: 'request failed', error: (error as Error).message };
  }
}

/**
 * Waits until every pool child is warm and no run is active or queued: the state a
 * benchmark level should start from, whatever the previous level left refilling.
 */
export async function settleDaemon(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const status = (await fetch(`${url}/v1/status`).then((r) => r.json())) as { pool: { size: number; warm: number }; queue: { active: number; depth: number } };
    if (status.pool.warm === status.pool.size && status.queue.active === 0 && status.queue.depth === 0) return;
    last = { pool: status.pool, queue: status.queue };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daemon did not settle in ${timeoutMs} ms: ${JSON.stringify(last)}`);
}
