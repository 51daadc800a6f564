// renderer status [--url URL | --socket PATH] [--json] [--watch]
// A terminal view of a running daemon, from its API: readiness, pool, queue, outcome
// counts, recent runs, schedules. The token, if the daemon needs one, comes from
// RENDERER_TOKEN. Exit 1 when the daemon cannot be reached.
import { request } from 'node:http';
import { parseFlags, reportUsage, UsageError, writeLine } from './args.js';

interface Status {
  uptimeSeconds: number;
  ready: boolean;
  problems: string[];
  sandbox: string;
  pool: { size: number; warm: number };
  queue: { active: number; depth: number; maxConcurrent: number; size: number; rejected: number };
  outcomes: Record<string, number>;
  recentRuns: Array<{ runId: string; step: string; state: string; outcome: string | null; exitCode: number | null; signal: string | null; durationMs: number | null; peakMemoryBytes: number | null; endedAt: string | null }>;
  schedules: Array<{ name: string; cron: string; lastSuccessAt: string | null; lastOutcome: string | null; consecutiveFailures: number; skippedOverlaps: number; nextRunAt: string | null }>;
}

function fetchStatus(target: { url?: string; socket?: string }): Promise<Status> {
  const token = process.env.RENDERER_TOKEN;
  const url = new URL('/v1/status', target.url ?? 'http://127.0.0.1:8080');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...(target.socket ? { socketPath: target.socket } : { host: url.hostname, port: url.port }),
        path: url.pathname,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          try {
            const parsed = JSON.parse(body) as Status & { error?: { message: string } };
            if (res.statusCode !== 200) reject(new Error(parsed.error?.message ?? `HTTP ${res.statusCode}`));
            else resolve(parsed);
          } catch {
            reject(new Error(`the answer is not JSON (HTTP ${res.statusCode})`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

const pad = (s: string, n: number): string => (s.length >= n ? s.slice(0, n - 1) + ' ' : s + ' '.repeat(n - s.length));
const ms = (v: number | null): string => (v === null ? '-' : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`);
const mib = (v: number | null): string => (v === null ? '-' : `${(v / 1048576).toFixed(1)} MiB`);
const clock = (iso: string | null): string => (iso ? new Date(iso).toISOString().slice(11, 19) : '-');

export function formatStatus(status: Status, where: string): string {
  const lines = [
    `renderer at ${where}: ${status.ready ? 'ready' : `NOT READY (${status.problems.join('; ')})`}, up ${status.uptimeSeconds} s`,
    `sandbox ${status.sandbox}`,
    `pool ${status.pool.warm}/${status.pool.size} warm · ${status.queue.active} running, ${status.queue.depth} waiting (at most ${status.queue.maxConcurrent} at once, ${status.queue.size} queued) · ${status.queue.rejected} refused`,
    `outcomes since start: ${Object.entries(status.outcomes).map(([o, n]) => `${o} ${n}`).join(' · ') || 'none yet'}`,
    '',
    `${pad('RUN', 10)}${pad('STEP', 18)}${pad('OUTCOME', 16)}${pad('EXIT', 9)}${pad('DURATION', 11)}${pad('PEAK MEM', 11)}ENDED`,
    ...status.recentRuns.slice(0, 15).map(
      (r) => `${pad(r.runId.slice(0, 8), 10)}${pad(r.step, 18)}${pad(r.outcome ?? r.state, 16)}${pad(r.signal ?? String(r.exitCode ?? '-'), 9)}${pad(ms(r.durationMs), 11)}${pad(mib(r.peakMemoryBytes), 11)}${clock(r.endedAt)}`,
    ),
  ];
  if (status.schedules.length) {
    lines.push('', `${pad('SCHEDULE', 18)}${pad('CRON', 16)}${pad('LAST SUCCESS', 14)}${pad('FAILURES', 10)}${pad('SKIPPED', 9)}NEXT`);
    for (const s of status.schedules)
      lines.push(`${pad(s.name, 18)}${pad(s.cron, 16)}${pad(clock(s.lastSuccessAt), 14)}${pad(String(s.consecutiveFailures), 10)}${pad(String(s.skippedOverlaps), 9)}${clock(s.nextRunAt)}`);
  }
  return lines.join('\n');
}

export async function statusCommand(argv: string[]): Promise<number> {
  const values = reportUsage('status', () => {
    const parsed = parseFlags(argv, { url: { type: 'string' }, socket: { type: 'string' }, json: { type: 'boolean' }, watch: { type: 'boolean' } });
    if (parsed.positionals.length) throw new UsageError(`unexpected argument ${parsed.positionals[0]}`);
    if (parsed.values.url && parsed.values.socket) throw new UsageError('pass either --url or --socket, not both');
    if (parsed.values.url && !URL.canParse(parsed.values.url)) throw new UsageError(`--url ${parsed.values.url} is not a URL (e.g. http://127.0.0.1:8080)`);
    return parsed.values;
  });
  if (!values) return 2;
  const target = { ...(values.url ? { url: values.url } : {}), ...(values.socket ? { socket: values.socket } : {}) };
  const where = values.socket ?? values.url ?? 'http://127.0.0.1:8080';
  for (;;) {
    let status: Status;
    try {
      status = await fetchStatus(target);
    } catch (error) {
      writeLine(process.stderr, `renderer status: cannot reach the renderer at ${where}: ${(error as Error).message} (is \`renderer serve\` running?)`);
      return 1;
    }
    const text = values.json ? JSON.stringify(status) : formatStatus(status, where);
    writeLine(process.stdout, values.watch && process.stdout.isTTY ? `\x1b[2J\x1b[H${text}` : text);
    if (!values.watch) return 0;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
