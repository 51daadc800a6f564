// Everything needed to launch sandboxes on this host, checked once. If any layer is
// missing, open() throws RENDERER_ERR_SANDBOX_UNAVAILABLE naming it: runs then end as
// `sandbox_error`; nothing ever runs with a layer quietly left out.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxSettings } from '../config/config-schema.js';
import { RendererError } from '../errors.js';
import { LAUNCHER_PATH, RUNTIME_FILES } from '../paths.js';
import { SANDBOX_MOUNT_DIRS } from './bwrap-args.js';
import { realCgroupFs, type CgroupFs } from './cgroup/cgroup-fs.js';
import { detectCgroups } from './cgroup/detect.js';
import { prepareV2Base, v1Driver, v2Driver, type CgroupDriver } from './cgroup/driver.js';
import { isExecutable, nodeBinary } from './host.js';
import { libraryBind, sharedLibraries } from './libraries.js';
import { stage1Bytes } from './seccomp/policy.js';
import { prepareStepRoot, type StepRoot } from './step-root.js';
import { UidAllocator, type UidLease } from './uids.js';

export interface OpenOptions {
  /** The installed runtime (state-dir.ts installRuntime). */
  runtimeDir: string;
  /** Where the step root is prepared (step-root.ts). */
  stateDir: string;
  /** Where each step run binds its own files: mount points in the step root. */
  stepMountDirs: readonly string[];
  /** Called once when cgroups are unavailable and not required. */
  warn?: (message: string) => void;
  cgroupFs?: CgroupFs;
}

export class Sandbox {
  private constructor(
    readonly settings: Readonly<SandboxSettings>,
    readonly nodePath: string,
    readonly runtimeDir: string,
    readonly cgroups: CgroupDriver | null,
    /** Why there are no cgroups, when there are none. */
    readonly cgroupProblem: string | null,
    readonly seccompProgram: Buffer,
    /** The read-only root of every step sandbox. */
    readonly stepRoot: StepRoot,
    readonly uids: UidAllocator,
  ) {}

  static async open(settings: Readonly<SandboxSettings>, options: OpenOptions): Promise<Sandbox> {
    const unavailable = (message: string): RendererError => new RendererError('RENDERER_ERR_SANDBOX_UNAVAILABLE', message);

    if (process.platform !== 'linux' || process.arch !== 'x64')
      throw unavailable(`the seccomp policy covers Linux x86_64 only; this host is ${process.platform} ${process.arch}`);
    if (!isExecutable(settings.bwrapPath))
      throw unavailable(`bubblewrap is not installed at ${settings.bwrapPath} (apt-get install bubblewrap)`);
    if (!isExecutable(LAUNCHER_PATH))
      throw unavailable(`the native launcher is not built at ${LAUNCHER_PATH} (run npm install, which runs node-gyp)`);
    const { runtimeDir } = options;
    for (const file of [RUNTIME_FILES.reaper, RUNTIME_FILES.bundle, RUNTIME_FILES.addon])
      if (!existsSync(join(runtimeDir, file)))
        throw unavailable(`the step runtime is not built: ${join(runtimeDir, file)} is missing (run npm run build)`);
    const ownUid = process.getuid?.() ?? -1;
    const { first, count } = settings.uidRange;
    if (ownUid >= first && ownUid < first + count)
      throw unavailable(`the renderer's own uid ${ownUid} lies in sandbox.uidRange (${first} to ${first + count - 1}); steps must run as other users`);
    const uids = new UidAllocator(settings.hostDir, settings.uidRange);

    const { driver, problem } = await openCgroups(settings, options.cgroupFs ?? realCgroupFs);
    if (!driver) {
      if (settings.requireCgroups)
        throw unavailable(`no per-run cgroup can be created: ${problem} (set sandbox.requireCgroups=false to run with rlimits only)`);
      options.warn?.(
        `WARNING: running steps WITHOUT per-run cgroups (${problem}): no memory limit but rlimits, no oom_killed outcome, no peak memory`,
      );
    }

    const nodePath = nodeBinary();
    let stepRoot: StepRoot;
    try {
      // Fails now, not at the first run, if a library list cannot be had. Hard-linked
      // into the root, so checked here as launch.ts checks the binds of commands.
      const libraries = sharedLibraries(nodePath).map((path) => libraryBind(path).dest);
      stepRoot = prepareStepRoot({
        stateDir: options.stateDir,
        runtimeDir,
        hostFiles: [nodePath, ...libraries],
        mountDirs: [...SANDBOX_MOUNT_DIRS, ...options.stepMountDirs],
      });
    } catch (error) {
      throw unavailable(`the step root cannot be prepared: ${(error as Error).message}`);
    }
    return new Sandbox(settings, nodePath, runtimeDir, driver, problem, stage1Bytes(), stepRoot, uids);
  }

  /** A step uid no other live sandbox on the host has (uids.ts); throws when none is free. */
  leaseUid(): UidLease {
    return this.uids.acquire();
  }

  /** Shared libraries of node, the reaper and `extra`, deduplicated (`renderer sandbox`). */
  librariesFor(extra: readonly string[]): string[] {
    const lists = [this.nodePath, join(this.runtimeDir, RUNTIME_FILES.reaper), ...extra].map((binary) => sharedLibraries(binary));
    return [...new Set(lists.flat())];
  }

  get snapshotAvailable(): boolean {
    return existsSync(join(this.runtimeDir, RUNTIME_FILES.snapshot));
  }
}

async function openCgroups(
  settings: Readonly<SandboxSettings>,
  fs: CgroupFs,
): Promise<{ driver: CgroupDriver | null; problem: string | null }> {
  const layout = await detectCgroups();
  try {
    if (layout.version === 1) return { driver: v1Driver(layout, fs), problem: null };
    if (layout.version === 2) {
      const isRoot = process.getuid?.() === 0;
      const base = settings.cgroupRoot ?? (isRoot ? join(layout.mount, 'renderer') : layout.own);
      const controllers = await prepareV2Base(layout, base, fs);
      return { driver: v2Driver(base, fs, controllers), problem: null };
    }
    return { driver: null, problem: layout.reason };
  } catch (error) {
    return { driver: null, problem: (error as Error).message };
  }
}
