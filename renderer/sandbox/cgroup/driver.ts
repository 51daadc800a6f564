// Per-run cgroups on v1 and v2. One interface; the run code never asks which it has.
//
// Every run gets its own cgroup, joined by the launcher before bwrap starts, so every
// process of the run is limited (memory with swap off, pids, optional CPU quota),
// measured (peak memory, CPU time, OOM kills) and killed as one: a fork bomb cannot
// race a pid scan (Piston's lesson) because the kill is the cgroup's, not a pid hunt.
import { join, resolve } from 'node:path';
import { parseKeyValues, parsePids, sleep, type CgroupFs } from './cgroup-fs.js';
import type { V1Layout, V2Layout } from './detect.js';

export interface RunCgroupLimits {
  memoryBytes: number;
  maxProcesses: number;
  cpuCores?: number | undefined;
}

export interface CgroupStats {
  /** Processes the kernel OOM-killed in this cgroup: the only source of `oom_killed`. */
  oomKills: number;
  peakMemoryBytes: number | null;
  memoryBytes: number | null;
  cpuSeconds: number | null;
  /** Forks and clones the pids controller refused at pids.max (pids.events "max"):
   * the evidence that a run, or its start-up, met its process/thread limit. */
  pidsLimitHits: number;
}

export interface RunCgroup {
  readonly name: string;
  /** Files the launcher writes "0" (itself) to, joining every controller at once. */
  readonly joinFiles: readonly string[];
  /** v2: the directory the launcher starts its child in with clone3(CLONE_INTO_CGROUP),
   * migrating through its cgroup.procs only where the kernel cannot (native/launcher.c). */
  readonly intoDir?: string;
  setMemoryLimit(bytes: number): Promise<void>;
  stats(): Promise<CgroupStats>;
  pids(): Promise<number[]>;
  /** SIGKILLs every process in the cgroup and waits until it is empty. */
  kill(): Promise<void>;
  remove(): Promise<void>;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  readonly description: string;
  create(name: string, limits: RunCgroupLimits): Promise<RunCgroup>;
  /** Kills and removes run cgroups no live run owns (a crashed predecessor's). */
  removeStale(isLive: (name: string) => boolean): Promise<string[]>;
}

export const RUN_CGROUP_PREFIX = 'run-';
const CPU_PERIOD_US = 100_000;
/** How long a kill may take before it is reported: Workbench grew its reap wait from
 * 1 s to 10 s after spurious timeouts on loaded hosts. */
const EMPTY_TIMEOUT_MS = 10_000;

async function readNumber(fs: CgroupFs, path: string): Promise<number | null> {
  try {
    const text = (await fs.read(path)).trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

/** The cgroup was removed under us (ENOENT, ENODEV): nothing is left in it to kill. */
const gone = (error: unknown): boolean => ['ENOENT', 'ENODEV'].includes((error as NodeJS.ErrnoException).code ?? '');

/** The processes of a cgroup directory; none once it is gone. */
const pidsIn = (fs: CgroupFs, dir: string) => async (): Promise<number[]> => {
  try {
    return parsePids(await fs.read(join(dir, 'cgroup.procs')));
  } catch {
    return [];
  }
};

/** How long rmdir may keep answering EBUSY once the cgroup's process list is empty. */
const RMDIR_BUSY_MS = 5000;

/**
 * rmdir that treats "already gone" as done. On v2 a cgroup whose cgroup.procs is already
 * empty can still be "populated" for a moment while its last tasks finish exiting, and
 * rmdir answers EBUSY meanwhile (seen in the v2 VM: a pool child's cgroup left behind at
 * daemon stop); it is retried until that passes.
 */
async function removeDir(fs: CgroupFs, dir: string): Promise<void> {
  const deadline = Date.now() + RMDIR_BUSY_MS;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) throw error;
      await sleep(delay);
    }
  }
}

/**
 * Kills and removes one leftover run cgroup; false (with a warning) when it cannot be:
 * a cleanup of somebody else's leftovers must never stop this renderer from starting
 * (a daemon once crashed at start with EBUSY on a live neighbour's cgroup).
 */
