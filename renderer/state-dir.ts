// The renderer's state directory: run directories, uploaded tables, schedule state and
// the installed copy of the step runtime. It must be ours and closed to others, since
// the privileged side works in it (a world-writable parent would let anyone plant a
// symlink where the renderer writes: the judge0 CVE-2024-28185 class of bug).
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { RendererError } from './errors.js';
import { RUNTIME_DIR } from './paths.js';

/** Without `stateDir` in the config: systemd's StateDirectory= (it sets
 * $STATE_DIRECTORY, deploy/systemd), else /var/lib/renderer as root, else XDG's. */
export function defaultStateDir(): string {
  const systemd = process.env.STATE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  if (process.getuid?.() === 0) return '/var/lib/renderer';
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'renderer');
}

/**
 * Creates `path` (mode 0711: others may traverse to a run directory bound into a
 * sandbox, but not list) or checks an existing one: a real directory, owned by this
 * user, writable by nobody else.
 */
export function ensurePrivateDir(path: string): string {
  const created = mkdirSync(path, { recursive: true, mode: 0o711 });
  if (created !== undefined) chmodSync(path, 0o711); // umask-proof, and only if we made it
  const st = lstatSync(path);
  const uid = process.getuid?.() ?? st.uid;
  const problem = !st.isDirectory()
    ? 'is not a directory (or is a symbolic link)'
    : st.uid !== uid
      ? `is owned by uid ${st.uid}, not by the renderer (uid ${uid})`
      : (st.mode & 0o022) !== 0
        ? `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`
        : null;
  if (problem) throw new RendererError('RENDERER_ERR_STATE_DIR', `${path} ${problem}`);
  return path;
}

/**
 * bwrap binds a run's directories as the step user, who must be able to traverse every
 * directory above them. Names the first one that blocks it, or returns null.
 */
export function untraversableAncestor(path: string): string | null {
  for (let dir = path; ; dir = dirname(dir)) {
    const st = statSync(dir);
    if ((st.mode & 0o001) === 0) return `${dir} (mode ${(st.mode & 0o777).toString(8)})`;
    if (dir === dirname(dir)) return null;
  }
}

/**
 * Installs the step runtime into the state directory and returns its path. Sandboxes
 * bind it from there, not from the checkout: bwrap opens bind sources as the step
 * user, who may not be able to traverse to the checkout (a home directory), and the
 * installed copy is owned by the renderer and never writable by a step.
 */
export function installRuntime(stateDir: string): string {
  const files = readdirSync(RUNTIME_DIR).sort();
  const key = createHash('sha256');
  for (const name of files) {
    const st = statSync(join(RUNTIME_DIR, name));
    key.update(`${name}\0${st.size}\0${st.mtimeMs}\0`);
  }
  return publishOnce(join(stateDir, 'runtime'), key.digest('hex').slice(0, 16), (staging) => {
    for (const name of files) copyFileSync(join(RUNTIME_DIR, name), join(staging, name));
  });
}

/** How long a version nobody marked in use stays, once another is published. */
export const UNUSED_VERSION_MS = 86_400_000;

/**
 * Returns `<parent>/<key>`, first building it with `build(staging)` if it is missing.
 * Each version of a thing gets its own directory, named by what it is made of, and
 * appears by one rename: concurrent renderers either build the same thing or find it
 * built, and never see half of it. Versions no renderer has marked in use for a day
 * are removed: every renderer marks its own when it starts and the daemon every minute
 * (markInUse), so a daemon of an older version keeps its runtime and step root however
 * long it lives beside a newer one.
 */
export function publishOnce(parent: string, key: string, build: (staging: string) => void): string {
  const root = ensurePrivateDir(parent);
  const target = join(root, key);
  if (existsSync(target)) {
    markInUse(target);
    return target;
  }
  const staging = `${target}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o755 });
  chmodSync(staging, 0o755);
  try {
    build(staging);
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(target)) throw error; // else: another renderer just built it
  }
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    // A concurrent renderer may have removed it first: nothing to do then.
    const unusedFor = path === target ? 0 : Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (unusedFor > UNUSED_VERSION_MS) rmSync(path, { recursive: true, force: true });
  }
  return target;
}

/** Marks a published version as used now (its mtime), so publishOnce keeps it. */
export function markInUse(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    /* removed under us: the next publishOnce builds it again */
  }
}

/** Writes `text` to `path` so that a reader (another renderer) sees the old or the new file, whole. */
export function writeFileAtomic(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}
