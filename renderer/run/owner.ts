// Names of what a run leaves on the host (its run directory and cgroup) carry the
// identity of the renderer process that made them, its owner tag. Leftovers of a
// renderer that died (kill -9, a crash) are then recognisable and removable by any
// later renderer, while every live renderer on the host (a second daemon, a `renderer
// run` from cron, one in its own pid namespace) keeps its own.
//
// Liveness comes from a lock, not from a pid: each renderer holds an flock on
// <hostDir>/owners/<tag> for its whole life (host-lock.ts), made before the first name
// that carries the tag. A pid says nothing across pid namespaces: a daemon under
// `unshare --pid` is pid 1 or 2 to itself, which on the host is init, and a neighbour
// once judged such a live daemon dead and removed its run cgroups under it (EBUSY).
// The pid and start time in the tag remain for people reading names, and as the
// fallback for names whose lock file is missing (made by an older renderer, or whose
// owner's lock was already found dead and removed).
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock, ensureLockDir, lockHeld } from '../sandbox/host-lock.js';

function startTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22, counted after the command name, which may contain spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return null;
  }
}

const DEFAULT_HOST_DIR = '/run/renderer';
let ownersDir = join(DEFAULT_HOST_DIR, 'owners');
let own: string | undefined;

/**
 * Where owner locks live (sandbox.hostDir/owners); called once, before the first id,
 * by Runner.create. Creates this process's own lock at once so that a missing host
 * directory is a start-up error, not a failed run.
 */
export function registerOwner(hostDir: string): string {
  if (own === undefined) ownersDir = join(hostDir, 'owners');
  return ownerTag();
}

// The tag is "<pid>_<start time>_<random>", each in base 36. The separator must not be
// a base-36 digit: ids made before 2026-11-24 used 'x', so "mufxxxnz" (pid 29607 started
// at tick 1583279) also read as pid "mufxx", a dead process. The random part keeps two
// renderers of equal pid and start tick in two pid namespaces apart.
function ownerTag(): string {
  if (own !== undefined) return own;
  const tag = `${process.pid.toString(36)}_${(startTime(process.pid) ?? 0).toString(36)}_${randomBytes(3).readUIntBE(0, 3).toString(36).padStart(4, '0').slice(-4)}`;
  ensureLockDir(ownersDir);
  // Locked under a temporary name, then renamed: whoever finds the final name finds it
  // locked, never in the instant between create and flock.
  const staging = join(ownersDir, `.new-${tag}`);
  const fd = acquireLock(staging);
  if (fd === null) throw new Error(`cannot lock ${staging}`);
  renameSync(staging, join(ownersDir, tag));
  // The fd stays open for the life of the process: the lock is the liveness.
  const path = join(ownersDir, tag);
  process.once('exit', () => rmSync(path, { force: true }));
  own = tag;
  return tag;
}

/** A new child id: "<owner>-<random>", e.g. "1vk_9fq3_0a1z-4f0c2a9e". */
export const newChildId = (): string => `${ownerTag()}-${randomBytes(4).toString('hex')}`;

const CURRENT = /([0-9a-z]+)_([0-9a-z]+)_([0-9a-z]{4})-[0-9a-f]{8}$/;
const BEFORE_LOCKS = /([0-9a-z]+)_([0-9a-z]+)-[0-9a-f]{8}$/;

/** Every (pid, start time) an id's tag can mean: one for "_" tags; for the old "x"
 * tags, each way of splitting at an 'x'. Null when the id is not one of ours. */
export function ownerReadings(id: string): Array<[pid: number, start: number]> | null {
  const current = CURRENT.exec(id) ?? BEFORE_LOCKS.exec(id);
  if (current) return [[parseInt(current[1]!, 36), parseInt(current[2]!, 36)]];
  const legacy = /([0-9a-z]+)-[0-9a-f]{8}$/.exec(id)?.[1];
  if (!legacy?.includes('x')) return null;
  const out: Array<[number, number]> = [];
  for (let at = legacy.indexOf('x'); at > 0 && at < legacy.length - 1; at = legacy.indexOf('x', at + 1))
    out.push([parseInt(legacy.slice(0, at), 36), parseInt(legacy.slice(at + 1), 36)]);
  return out;
}

/** The lock file of a current id's owner, or null for older ids and names not ours. */
function lockOf(id: string): string | null {
  const m = CURRENT.exec(id);
  return m ? join(ownersDir, `${m[1]}_${m[2]}_${m[3]}`) : null;
}

/** Is the renderer that made `id` (a child id, or a name ending in one) still alive?
 * Ids not ours are never judged dead. */
export function ownerAlive(id: string): boolean {
  const lock = lockOf(id);
  if (lock) {
    const held = lockHeld(lock);
    if (held !== null) return held;
  }
  const candidates = ownerReadings(id);
  if (!candidates) return true;
  return candidates.some(([pid, start]) => startTime(pid) === start);
}

const PRUNE_AFTER_MS = 24 * 3600 * 1000;

/**
 * Removes the lock files of owners gone for a day (their flock is free); returns their
 * tags. Not sooner: a renderer with another state directory may not yet have removed
 * that owner's run directories, and without the lock file their tag falls back to the
 * pid reading, which misjudges owners that ran in another pid namespace. A clean exit
 * removes its own file; only crashed owners leave one. Names starting with '.' are
 * locks still being made.
 */
export function pruneDeadOwners(now = Date.now()): string[] {
  const dead: string[] = [];
  let names: string[];
  try {
    names = readdirSync(ownersDir);
  } catch {
    return dead;
  }
  for (const name of names) {
    if (name.startsWith('.') || name === own) continue;
    const path = join(ownersDir, name);
    let age: number;
    try {
      age = now - statSync(path).mtimeMs;
    } catch {
      continue;
    }
    if (age > PRUNE_AFTER_MS && lockHeld(path) === false) {
      rmSync(path, { force: true });
      dead.push(name);
    }
  }
  return dead;
}
