// Shared by the tests: run the real CLI, build Arrow files, make scratch directories
// the unprivileged step user can reach, compile C probes.
import * as arrow from 'apache-arrow';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../renderer/paths.js';
import type { RunResult } from '../renderer/run/outcome.js';
import { configFrom } from '../renderer/config/load.js';
import { strayProcesses } from '../renderer/sandbox/uids.js';

/** The default validation rules, as the config schema fills them in. */
export const RULES = configFrom({}).validation;

export const BIN = join(PACKAGE_ROOT, 'bin', 'renderer.js');
export const FIXTURES = join(PACKAGE_ROOT, 'test', 'fixtures');
export const STEPS = join(FIXTURES, 'steps');
export const step = (name: string): string => join(STEPS, `${name}.mjs`);

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `renderer ARGS` and waits; stdin is closed. */
export function cli(args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    input: options.input ?? '',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like cli(), without blocking this process (needed when it hosts the daemon). */
export function cliAsync(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `renderer run STEP --json ...`, parsed; asserts exactly one JSON object on stdout. */
export function runJson(stepFile: string, args: readonly string[] = []): { status: number | null; result: RunResult; stderr: string } {
  const r = cli(['run', stepFile, '--json', ...args]);
  let result: RunResult;
  try {
    result = JSON.parse(r.stdout) as RunResult;
  } catch {
    throw new Error(`stdout is not one JSON object (status ${r.status}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return { status: r.status, result, stderr: r.stderr };
}

/** Run cgroup directories of the renderer process `ownerPid` (owner.ts names them
 * "run-<pid base 36>_..."): below this process's own pids cgroup on v1 (renderers
 * started by the tests inherit it), under v2's /sys/fs/cgroup/renderer as root. */
function runCgroupsOf(ownerPid: number): string[] {
  const prefix = `run-${ownerPid.toString(36)}_`;
  const ownPids = /^\d+:pids:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  const bases = [...(ownPids !== undefined ? [join('/sys/fs/cgroup/pids', ownPids, 'renderer')] : []), '/sys/fs/cgroup/renderer'];
  return bases.flatMap((base) => (existsSync(base) ? readdirSync(base).filter((n) => n.startsWith(prefix)).map((n) => join(base, n)) : []));
}

/**
 * What the renderer process `ownerPid` has on the host: the processes in its run
 * cgroups and those cgroups. `strays` are processes running as a step uid that no live
 * sandbox leases (orphans of any renderer): always a leak. Scoped like this, a check
 * holds while other renderer instances run beside the tests.
 */
export function leftoversOf(ownerPid: number): { processes: number; cgroups: string[]; strays: number[] } {
  const cgroups = runCgroupsOf(ownerPid);
  let processes = 0;
  for (const dir of cgroups) {
    try {
      processes += readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length;
    } catch {
      /* removed while we looked */
    }
  }
  const config = configFrom({});
  const strays = strayProcesses(config.sandbox.hostDir, config.sandbox.uidRange).map((p) => p.pid);
  return { processes, cgroups: cgroups.map((dir) => dir.slice(dir.lastIndexOf('/') + 1)), strays };
}

/** A scratch directory step users (any uid) can traverse. */
export function scratchDir(prefix = 'renderer-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join('/tmp', prefix));
  chmodSync(path, 0o755);
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function writeTable(path: string, table: arrow.Table): string {
  writeFileSync(path, arrow.tableToIPC(table, 'file'));
  chmodSync(path, 0o644);
  return path;
}

export const readTable = (bytes: Uint8Array): arrow.Table => arrow.tableFromIPC(bytes);

/** Compiles test/fixtures/probes/NAME.c into `dir` and returns the binary's path. */
export function compileProbe(name: string, dir: string): string {
  const out = join(dir, name);
  execFileSync('gcc', ['-O1', '-Wall', '-o', out, join(FIXTURES, 'probes', `${name}.c`)], { stdio: 'pipe' });
  chmodSync(out, 0o755);
  return out;
}

export const isRoot = process.getuid?.() === 0;

/** A daemon in this process on a scratch state directory, for API tests via inject(). */
export async function startDaemon(overrides: Record<string, unknown> = {}): Promise<{
  daemon: import('../renderer/daemon/daemon.js').Daemon;
  app: import('fastify').FastifyInstance;
  /** http://127.0.0.1:PORT of the listening server. */
  url: string;
  stateDir: string;
  inject: (options: import('fastify').InjectOptions) => Promise<import('fastify').LightMyRequestResponse>;
  stop: () => Promise<void>;
}> {
  const { startServing } = await import('../renderer/cli/serve.js');
  const { createLogger } = await import('../renderer/observability/logger.js');
  const state = scratchDir('renderer-daemon-');
  const config = configFrom({
    stateDir: state.path,
    stepsDir: join(PACKAGE_ROOT, 'examples', 'steps'),
    dataRoot: join(PACKAGE_ROOT, 'examples', 'data'),
    pool: { size: 1 },
    server: { port: 0 },
    ...overrides,
  });
  const { daemon, app } = await startServing(config, { logger: createLogger('silent', false) });
  const address = app.server.address();
  return {
    daemon,
    app,
    url: typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : '',
    stateDir: state.path,
    inject: (options) => app.inject(options),
    stop: async () => {
      await daemon.stop(0);
      state.remove();
    },
  };
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
