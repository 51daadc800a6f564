// What every run shares: the frozen config, the state directory and the sandbox. One
// Runner per process; `renderer run`, `renderer serve` and the tests all run steps
// through runStep(runner, ...), so there is one code path.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config, Limits } from '../config/config-schema.js';
import { isRendererError, RendererError } from '../errors.js';
import { ValidationPool } from '../arrow/validation-pool.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { defaultStateDir, ensurePrivateDir, installRuntime, markInUse, untraversableAncestor } from '../state-dir.js';
import { ownerAlive, pruneDeadOwners, registerOwner } from './owner.js';
import { removeRunDir, SANDBOX_IN, SANDBOX_OUT } from './run-dir.js';
import { StepChild } from './step-child.js';

export interface RunnerOptions {
  warn?: (message: string) => void;
  /** Validation worker threads; 0: validate outputs in this thread (`renderer run`). */
  validationThreads?: number;
}

export class Runner {
  private readonly cleanups = new Set<Promise<void>>();
  /** Validates output tables (and the daemon's uploads) off the event loop. */
  readonly validator: ValidationPool;

  private constructor(
    readonly config: Readonly<Config>,
    readonly stateDir: string,
    readonly runsRoot: string,
    /** null when this host cannot sandbox: every run is then a sandbox_error. */
    readonly sandbox: Sandbox | null,
    readonly sandboxProblem: string | null,
    readonly warn: (message: string) => void,
    validationThreads?: number,
  ) {
    this.validator = new ValidationPool({ warn, niceness: config.sandbox.niceness, size: validationThreads });
  }

  static async create(config: Readonly<Config>, options: RunnerOptions = {}): Promise<Runner> {
    const warn = options.warn ?? ((message: string) => process.emitWarning(message));
    const stateDir = ensurePrivateDir(config.stateDir ?? defaultStateDir());
    const runsRoot = ensurePrivateDir(join(stateDir, 'runs'));
    try {
      const blocked = untraversableAncestor(runsRoot);
      if (blocked)
        throw new RendererError('RENDERER_ERR_STATE_DIR', `the step user cannot reach the state directory ${stateDir}: ${blocked} is not searchable by others (chmod o+x it, or choose another stateDir)`);
      // Before any name that carries this renderer's owner tag (owner.ts).
      registerOwner(config.sandbox.hostDir);
      const runtimeDir = installRuntime(stateDir);
      const sandbox = await Sandbox.open(config.sandbox, { runtimeDir, stateDir, stepMountDirs: [SANDBOX_IN, SANDBOX_OUT], warn });
      return new Runner(config, stateDir, runsRoot, sandbox, null, warn, options.validationThreads);
    } catch (error) {
      if (!isRendererError(error) && !(error instanceof Error)) throw error;
      return new Runner(config, stateDir, runsRoot, null, (error as Error).message, warn, options.validationThreads);
    }
  }

  /**
   * Runs `work` (removing a finished run's cgroup and directory) off the result's
   * path; settle() waits for all of it. A process must settle before it exits.
   */
  defer(work: () => Promise<void>): void {
    const done = work()
      .catch((error: unknown) => this.warn(`cleanup failed: ${(error as Error).message}`))
      .finally(() => this.cleanups.delete(done));
    this.cleanups.add(done);
  }

  async settle(): Promise<void> {
    while (this.cleanups.size) await Promise.all(this.cleanups);
  }

  /** Keeps this renderer's runtime and step root from being removed as unused
   * (state-dir.ts publishOnce); a long-lived renderer calls it now and then. */
  markInUse(): void {
    if (!this.sandbox) return;
    markInUse(this.sandbox.runtimeDir);
    markInUse(this.sandbox.stepRoot.dir);
  }

  /** A fresh child for one run (the daemon's pool overrides this with warm ones). */
  spawnChild(limits: Limits): Promise<StepChild> {
    if (!this.sandbox) throw new Error(this.sandboxProblem ?? 'no sandbox');
    return StepChild.spawn(this.sandbox, this.runsRoot, limits);
  }

  /**
   * Removes what renderers that died left behind: run directories and cgroups whose
   * owner (owner.ts) is gone, killing any process still in them. Returns their names.
   */
  async removeLeftovers(): Promise<string[]> {
    const removed: string[] = [];
    for (const name of readdirSync(this.runsRoot)) {
      if (ownerAlive(name)) continue;
      removeRunDir(join(this.runsRoot, name));
      removed.push(`run directory ${name}`);
    }
    const cgroups = (await this.sandbox?.cgroups?.removeStale((name) => ownerAlive(name))) ?? [];
    pruneDeadOwners();
    return [...removed, ...cgroups.map((name) => `cgroup ${name}`)];
  }

  /** Limits of the config with per-run overrides (already validated by the caller). */
  limits(overrides: Partial<Pick<Limits, 'timeoutMs' | 'memoryMiB'>> = {}): Limits {
    return { ...this.config.limits, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  }
}
