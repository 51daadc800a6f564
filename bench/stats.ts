// Small statistics and table printing for the benchmarks. Every benchmark measures
// its subject and a baseline side by side in the same run (interleaved, so the noise
// of this shared machine hits both) and prints the ratio.
export const median = (xs: readonly number[]): number => percentile(xs, 50);

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function table(rows: ReadonlyArray<Record<string, string | number>>): string {
  if (rows.length === 0) return '';
  const headers = Object.keys(rows[0]!);
  const cells = rows.map((row) => headers.map((h) => (typeof row[h] === 'number' ? fmt(row[h] as number) : String(row[h]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]): string => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

export const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1));

export const mib = (bytes: number): number => bytes / 1048576;

/**
 * Runs `a` and `b` alternately `n` times each; returns their timings in ms. `settle`
 * runs untimed after each call, so work one side defers (a run's cleanup) lands in
 * neither side's timing.
 */
export async function interleave(
  n: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  settle: () => Promise<unknown> = async () => undefined,
): Promise<[number[], number[]]> {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < n; i++) {
    for (const [fn, out] of (i % 2 ? [[b, tb], [a, ta]] : [[a, ta], [b, tb]]) as Array<[() => Promise<unknown>, number[]]>) {
      const started = performance.now();
      await fn();
      out.push(performance.now() - started);
      await settle();
    }
  }
  return [ta, tb];
}
