// `renderer serve`: the long-lived daemon. Wiring only: config in, parts built and
// connected, listen; and the graceful stop. The parts live in their own folders.
import { closeSync, existsSync, ftruncateSync, readFileSync, statSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config-schema.js';
import { whereInConfig } from '../config/load.js';
import { RendererError } from '../errors.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { Admission } from '../pool/admission.js';
import { WarmPool } from '../pool/warm-pool.js';
import { newChildId } from '../run/owner.js';
import { acquireLock } from '../sandbox/host-lock.js';
import { Runner } from '../run/runner.js';
import { BUNDLED_DATA_DIR, BUNDLED_STEPS_DIR } from '../paths.js';
import { Scheduler } from '../schedule/scheduler.js';
import { Executor } from './executor.js';
import { References } from './references.js';
import { RunRegistry } from './run-registry.js';
import { SqliteRecordStore } from '../store/sqlite-record-store.js';
import { TableStore } from './table-store.js';

/**
 * Warm children by default: one per core up to 16. Past that a warm pool buys no
 * latency (a refill takes ~40 ms of one core) but costs memory: each waiting child holds
 * ~30-40 MiB (renderer doctor measures it), so 64 cores would park ~2.5 GiB.
 */
export const defaultPoolSize = (cores: number): number => Math.min(cores, 16);

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface DaemonOptions {
  logger?: Logger;
}

/**
 * What the daemon needs of the front end that serves it (the HTTP server, built and
 * attached by cli/serve.ts): to stop taking requests, and to end idle and then all
 * connections at the end of a graceful stop. The daemon knows nothing of HTTP.
 */
export interface Front {
  close(): Promise<void>;
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

export class Daemon {
  stopping = false;
  readonly startedAt = Date.now();
  private front: Front | null = null;
  private sweeper: NodeJS.Timeout | undefined;
  private lockFd: number | undefined;

  private constructor(
    readonly config: Readonly<Config>,
    readonly log: Logger,
    readonly runner: Runner,
    readonly pool: WarmPool | null,
    readonly executor: Executor,
    readonly tables: TableStore,
    readonly metrics: Metrics,
    readonly scheduler: Scheduler,
    /** Required of every API call (but probes) when set. */
    readonly token: string | null,
  ) {}

  static async create(config: Readonly<Config>, options: DaemonOptions = {}): Promise<Daemon> {
    const log = options.logger ?? createLogger(config.log.level);
    const { server } = config;
    const exposed = !server.socket && !LOOPBACK.has(server.host);
    if (exposed && !server.token)
      throw new RendererError('RENDERER_ERR_CONFIG_INVALID', `server.token is required to listen on ${server.host} (beyond loopback); set it in the config or RENDERER_TOKEN`);
    const stepsDir = config.stepsDir ?? BUNDLED_STEPS_DIR;
    const dataRoot = config.dataRoot ?? BUNDLED_DATA_DIR;
    for (const [field, dir] of [['stepsDir', stepsDir], ['dataRoot', dataRoot]] as const)
      if (!existsSync(dir) || !statSync(dir).isDirectory())
        throw new RendererError('RENDERER_ERR_CONFIG_INVALID', `${whereInConfig(config, field)}: ${field} ${dir} is not a directory`);

    const runner = await Runner.create(config, { warn: (message) => log.warn(message) });
    if (!runner.sandbox) log.error({ problem: runner.sandboxProblem }, 'the sandbox is unavailable: every run will end as sandbox_error (run `renderer doctor`)');

    // Cores this process may use (affinity, not the machine's count).
    const cores = availableParallelism();
    let pool: WarmPool | null = null;
    let executor: Executor | undefined;
    const admission = new Admission(server.maxConcurrentRuns ?? Math.max(2, cores), server.queueSize, server.queueTimeoutMs);
    const metrics = new Metrics({
      poolSize: () => pool?.size ?? 0,
      queueCapacity: () => admission.queueSize,
      warmChildren: () => pool?.warm ?? 0,
      queueDepth: () => admission.depth,
      queueRejected: () => admission.rejected,
      activeRuns: () => admission.active,
    });
    const poolSize = config.pool.size ?? defaultPoolSize(cores);
    if (runner.sandbox && poolSize > 0)
      pool = new WarmPool(runner, poolSize, runner.limits(), {
        spawned: (seconds) => metrics.childSpawned(seconds),
        problem: (message, failedStart) => {
          log.warn(message);
          if (failedStart) executor?.startHealth.record(false, message);
        },
      });
    const tables = new TableStore(runner.stateDir, server.maxUploadBytes, server.tableTtlSeconds, config.validation, runner.validator);
    const references = new References(stepsDir, dataRoot, tables);
    executor = new Executor(runner, config, pool, admission, new RunRegistry(new SqliteRecordStore(join(runner.stateDir, 'records.sqlite')), () => ({
      maxRuns: server.runHistory,
      maxBytes: server.runHistoryBytes,
      maxAgeMs: server.runHistoryMaxAgeSeconds * 1000,
      keyWindowMs: server.idempotencyWindowSeconds * 1000,
    })), references, metrics, log);
    const scheduler = new Scheduler(config.schedules, executor, runner.stateDir, metrics, log, (path) => whereInConfig(config, path));
    scheduler.validate();

    const token = server.token ?? null;
    return new Daemon(config, log, runner, pool, executor, tables, metrics, scheduler, token);
  }

  /** The front end whose connections a stop closes. */
  attach(front: Front): void {
    this.front = front;
  }

  /** Cleans up after a crashed predecessor, starts the pool and schedules. */
  async start(): Promise<void> {
    this.lock();
    const leftovers = await this.runner.removeLeftovers();
    this.scheduler.removeLeftovers();
    if (leftovers.length) this.log.warn({ removed: leftovers }, 'removed what a previous renderer left behind');
    const { registry } = this.executor;
    const interrupted = registry.recover();
    if (interrupted.runs + interrupted.workflows > 0) this.log.warn(interrupted, 'marked the runs and workflows a previous renderer left unfinished as interrupted');
    registry.prune();
    const orphans = registry.removeOrphanOutputs(this.executor.outputsDir);
    if (orphans > 0) this.log.info({ orphans }, 'removed output files no run refers to');
    this.tables.sweep();
    this.sweeper = setInterval(() => {
      registry.prune();
      this.tables.sweep();
      this.runner.markInUse();
    }, 60_000);
    this.sweeper.unref();
    this.pool?.start();
    this.scheduler.start();
  }

  /**
   * One daemon per state directory: a second would clean up the first's live runs. An
   * flock held for the daemon's life (host-lock.ts), so a holder in another pid
   * namespace is seen as alive and a dead one's lock is free at once. The file says who
   * holds it, for the message.
   */
  private lock(): void {
    const file = join(this.runner.stateDir, 'daemon.lock');
    const fd = acquireLock(file);
    if (fd === null) {
      let holder = '';
      try {
        holder = readFileSync(file, 'utf8').trim().slice(0, 200);
      } catch {
        /* named below without it */
      }
      throw new RendererError('RENDERER_ERR_STATE_DIR', `another renderer serve${holder ? ` (${holder})` : ''} uses the state directory ${this.runner.stateDir}; give each daemon its own stateDir`);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `pid ${process.pid} (owner ${newChildId().replace(/-[0-9a-f]{8}$/, '')}), since ${new Date().toISOString()}\n`, 0);
    this.lockFd = fd;
  }

  readinessProblems(): string[] {
    const problems: string[] = [];
    if (this.stopping) problems.push('shutting down');
    if (!this.runner.sandbox) problems.push(`sandbox unavailable: ${this.runner.sandboxProblem}`);
    else if (this.pool && this.pool.warm === 0) problems.push('no warm child in the pool yet');
    const degraded = this.executor.startHealth.problem();
    if (degraded) problems.push(degraded);
    return problems;
  }

  async status() {
    const { outcomes, exits } = await this.metrics.totals();
    const problems = this.readinessProblems();
    return {
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      ready: problems.length === 0,
      problems,
      sandbox: this.runner.sandbox ? (this.runner.sandbox.cgroups?.description ?? 'no cgroups') : `unavailable: ${this.runner.sandboxProblem}`,
      pool: { size: this.pool?.size ?? 0, warm: this.pool?.warm ?? 0 },
      queue: { active: this.executor.admission.active, depth: this.executor.admission.depth, maxConcurrent: this.executor.admission.maxConcurrent, size: this.executor.admission.queueSize, rejected: this.executor.admission.rejected },
      outcomes,
      exits,
      timeline: this.executor.timeline.series(),
      schedules: this.scheduler.status(),
    };
  }

  /**
   * Graceful stop: refuse new work, let running steps finish within the grace period,
   * then kill what remains; end the pool's children. No process is left behind.
   */
  async stop(graceMs = this.config.server.shutdownGraceMs): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ graceMs, unfinished: this.executor.registry.unfinished.length }, 'stopping');
    clearInterval(this.sweeper);
    const closing = this.front?.close();
    const scheduled = this.scheduler.stop();
    const unfinished = this.executor.registry.unfinished;
    const allDone = Promise.all(unfinished.map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([allDone.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))]);
    clearTimeout(timer);
    if (expired) {
      this.log.warn({ runs: this.executor.registry.unfinished.map((r) => r.runId) }, 'grace period over: killing the runs still going');
      for (const record of this.executor.registry.unfinished) this.executor.cancel(record);
      await allDone;
    }
    // Connections that were busy when close() began stay open after their response for
    // the keep-alive timeout (72 s in fastify): close them now that they are idle, and
    // whatever is still open a moment later.
    await new Promise((resolve) => setImmediate(resolve));
    this.front?.closeIdleConnections();
    const forced = setTimeout(() => this.front?.closeAllConnections(), 2000);
    await Promise.all([closing, scheduled, this.pool?.close()]);
    clearTimeout(forced);
    await this.runner.settle();
    await this.runner.validator.close();
    this.executor.registry.store.close();
    if (this.lockFd !== undefined) closeSync(this.lockFd);
    this.log.info('stopped');
  }
}
