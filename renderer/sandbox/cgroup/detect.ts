// Finds which cgroup hierarchy can hold per-run cgroups: v2 when a cgroup2 mount offers
// the memory and pids controllers (most production hosts), else v1 with separate
// memory and pids hierarchies (this CI machine), else none, with the reason.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface V1Layout {
  version: 1;
  /** Directory of this process's own cgroup in each mounted controller hierarchy. */
  own: Partial<Record<'memory' | 'pids' | 'freezer' | 'cpu' | 'cpuacct', string>>;
}

export interface V2Layout {
  version: 2;
  mount: string;
  /** This process's own cgroup directory under the mount. */
  own: string;
  controllers: string[];
}

export type CgroupLayout = V1Layout | V2Layout | { version: 0; reason: string };

interface Mount {
  root: string;
  point: string;
  fstype: string;
  superOptions: string[];
}

export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    const [root, point] = [left[3], left[4]];
    const [fstype, , superOpts] = right;
    if (!root || !point || !fstype) continue;
    mounts.push({ root: unescapeMount(root), point: unescapeMount(point), fstype, superOptions: (superOpts ?? '').split(',') });
  }
  return mounts;
}

const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

/** /proc/self/cgroup: "ID:controllers:path" lines; v2's line is "0::path". */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, , controllers, path] = match;
    if (controllers === '') out.set('', path!);
    else for (const c of controllers!.split(',')) out.set(c, path!);
  }
  return out;
}

/** Maps a cgroup path (as /proc/self/cgroup shows it) to its directory under a mount. */
function dirFor(mount: Mount, cgroupPath: string): string {
  const relative = mount.root !== '/' && cgroupPath.startsWith(mount.root) ? cgroupPath.slice(mount.root.length) : cgroupPath;
  return join(mount.point, relative);
}

export async function detectCgroups(procRoot = '/proc'): Promise<CgroupLayout> {
  let mountinfo: string;
  let own: Map<string, string>;
  try {
    mountinfo = await readFile(join(procRoot, 'self/mountinfo'), 'utf8');
    own = parseProcCgroup(await readFile(join(procRoot, 'self/cgroup'), 'utf8'));
  } catch (error) {
    return { version: 0, reason: `cannot read /proc/self/mountinfo or /proc/self/cgroup: ${(error as Error).message}` };
  }
  const mounts = parseMountinfo(mountinfo);

  const unified = mounts.find((m) => m.fstype === 'cgroup2');
  if (unified) {
    const ownPath = own.get('') ?? '/';
    const ownDir = dirFor(unified, ownPath);
    let controllers: string[] = [];
    try {
      controllers = (await readFile(join(unified.point, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/).filter(Boolean);
    } catch {
      /* an unreadable root means no usable controllers */
    }
    if (controllers.includes('memory') && controllers.includes('pids'))
      return { version: 2, mount: unified.point, own: ownDir, controllers };
  }

  const layout: V1Layout = { version: 1, own: {} };
  for (const controller of ['memory', 'pids', 'freezer', 'cpu', 'cpuacct'] as const) {
    const mount = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(controller));
    const path = own.get(controller);
    if (mount && path !== undefined) layout.own[controller] = dirFor(mount, path);
  }
  if (layout.own.memory && layout.own.pids) return layout;

  const missing = ['memory', 'pids'].filter((c) => !layout.own[c as 'memory' | 'pids']);
  return {
    version: 0,
    reason: unified
      ? `the cgroup2 hierarchy at ${unified.point} does not offer the memory and pids controllers, and no cgroup v1 ${missing.join(' and ')} hierarchy is mounted`
      : `no cgroup2 mount and no cgroup v1 ${missing.join(' and ')} hierarchy is mounted`,
  };
}

/**
 * Whether moving a process between cgroups is fast on this host. Writing a pid to
 * cgroup.procs takes the kernel's global threadgroup lock, which can wait for an RCU
 * grace period (~18 ms a run, measured on 2026-11-23); the `favordynmods` mount option
 * on any cgroup hierarchy (Linux 6.0+) trades that for slightly slower fork/exit. On v1
 * the launcher avoids the lock (it joins through `tasks`), so this matters for v2 only.
 */
export async function favorsDynamicModifications(procRoot = '/proc'): Promise<boolean> {
  try {
    const mounts = parseMountinfo(await readFile(join(procRoot, 'self/mountinfo'), 'utf8'));
    return mounts.some((m) => m.fstype.startsWith('cgroup') && m.superOptions.includes('favordynmods'));
  } catch {
    return false;
  }
}
