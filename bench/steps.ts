// The steps the benchmarks run, as submitted code.

/** Returns at once: what a run costs around the step. */
export const TRIVIAL_STEP = 'export function render(table, params, ctx) { return { json: { ok: true } }; }';

/**
 * Waits 50 ms, then imports node:fs/promises and stats /tmp five times: a step that
 * spends its run on timers and the thread pool, not the CPU, as steps that fetch or
 * read often do.
 */
export const ASYNC_FS_STEP = `export async function render() {
  await new Promise((resolve) => setTimeout(resolve, 50));
  const { stat } = await import('node:fs/promises');
  for (let i = 0; i < 5; i++) await stat('/tmp');
  return { json: { ok: true } };
}`;
