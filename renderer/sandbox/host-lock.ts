// Host-wide leases between renderer instances, on flock(2). The kernel releases a
// flock when the last descriptor of its holder closes, that is when the holder dies,
// however it dies and whatever pid namespace it runs in. So whether a lease is live is
// never guessed from a pid (a daemon under `unshare --pid` sees other numbers than the
// host, and once took a live neighbour's run cgroup for a dead one's leftovers).
//
// Node opens every file close-on-exec, so no sandbox inherits a lock (which would
// outlive its renderer).
//
// The lock directories are private to the renderer's user (0700): any other local user
// could otherwise open a lock file and flock it, holding a step uid hostage or making a
// dead instance look alive forever.
import { closeSync, constants, lstatSync, mkdirSync, openSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RendererError } from '../errors.js';
import { NATIVE_ADDON_PATH } from '../paths.js';

let native: { tryLock(fd: number): boolean } | undefined;

/** flock(fd, LOCK_EX | LOCK_NB): true when this process now holds the lock. */
export function tryLock(fd: number): boolean {
  native ??= createRequire(import.meta.url)(NATIVE_ADDON_PATH) as { tryLock(fd: number): boolean };
  return native.tryLock(fd);
}

const OPEN_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW;

/** Creates `dir` (0700, ours, not a link) for lock files; throws RENDERER_ERR_SANDBOX_UNAVAILABLE naming it. */
export function ensureLockDir(dir: string): string {
  try {
    if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
  } catch (error) {
    throw new RendererError('RENDERER_ERR_SANDBOX_UNAVAILABLE', `cannot create the host lock directory ${dir}: ${(error as Error).message} (sandbox.hostDir must be a directory the renderer's user may create and own, shared by every renderer on the host)`);
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? st.uid;
  const problem = !st.isDirectory() ? 'is not a directory' : st.uid !== uid ? `is owned by uid ${st.uid}, not by the renderer (uid ${uid})` : (st.mode & 0o077) !== 0 ? `is open to other users (mode ${(st.mode & 0o777).toString(8)}; want 700)` : null;
  if (problem) throw new RendererError('RENDERER_ERR_SANDBOX_UNAVAILABLE', `the host lock directory ${dir} ${problem}`);
  return dir;
}

/** Opens (creating) `path` and locks it: its fd, or null when another holder has it. */
export function acquireLock(path: string): number | null {
  const fd = openSync(path, OPEN_FLAGS, 0o600);
  try {
    if (tryLock(fd)) return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  closeSync(fd);
  return null;
}

/** Is `path` locked by a live holder? null when there is no such file. Never creates it. */
export function lockHeld(path: string): boolean | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return !tryLock(fd); // got it: nobody holds it (closing ours releases it again)
  } finally {
    closeSync(fd);
  }
}
