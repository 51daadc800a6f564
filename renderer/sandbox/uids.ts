// The host-wide step-uid allocator: one uid (and the gid of the same number) per live
// sandbox, never shared by two live sandboxes of any renderer instance on the host (the
// isolate model: one uid per box).
//
// Why: the kernel counts per-user budgets over every task of a uid on the host, across
// user namespaces (ucounts are charged up to the initial namespace): RLIMIT_NPROC, pending
// signals, inotify instances, mqueue bytes, epoll watches. With one uid for every
// sandbox, ~6 Node children exhausted RLIMIT_NPROC=64 for all of them, and one fork bomb
// in `renderer sandbox` starved every other run on the host. With a uid per sandbox
// each budget is per run.
//
// A lease is an flock on <hostDir>/uids/<uid> (host-lock.ts): released at the end of
// the run, or by the kernel when its renderer dies. The file holds a line while leased
// and is emptied on release; a non-empty file found unlocked means its holder died
// holding it, so the uid is taken only once no process runs as it any more.
import { closeSync, fstatSync, ftruncateSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RendererError } from '../errors.js';
import { acquireLock, ensureLockDir, lockHeld } from './host-lock.js';

export interface UidRange {
  first: number;
  count: number;
}

export interface UidLease {
  readonly uid: number;
  readonly gid: number;
  /** Ends the lease: call only once nothing runs as the uid any more. Idempotent. */
  release(): void;
  /** Ends the lease when processes of the uid may still be alive (a kill that did not
   * finish): the next holder takes the uid only once none is left. */
  abandon(): void;
}

/** Live (not zombie) processes whose real, effective or saved uid passes `match`. */
export function processesByUid(match: (uid: number) => boolean): Array<{ pid: number; uid: number }> {
  const out: Array<{ pid: number; uid: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const uid = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1).map(Number).find(match);
      if (uid !== undefined && !/^State:\s+Z/m.test(status)) out.push({ pid: Number(entry), uid });
    } catch {
      /* it exited while we looked */
    }
  }
  return out;
}

const processesOfUid = (uid: number): number[] => processesByUid((u) => u === uid).map((p) => p.pid);

/**
 * Processes running as a uid of the range that no live sandbox leases: a run's orphan,
 * or somebody else's use of the range (renderer doctor, the tests' leak checks). Each
 * renderer's live sandboxes hold their leases, so this is right beside any number of
 * other renderer instances.
 */
export function strayProcesses(hostDir: string, range: Readonly<UidRange>): Array<{ pid: number; uid: number }> {
  const inRange = processesByUid((uid) => uid >= range.first && uid < range.first + range.count);
  const leased = new Map<number, boolean>();
  return inRange.filter(({ uid }) => {
    if (!leased.has(uid)) leased.set(uid, lockHeld(join(hostDir, 'uids', String(uid))) === true);
    return !leased.get(uid);
  });
}

export class UidAllocator {
  readonly dir: string;
  /** Where the next search starts: round robin from a random place, so instances spread
   * over the range and a just-released uid is the last to be reused. */
  private cursor: number;

  constructor(
    hostDir: string,
    readonly range: Readonly<UidRange>,
    private readonly owner: () => string = () => String(process.pid),
  ) {
    this.dir = ensureLockDir(join(hostDir, 'uids'));
    this.cursor = Math.floor(Math.random() * range.count);
  }

  /** A uid no other live sandbox on the host has; throws RENDERER_ERR_SANDBOX_UIDS when the range is used up. */
  acquire(): UidLease {
    const { first, count } = this.range;
    for (let tried = 0; tried < count; tried++) {
      const uid = first + ((this.cursor + tried) % count);
      const fd = acquireLock(join(this.dir, String(uid)));
      if (fd === null) continue;
      // Its last holder died holding it: a sandbox of that run may still be dying.
      if (fstatSync(fd).size > 0 && processesOfUid(uid).length > 0) {
        closeSync(fd);
        continue;
      }
      ftruncateSync(fd, 0);
      writeSync(fd, `${this.owner()}\n`, 0);
      this.cursor = (this.cursor + tried + 1) % count;
      let open = true;
      const end = (clean: boolean): void => {
        if (!open) return;
        open = false;
        if (clean) ftruncateSync(fd, 0);
        closeSync(fd);
      };
      return { uid, gid: uid, release: () => end(true), abandon: () => end(false) };
    }
    throw new RendererError(
      'RENDERER_ERR_SANDBOX_UIDS',
      `all ${count} step uids from ${first} (sandbox.uidRange) are leased by live sandboxes on this host`,
    );
  }
}
