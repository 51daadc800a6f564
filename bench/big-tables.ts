// Big tables (issue 4): a step that sums one float64 column of a ~10 MB, ~100 MB and
// ~1 GB table, through the mmap'd zero-copy input, side by side with the naive path
// (readFileSync + tableFromIPC inside the same sandboxed child). Reported: time from
// dispatch to the step's result, the child's peak memory (its cgroup) and RSS, and
// how much the renderer's own RSS grew.
import * as arrow from 'apache-arrow';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mapFile } from '../renderer/arrow/mapped-file.js';
import { configFrom } from '../renderer/config/load.js';
import { runStep } from '../renderer/run/run-step.js';
import { Runner } from '../renderer/run/runner.js';
import { median, mib, table } from './stats.js';

const SUM = `
  let sum = 0;
  for (const d of column.data) { const v = d.values; for (let i = d.offset, n = d.offset + d.length; i < n; i++) sum += v[i]; }`;
const MMAP_STEP = `export function render(table) {
  const t0 = performance.now();
  const column = table.getChild('a');${SUM}
  return { json: { sum, computeMs: performance.now() - t0, rss: process.memoryUsage().rss } };
}`;
const NAIVE_STEP = `import { readFileSync } from 'node:fs';
export function render(_table, _params, ctx) {
  const t0 = performance.now();
  const column = ctx.arrow.tableFromIPC(readFileSync('/run/in/input.arrow')).getChild('a');${SUM}
  return { json: { sum, computeMs: performance.now() - t0, rss: process.memoryUsage().rss } };
}`;

/** Writes a table of four float64 columns, ~`bytes` in size, one batch at a time. */
function writeSynthetic(path: string, bytes: number): number {
  const rows = Math.floor(bytes / 32);
  const batchRows = Math.min(rows, 1 << 20);
  const fd = openSync(path, 'w', 0o644);
  const writer = new arrow.RecordBatchFileWriter();
  class Sink extends arrow.AsyncByteQueue {
    override write(chunk: Parameters<arrow.AsyncByteQueue['write']>[0]): void {
      const b = arrow.util.toUint8Array(chunk);
      if (b.byteLength) writeSync(fd, b);
    }
  }
  writer.reset(new Sink() as never);
  for (let start = 0; start < rows; start += batchRows) {
    const n = Math.min(batchRows, rows - start);
    const col = (k: number): arrow.Data => arrow.makeData({ type: new arrow.Float64(), data: Float64Array.from({ length: n }, (_, i) => (start + i) * k) });
    writer.write(new arrow.RecordBatch({ a: col(1), b: col(2), c: col(3), d: col(4) }));
  }
  writer.finish();
  closeSync(fd);
  return rows;
}

interface Sample {
  ms: number;
  computeMs: number;
  peak: number;
  rss: number;
}

export async function bigTables(quick: boolean): Promise<string> {
  const runner = await Runner.create(configFrom({ limits: { memoryMiB: 4096, timeoutMs: 300_000 } }));
  if (!runner.sandbox) throw new Error(`no sandbox: ${runner.sandboxProblem}`);
  const dir = mkdtempSync('/tmp/renderer-bench-');
  const sizes = quick ? [10, 100] : [10, 100, 1000];
  const rows: Array<Record<string, string | number>> = [];
  const notes: string[] = [];
  try {
    for (const sizeMb of sizes) {
      const input = join(dir, `t${sizeMb}.arrow`);
      const nRows = writeSynthetic(input, sizeMb * 1e6);
      const expected = ((nRows - 1) * nRows) / 2;
      const repeat = sizeMb >= 1000 ? 3 : 5;
      const samples: Record<'mmap' | 'naive', Sample[]> = { mmap: [], naive: [] };
      (globalThis as { gc?: () => void }).gc?.();
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 5);
      for (let i = 0; i < repeat; i++) {
        for (const path of (i % 2 ? ['naive', 'mmap'] : ['mmap', 'naive']) as Array<'mmap' | 'naive'>) {
          const r = await runStep(runner, { step: { code: path === 'mmap' ? MMAP_STEP : NAIVE_STEP }, input, limits: runner.limits({ memoryMiB: 4096, timeoutMs: 300_000 }) });
          const json = r.json as { sum: number; computeMs: number; rss: number } | null;
          if (r.outcome !== 'ok' || !json || json.sum !== expected) throw new Error(`${path} ${sizeMb} MB: ${r.outcome} ${r.error} sum ${json?.sum} != ${expected}`);
          samples[path].push({ ms: r.durationMs, computeMs: json.computeMs, peak: r.peakMemoryBytes ?? NaN, rss: json.rss });
        }
      }
      await runner.settle();
      clearInterval(sampler);
      const rssGrowth = rssPeak - rssBefore;
      const m = (path: 'mmap' | 'naive', key: keyof Sample): number => median(samples[path].map((s) => s[key]));
      rows.push({
        table: `${(statSync(input).size / 1e6).toFixed(0)} MB (${nRows} rows x 4)`,
        'mmap: start→sum ms': m('mmap', 'ms'),
        'naive: start→sum ms': m('naive', 'ms'),
        'ratio mmap/naive': m('mmap', 'ms') / m('naive', 'ms'),
        'mmap child peak MiB': mib(m('mmap', 'peak')),
        'naive child peak MiB': mib(m('naive', 'peak')),
        'mmap child RSS MiB': mib(m('mmap', 'rss')),
        'renderer peak RSS growth MiB': mib(rssGrowth),
      });
      rmSync(input);
    }
    const probe = join(dir, 'probe.arrow');
    writeSynthetic(probe, 1e5);
    notes.push(`input path in the child: mmap (the runtime maps its input with the native addon; it has no read fallback, the addon is required for stage-2 seccomp); renderer-side mapping: ${mapFile(probe, 1 << 30).via}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    `## big tables: sum one of four float64 columns (medians; each path ${quick ? '5' : '5 (3 for 1 GB)'} runs, interleaved)`,
    table(rows),
    'start→sum: dispatch of the request to the child\'s exit, as runStep measures it (includes module load, ~10 ms).',
    'child RSS of the mmap path counts the mapped pages the sum touched (one column = 1/4 of the file);',
    'child peak is the cgroup\'s: page-cache pages of the input are charged to whoever first read them, not to the mmap child.',
    'renderer peak RSS growth: sampled every 5 ms during the runs, over the RSS before them (after a GC).',
    ...notes,
  ].join('\n');
}

