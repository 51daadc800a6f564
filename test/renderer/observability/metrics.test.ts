// /metrics: exact values after known runs, a valid exposition format, and label
// cardinality that does not grow with the number of runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from '../../../renderer/observability/metrics.js';
import { emptyResult } from '../../../renderer/run/run-step.js';
import type { Outcome } from '../../../renderer/run/outcome.js';
import { isRoot, startDaemon } from '../../helpers.js';

const LIVE = { poolSize: () => 2, queueCapacity: () => 64, warmChildren: () => 1, queueDepth: () => 0, queueRejected: () => 0, activeRuns: () => 0 };

/** Parses the Prometheus text format strictly enough to catch a malformed line. */
export function parseExposition(text: string): Map<string, Array<{ labels: Record<string, string>; value: number }>> {
  const series = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') typed.add(meta[2]!);
      continue;
    }
    // Values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case).
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|nan|[+-]?inf)$/i.exec(line);
    assert.ok(sample, `malformed exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (sample[2] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
      const at = pair.indexOf('=');
      labels[pair.slice(0, at)] = pair.slice(at + 2, -1);
    }
    const base = sample[1]!.replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(sample[1]!) || typed.has(base), `${sample[1]} has no TYPE line`);
    const list = series.get(sample[1]!) ?? [];
    list.push({ labels, value: Number(sample[3]) });
    series.set(sample[1]!, list);
  }
  return series;
}

const value = (series: ReturnType<typeof parseExposition>, name: string, labels: Record<string, string>): number =>
  series.get(name)?.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;

describe('metrics', () => {
  it('1,000 inline runs add no series beyond outcome x exit status: no run id, no user text in labels', async () => {
    const metrics = new Metrics(LIVE);
    const outcomes: Outcome[] = ['ok', 'step_error', 'timeout', 'oom_killed', 'crashed', 'invalid_output'];
    for (let i = 0; i < 1000; i++) {
      const result = { ...emptyResult(`run-${i}`), outcome: outcomes[i % outcomes.length]!, error: `user text ${i} ${'x'.repeat(i % 50)}`, exitCode: i % 7 === 0 ? null : 0, signal: i % 7 === 0 ? 'SIGKILL' : null, durationMs: i, peakMemoryBytes: i * 1000, cpuSeconds: i / 100 };
      metrics.runFinished('inline', result);
    }
    const series = parseExposition(await metrics.text());
    assert.equal(series.get('renderer_runs_total')!.length, outcomes.length, 'one series per outcome');
    assert.ok(series.get('renderer_run_exits_total')!.length <= 2);
    for (const [name, samples] of series)
      for (const sample of samples)
        for (const [label, text] of Object.entries(sample.labels)) {
          assert.ok(['outcome', 'step', 'exit_code', 'signal', 'le', 'schedule', 'version', 'major', 'minor', 'patch', 'type', 'space', 'kind'].includes(label), `${name} has label ${label}`);
          assert.doesNotMatch(text, /run-\d|user text/, `${name}{${label}} holds per-run text`);
        }
    assert.equal(value(series, 'renderer_runs_total', { outcome: 'ok', step: 'inline' }), 167);
    assert.equal(value(series, 'renderer_run_duration_seconds_count', { outcome: 'ok' }), 167);
  });

  it('after known runs the counters are exact (one oom_killed run is exactly +1), and the text parses', { skip: !isRoot && 'needs root' }, async () => {
    const d = await startDaemon({ pool: { size: 1 } });
    try {
      const before = parseExposition((await d.inject({ url: '/metrics' })).body);
      const run = (body: unknown) => d.inject({ method: 'POST', url: '/v1/runs', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      assert.equal((await run({ step: { code: 'export function render() { const a = []; for (;;) a.push(Buffer.alloc(1 << 24, 1)); }' }, memoryMiB: 64 })).json().outcome, 'oom_killed');
      assert.equal((await run({ step: { name: 'example-describe' } })).json().outcome, 'ok');
      assert.equal((await run({ step: { code: 'export function render() { process.exit(3); }' } })).json().outcome, 'crashed');
      const after = parseExposition((await d.inject({ url: '/metrics' })).body);
      const delta = (name: string, labels: Record<string, string>): number => value(after, name, labels) - value(before, name, labels);
      assert.equal(delta('renderer_runs_total', { outcome: 'oom_killed', step: 'inline' }), 1);
      assert.equal(delta('renderer_runs_total', { outcome: 'ok', step: 'example-describe' }), 1);
      assert.equal(delta('renderer_runs_total', { outcome: 'crashed', step: 'inline' }), 1);
      assert.equal(delta('renderer_run_exits_total', { exit_code: 'none', signal: 'SIGKILL' }), 1);
      assert.equal(delta('renderer_run_exits_total', { exit_code: '3', signal: 'none' }), 1);
      assert.equal(delta('renderer_run_duration_seconds_count', { outcome: 'oom_killed' }), 1);
      assert.equal(delta('renderer_run_peak_memory_bytes_count', {}), 3);
      assert.equal(delta('renderer_run_cpu_seconds_count', {}), 3);
      for (const name of ['renderer_pool_warm_children', 'renderer_pool_size', 'renderer_queue_depth', 'renderer_queue_capacity', 'renderer_queue_rejected_total', 'renderer_pool_spawn_seconds_count', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds'])
        assert.ok(after.has(name), `${name} is exported`);
    } finally {
      await d.stop();
    }
  });
});
