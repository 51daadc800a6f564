// The baseline the isolation is measured against: the same step runtime, the same
// node flags and the same protocol, spawned directly: no launcher, no bwrap, no
// cgroup, no run directory. Benchmarks only; the product has no unsandboxed mode.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { RUNTIME_FILES } from '../renderer/paths.js';
import { CHILD_V8_FLAGS } from '../renderer/run/child-v8-flags.js';
import { ResultChannel } from '../renderer/run/protocol.js';
import { encodeFrame, types } from '../thrift/messages.js';

/** `defer` takes the removal of the run's scratch directory, as runStep defers its own
 * cleanup (runner.defer); by default it runs at once. */
export async function runUnsandboxed(
  runtimeDir: string,
  stepSource: string,
  defer: (work: () => void) => void = (work) => work(),
): Promise<types.StepResult | null> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-direct-'));
  try {
    const stepPath = join(dir, 'step.mjs');
    const outputPath = join(dir, 'output.arrow');
    writeFileSync(stepPath, stepSource);
    writeFileSync(outputPath, '');
    // Spawned the way launch.ts spawns the launcher (node:child_process, raw pipes), so
    // the two sides differ by the isolation only.
    const child = spawn(
      process.execPath,
      [...CHILD_V8_FLAGS, '--snapshot-blob', join(runtimeDir, RUNTIME_FILES.snapshot), runtimeDir],
      { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: {} },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdout?.resume();
    child.stderr?.resume();
    const channel = new ResultChannel((child.stdio as unknown as Readable[])[3]!, 1 << 20, () => undefined);
    await channel.ready;
    const request = new types.StepRequest({ runId: 'bench', stepPath, outputPath, paramsJson: '{}', maxResultBytes: 1 << 20 });
    child.stdin!.end(encodeFrame(request));
    await exited;
    await channel.closed;
    return channel.result;
  } finally {
    defer(() => rmSync(dir, { recursive: true, force: true }));
  }
}
