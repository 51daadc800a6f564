// A pool of warm step children: started, sandboxed, inside their cgroup, the runtime
// and apache-arrow loaded, stage-2 seccomp on, blocked waiting for their one request.
// A request then pays only the dispatch. Each child serves one run and is discarded;
// the pool refills in the background. A request whose memory limit differs from the
// pool's gets its child's cgroup limit changed before dispatch, and if that cannot be
// done the child is discarded and a cold one spawned: never a child whose limits are
// not in force.
import type { Limits } from '../config/config-schema.js';
import type { Runner } from '../run/runner.js';
import type { StepChild } from '../run/step-child.js';

const MIB = 1024 * 1024;
const READY_TIMEOUT_MS = 30_000;
const REFILL_DELAY_MS = 50;

export interface PoolEvents {
  /** A child became warm; seconds from spawn to ready. */
  spawned?(seconds: number): void;
  /** `failedStart`: a child could not be spawned or did not become ready. */
  problem?(message: string, failedStart?: boolean): void;
}

export class WarmPool {
  private readonly idle: StepChild[] = [];
  private starting = 0;
  private closed = false;

  constructor(
    private readonly runner: Runner,
    readonly size: number,
    private readonly limits: Limits,
    private readonly events: PoolEvents = {},
  ) {}

  /** Children ready to take a run right now. */
  get warm(): number {
    return this.idle.length;
  }

  start(): void {
    this.fill();
  }

  private fill(): void {
    while (!this.closed && this.idle.length + this.starting < this.size) {
      this.starting++;
      void this.spawnOne().finally(() => {
        this.starting--;
      });
    }
  }

  private async spawnOne(): Promise<void> {
    const started = performance.now();
    let child: StepChild;
    try {
      child = await this.runner.spawnChild(this.limits);
    } catch (error) {
      this.events.problem?.(`warm child could not be spawned: ${(error as Error).message}`, true);
      await new Promise((resolve) => setTimeout(resolve, 1000).unref()); // do not spin on a broken host
      if (!this.closed) setImmediate(() => this.fill());
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        child.ready,
        child.process.exited.then(() => Promise.reject(new Error('exited before it was ready'))),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('not ready in time')), READY_TIMEOUT_MS))),
      ]);
    } catch (error) {
      clearTimeout(timer);
      const said = child.logs.text().trim().split('\n').slice(-3).join(' | ');
      this.events.problem?.(`warm child ${child.childId} failed: ${(error as Error).message}${said ? ` (${said})` : ''}`, true);
      await child.discard();
      if (!this.closed) setTimeout(() => this.fill(), 1000).unref();
      return;
    }
    clearTimeout(timer);
    if (this.closed) return child.discard();
    this.events.spawned?.((performance.now() - started) / 1000);
    this.idle.push(child);
    // A warm child that dies while it waits (killed from outside) leaves the pool.
    void child.process.exited.then(() => {
      const at = this.idle.indexOf(child);
      if (at < 0) return;
      this.idle.splice(at, 1);
      void child.discard();
      this.fill();
    });
  }

  /**
   * Refills once the run of the child just handed out has its result (on the next
   * turn, after the response is written), or after REFILL_DELAY_MS for a long run: a
   * refill is a whole node start-up, and on a small host it would take the CPU from the
   * very run it replaces (measured: a trivial warm run 18 ms instead of 12).
   */
  private refillAfter(child: StepChild | undefined): void {
    if (!child) return this.fill();
    const timer = setTimeout(() => this.fill(), REFILL_DELAY_MS);
    void child.done.then(() => {
      clearTimeout(timer);
      setImmediate(() => this.fill());
    });
  }

  /** A child for one run, with `limits` in force: warm if one is ready, else cold. */
  async acquire(limits: Limits): Promise<StepChild> {
    const child = this.idle.shift();
    this.refillAfter(child);
    if (child) {
      if (limits.memoryMiB === this.limits.memoryMiB) return child;
      try {
        await child.process.cgroup?.setMemoryLimit(limits.memoryMiB * MIB);
        return child;
      } catch (error) {
        // e.g. a limit below what the warm child already uses: start one under it instead.
        this.events.problem?.(`cannot set a warm child's memory limit to ${limits.memoryMiB} MiB: ${(error as Error).message}`);
        void child.discard();
      }
    }
    return this.runner.spawnChild(limits);
  }

  /** Stops refilling and ends every waiting child. */
  async close(): Promise<void> {
    this.closed = true;
    const children = this.idle.splice(0);
    await Promise.all(children.map((child) => child.discard()));
    // Children still starting discard themselves when they become ready.
    while (this.starting > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