async function removeOne(cgroup: RunCgroup): Promise<boolean> {
  try {
    await cgroup.kill();
    await cgroup.remove();
    return true;
  } catch (error) {
    process.emitWarning(`leftover cgroup ${cgroup.name} could not be removed: ${(error as Error).message}`);
    return false;
  }
}

function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* ESRCH: already gone */
    }
  }
}

async function waitUntilEmpty(pids: () => Promise<number[]>, onRemaining: (left: number[]) => void): Promise<void> {
  const deadline = Date.now() + EMPTY_TIMEOUT_MS;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const left = await pids();
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`cgroup still has processes ${left.join(', ')} after ${EMPTY_TIMEOUT_MS} ms`);
    onRemaining(left);
    await sleep(delay);
  }
}

// ---------------------------------------------------------------- cgroup v1

export function v1Driver(layout: V1Layout, fs: CgroupFs, parentName = 'renderer'): CgroupDriver {
  const bases = Object.fromEntries(
    Object.entries(layout.own).map(([controller, dir]) => [controller, join(dir, parentName)]),
  ) as V1Layout['own'];

  const dirsFor = (name: string, cpu: boolean): Record<string, string> => {
    const dirs: Record<string, string> = {};
    for (const [controller, base] of Object.entries(bases)) {
      if (controller === 'cpu' && !cpu) continue;
      dirs[controller] = join(base, name);
    }
    return dirs;
  };

  function handle(name: string, dirs: Record<string, string>): RunCgroup {
    const memory = dirs.memory!;
    const pids = pidsIn(fs, memory);
    return {
      name,
      // `tasks`, not cgroup.procs: writing "0" there moves the calling thread without the
      // kernel's global threadgroup lock, whose RCU grace period made each run wait
      // ~18 ms (strace, 2026-11-23). The launcher has one thread, so it moves whole.
      joinFiles: [...new Set(Object.values(dirs))].map((dir) => join(dir, 'tasks')),
      async setMemoryLimit(bytes) {
        // memsw (memory+swap) must stay >= memory: raise memsw first, lower memory first.
        const memsw = join(memory, 'memory.memsw.limit_in_bytes');
        const hasMemsw = await fs.exists(memsw);
        const current = (await readNumber(fs, join(memory, 'memory.limit_in_bytes'))) ?? 0;
        const writes = [join(memory, 'memory.limit_in_bytes'), ...(hasMemsw ? [memsw] : [])];
        for (const file of bytes > current ? writes.reverse() : writes) await fs.write(file, String(bytes));
      },
      async stats() {
        const oom = parseKeyValues(await fs.read(join(memory, 'memory.oom_control')).catch(() => ''));
        const cpuNs = dirs.cpuacct ? await readNumber(fs, join(dirs.cpuacct, 'cpuacct.usage')) : null;
        return {
          oomKills: oom.get('oom_kill') ?? 0,
          peakMemoryBytes: await readNumber(fs, join(memory, 'memory.max_usage_in_bytes')),
          memoryBytes: await readNumber(fs, join(memory, 'memory.usage_in_bytes')),
          cpuSeconds: cpuNs === null ? null : cpuNs / 1e9,
          pidsLimitHits: parseKeyValues(await fs.read(join(dirs.pids!, 'pids.events')).catch(() => '')).get('max') ?? 0,
        };
      },
      pids,
      async kill() {
        if ((await pids()).length === 0) return; // the usual end of a run: nothing to freeze
        const freezer = dirs.freezer;
        try {
          // Freeze first so nothing forks between reading the pid list and the kill.
          if (freezer) {
            await fs.write(join(freezer, 'freezer.state'), 'FROZEN');
            for (let i = 0; i < 100 && (await fs.read(join(freezer, 'freezer.state'))).trim() !== 'FROZEN'; i++) await sleep(1);
          }
          killPids(await pids());
          if (freezer) await fs.write(join(freezer, 'freezer.state'), 'THAWED');
        } catch (error) {
          if (!gone(error)) throw error;
        }
        await waitUntilEmpty(pids, killPids);
      },
      async remove() {
        for (const dir of new Set(Object.values(dirs))) await removeDir(fs, dir);
      },
    };
  }

  return {
    version: 1,
    description: `cgroup v1 (${Object.keys(bases).join(', ')}) under ${bases.memory}`,
    async create(name, limits) {
      const dirs = dirsFor(name, limits.cpuCores !== undefined);
      for (const dir of Object.values(dirs)) await fs.mkdir(dir);
      const cgroup = handle(name, dirs);
      try {
        // Swap off: with memsw == memory the step cannot page out to grow past its limit.
        await cgroup.setMemoryLimit(limits.memoryBytes);
        await fs.write(join(dirs.pids!, 'pids.max'), String(limits.maxProcesses));
        if (dirs.cpu && limits.cpuCores !== undefined) {
          await fs.write(join(dirs.cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
          await fs.write(join(dirs.cpu, 'cpu.cfs_quota_us'), String(Math.round(limits.cpuCores * CPU_PERIOD_US)));
        }
      } catch (error) {
        await cgroup.remove().catch(() => undefined);
        throw error;
      }
      return cgroup;
    },
    async removeStale(isLive) {
      const removed: string[] = [];
      const names = new Set<string>();
      for (const base of Object.values(bases)) for (const n of await fs.listDirs(base)) names.add(n);
      for (const name of names) {
        if (!name.startsWith(RUN_CGROUP_PREFIX) || isLive(name)) continue;
        if (await removeOne(handle(name, dirsFor(name, true)))) removed.push(name);
      }
      return removed;
    },
  };
}

// ---------------------------------------------------------------- cgroup v2

/**
 * `base` must be a cgroup this process may manage: it creates children there and
 * enables memory and pids in its cgroup.subtree_control. Call prepareV2Base first.
 */
export function v2Driver(base: string, fs: CgroupFs, controllers: readonly string[]): CgroupDriver {
  function handle(name: string): RunCgroup {
    const dir = join(base, name);
    const pids = pidsIn(fs, dir);
    return {
      name,
      joinFiles: [],
      intoDir: dir,
      async setMemoryLimit(bytes) {
        await fs.write(join(dir, 'memory.max'), String(bytes));
      },
      async stats() {
        const events = parseKeyValues(await fs.read(join(dir, 'memory.events')).catch(() => ''));
        const cpu = parseKeyValues(await fs.read(join(dir, 'cpu.stat')).catch(() => ''));
        const usec = cpu.get('usage_usec');
        return {
          oomKills: events.get('oom_kill') ?? 0,
          // memory.peak exists from Linux 5.19; null (not a guess) before that.
          peakMemoryBytes: await readNumber(fs, join(dir, 'memory.peak')),
          memoryBytes: await readNumber(fs, join(dir, 'memory.current')),
          cpuSeconds: usec === undefined ? null : usec / 1e6,
          pidsLimitHits: parseKeyValues(await fs.read(join(dir, 'pids.events')).catch(() => '')).get('max') ?? 0,
        };
      },
      pids,
      async kill() {
        if ((await pids()).length === 0) return;
        try {
          if (await fs.exists(join(dir, 'cgroup.kill'))) {
            // Linux 5.14+: the kernel kills every process, including ones forking right now.
            await fs.write(join(dir, 'cgroup.kill'), '1');
          } else {
            await fs.write(join(dir, 'cgroup.freeze'), '1');
            killPids(await pids());
            await fs.write(join(dir, 'cgroup.freeze'), '0');
          }
        } catch (error) {
          if (!gone(error)) throw error;
        }
        await waitUntilEmpty(pids, killPids);
      },
      remove: () => removeDir(fs, dir),
    };
  }

  return {
    version: 2,
    description: `cgroup v2 under ${base}`,
    async create(name, limits) {
      const dir = join(base, name);
      await fs.mkdir(dir);
      const cgroup = handle(name);
      try {
        await fs.write(join(dir, 'memory.max'), String(limits.memoryBytes));
        if (await fs.exists(join(dir, 'memory.swap.max'))) await fs.write(join(dir, 'memory.swap.max'), '0');
        // An OOM kill takes the whole run, not one process of it.
        if (await fs.exists(join(dir, 'memory.oom.group'))) await fs.write(join(dir, 'memory.oom.group'), '1');
        await fs.write(join(dir, 'pids.max'), String(limits.maxProcesses));
        if (limits.cpuCores !== undefined && controllers.includes('cpu'))
          await fs.write(join(dir, 'cpu.max'), `${Math.round(limits.cpuCores * CPU_PERIOD_US)} ${CPU_PERIOD_US}`);
      } catch (error) {
        await cgroup.remove().catch(() => undefined);
        throw error;
      }
      return cgroup;
    },
    async removeStale(isLive) {
      const removed: string[] = [];
      for (const name of await fs.listDirs(base)) {
        if (!name.startsWith(RUN_CGROUP_PREFIX) || isLive(name)) continue;
        if (await removeOne(handle(name))) removed.push(name);
      }
      return removed;
    },
  };
}

/**
 * In a container with a cgroup namespace of its own (`docker run --cgroupns=private`),
 * the namespace's root is the container's cgroup and holds its processes, this one
 * included; v2 lets no cgroup with processes pass controllers down (EBUSY). They move
 * into a leaf, `init`, as Docker's own docker-in-docker entrypoint does; the root can
 * then enable controllers for `renderer/`. Never the host's real root, which is exempt
 * and never EBUSY.
 */
async function moveIntoLeaf(parent: string, fs: CgroupFs): Promise<void> {
  const leaf = join(parent, 'init');
  await fs.mkdir(leaf);
  for (const pid of await pidsIn(fs, parent)()) {
    try {
      await fs.write(join(leaf, 'cgroup.procs'), String(pid));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}

/**
 * Makes `base` ready to hold run cgroups (v2's "no internal processes" rule: a cgroup
 * that enables controllers for its children may not hold processes itself). If this
 * process lives in `base` (systemd Delegate=yes: the service's own cgroup), it first
 * moves itself into `base/supervisor`.
 */
export async function prepareV2Base(layout: V2Layout, base: string, fs: CgroupFs): Promise<string[]> {
  const wanted = ['memory', 'pids', ...(layout.controllers.includes('cpu') ? ['cpu'] : [])];
  const words = async (path: string): Promise<string[]> => (await fs.read(path).catch(() => '')).split(/\s+/).filter(Boolean);
  // The parent must pass the controllers down; enable what it has and lacks enabled
  // (never needed, nor allowed, for a systemd-delegated service's own cgroup).
  if (resolve(layout.own) !== resolve(base)) {
    const parent = join(base, '..');
    const enabled = await words(join(parent, 'cgroup.subtree_control'));
    const offered = await words(join(parent, 'cgroup.controllers'));
    const enable = wanted.filter((c) => !enabled.includes(c) && offered.includes(c));
    const line = enable.map((c) => `+${c}`).join(' ');
    if (enable.length) {
      try {
        await fs.write(join(parent, 'cgroup.subtree_control'), line);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || resolve(parent) !== resolve(layout.own)) throw error;
        await moveIntoLeaf(parent, fs);
        await fs.write(join(parent, 'cgroup.subtree_control'), line);
      }
    }
  }
  await fs.mkdir(base);
  if (resolve(layout.own) === resolve(base)) {
    const supervisor = join(base, 'supervisor');
    await fs.mkdir(supervisor);
    await fs.write(join(supervisor, 'cgroup.procs'), String(process.pid));
  }
  const available = await words(join(base, 'cgroup.controllers'));
  const missing = ['memory', 'pids'].filter((c) => !available.includes(c));
  if (missing.length)
    throw new Error(`cgroup ${base} does not offer ${missing.join(' and ')} (cgroup.controllers: "${available.join(' ')}")`);
  const enable = wanted.filter((c) => available.includes(c));
  await fs.write(join(base, 'cgroup.subtree_control'), enable.map((c) => `+${c}`).join(' '));
  return enable;
}
