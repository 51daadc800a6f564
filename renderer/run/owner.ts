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

let own: string | undefined;
const ownerTag = (): string => (own ??= `${process.pid.toString(36)}x${(startTime(process.pid) ?? 0).toString(36)}`);

/** A new child id: "<owner>-<random>", e.g. "1vkx9fq3-4f0c2a9e". */
export const newChildId = (): string => `${ownerTag()}-${randomBytes(4).toString('hex')}`;

/** Is the renderer that made `id` (a child id, or a name ending in one) still alive? */
export function ownerAlive(id: string): boolean {
  const match = /([0-9a-z]+)x([0-9a-z]+)-[0-9a-f]{8}$/.exec(id);
  if (!match) return true; // not ours to judge: never removed
  const pid = parseInt(match[1]!, 36);
  return startTime(pid) === parseInt(match[2]!, 36);
}
