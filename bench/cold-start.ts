// Cold start of a trivial step: what the isolation costs (issue 3: at most +15%),
// and what `renderer run` costs next to a bare `node -e 0` (README).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFrom } from '../renderer/config/load.js';
import { PACKAGE_ROOT } from '../renderer/paths.js';
import { runStep } from '../renderer/run/run-step.js';
import { Runner } from '../renderer/run/runner.js';
import { interleave, median, percentile, table } from './stats.js';
import { favorsDynamicModifications } from '../renderer/sandbox/cgroup/detect.js';
import { TRIVIAL_STEP } from './steps.js';
import { runUnsandboxed } from './unsandboxed.js';

export async function coldStart(quick: boolean): Promise<string> {
  const runner = await Runner.create(configFrom({}));
  if (!runner.sandbox) throw new Error(`no sandbox: ${runner.sandboxProblem}`);
  const runtimeDir = runner.sandbox.runtimeDir;
  // 80 pairs: the p50 ratio of one run varied by about +-2 points at 40 on this shared VM.
  const n = quick ? 10 : 80;
  // Warm-up: page cache, JIT of the renderer's own code.
  for (let i = 0; i < 3; i++) {
    await runStep(runner, { step: { code: TRIVIAL_STEP }, limits: runner.limits() });
    await runUnsandboxed(runtimeDir, TRIVIAL_STEP);
  }
  let failures = 0;
  const deferred: Array<() => void> = [];
  const [sandboxed, direct] = await interleave(
    n,
    async () => {
      const r = await runStep(runner, { step: { code: TRIVIAL_STEP }, limits: runner.limits() });
      if (r.outcome !== 'ok') failures++;
    },
    async () => {
      const r = await runUnsandboxed(runtimeDir, TRIVIAL_STEP, (work) => deferred.push(work));
      if (!r || r.status !== 1) failures++;
    },
    // Both sides remove their run's files after the result (runStep through
    // runner.defer): off the run's path, and out of the next measurement.
    async () => {
      await runner.settle();
      for (const work of deferred.splice(0)) work();
    },
  );
  const rows = [
    { path: 'runStep: launcher + bwrap + cgroup + seccomp', 'p50 ms': median(sandboxed), 'p90 ms': percentile(sandboxed, 90) },
    { path: 'same runtime spawned directly (baseline)', 'p50 ms': median(direct), 'p90 ms': percentile(direct, 90) },
  ];
  const ratio = median(sandboxed) / median(direct);

  // The whole CLI against a bare node, with hyperfine when present.
  let cli = '';
  const hyperfine = spawnSync('hyperfine', ['--version']).status === 0;
  const step = join(PACKAGE_ROOT, 'examples', 'steps', 'example-describe.mjs');
  const bin = join(PACKAGE_ROOT, 'bin', 'renderer.js');
  if (hyperfine) {
    const exported = join(tmpdir(), `renderer-bench-${process.pid}.json`);
    execFileSync(
      'hyperfine',
      ['-N', '-w', '3', '-r', quick ? '10' : '30', '--export-json', exported, `${process.execPath} -e 0`, `${process.execPath} ${bin} run ${step} --json`],
      { stdio: 'ignore' },
    );
    const results = (JSON.parse(readFileSync(exported, 'utf8')) as { results: Array<{ median: number }> }).results;
    rmSync(exported, { force: true });
    const [bare, full] = results.map((r) => r.median * 1000);
    cli = `\n\`renderer run\` (trivial step, whole CLI) p50 ${full!.toFixed(1)} ms vs \`node -e 0\` p50 ${bare!.toFixed(1)} ms (hyperfine): ${(full! / bare!).toFixed(2)}x`;
  }
  return [
    `## cold start of a trivial step (${n} runs each, interleaved; ${failures} failed; cgroup favordynmods ${(await favorsDynamicModifications()) ? 'on' : 'off'})`,
    table(rows),
    `isolation overhead: ${((ratio - 1) * 100).toFixed(1)}% (ratio ${ratio.toFixed(3)}; target <= 1.15)${cli}`,
  ].join('\n');
}

