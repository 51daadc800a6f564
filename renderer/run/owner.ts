// Names of what a run leaves on the host (its run directory and cgroup) carry the
// identity of the renderer process that made them: pid and start time (from
// /proc/<pid>/stat, so a reused pid is not mistaken for the owner). Leftovers of a
// renderer that died (kill -9, a crash) are then recognisable and removable by any
// later renderer, while a concurrent `renderer run` sharing the state directory keeps
// its own.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

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

// The owner tag is "<pid>_<start time>", both in base 36. The separator must not be a
// base-36 digit: ids made before 2026-11-24 used 'x', so "mufxxxnz" (pid 29607 started at
// tick 1583279, "muf" and "xxnz") also read as pid "mufxx" started at "nz", a dead
// process, and a second daemon took the first's live state directory for a leftover.
let own: string | undefined;
const ownerTag = (): string => (own ??= `${process.pid.toString(36)}_${(startTime(process.pid) ?? 0).toString(36)}`);

/** A new child id: "<owner>-<random>", e.g. "1vk_9fq3-4f0c2a9e". */
export const newChildId = (): string => `${ownerTag()}-${randomBytes(4).toString('hex')}`;

/** Every (pid, start time) an id's tag can mean: one for "_" tags; for the old "x"
 * tags, each way of splitting at an 'x'. Null when the id is not one of ours. */
export function ownerReadings(id: string): Array<[pid: number, start: number]> | null {
  const current = /([0-9a-z]+)_([0-9a-z]+)-[0-9a-f]{8}$/.exec(id);
  if (current) return [[parseInt(current[1]!, 36), parseInt(current[2]!, 36)]];
  const legacy = /([0-9a-z]+)-[0-9a-f]{8}$/.exec(id)?.[1];
  if (!legacy?.includes('x')) return null;
  const out: Array<[number, number]> = [];
  for (let at = legacy.indexOf('x'); at > 0 && at < legacy.length - 1; at = legacy.indexOf('x', at + 1))
    out.push([parseInt(legacy.slice(0, at), 36), parseInt(legacy.slice(at + 1), 36)]);
  return out;
}

/** The pid of the live renderer that made `id` (a child id, or a name ending in one);
 * null if it is gone; undefined if the id is not one of ours. */
export function ownerPid(id: string): number | null | undefined {
  const candidates = ownerReadings(id);
  if (!candidates) return undefined;
  return candidates.find(([pid, start]) => startTime(pid) === start)?.[0] ?? null;
}

/** Is the renderer that made `id` still alive? Ids not ours are never judged dead. */
export const ownerAlive = (id: string): boolean => ownerPid(id) !== null;
