// The renderer's state directory: run directories, uploaded tables, schedule state and
// the installed copy of the step runtime. It must be ours and closed to others, since
// the privileged side works in it (a world-writable parent would let anyone plant a
// symlink where the renderer writes: the judge0 CVE-2024-28185 class of bug).
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RendererError } from './errors.js';
import { RUNTIME_DIR } from './paths.js';

export function defaultStateDir(): string {
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
 * Installs the step runtime into the state directory and returns its path. Sandboxes
 * bind it from there, not from the checkout: bwrap opens bind sources as the step
 * user, who may not be able to traverse to the checkout (a home directory), and the
 * installed copy is owned by the renderer and never writable by a step.
 */
export function installRuntime(stateDir: string): string {
  const target = join(ensurePrivateDir(stateDir), 'runtime');
  const files = readdirSync(RUNTIME_DIR).sort();
  const current = (() => {
    try {
      return files.every((name) => {
        const [a, b] = [statSync(join(RUNTIME_DIR, name)), statSync(join(target, name))];
        return a.size === b.size && a.mtimeMs <= b.mtimeMs;
      }) && readdirSync(target).length === files.length;
    } catch {
      return false;
    }
  })();
  if (current) return target;
  // Build beside, then swap in with a rename: a concurrent renderer never sees half a runtime.
  const staging = `${target}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o755 });
  chmodSync(staging, 0o755);
  for (const name of files) copyFileSync(join(RUNTIME_DIR, name), join(staging, name));
  rmSync(`${target}.old`, { recursive: true, force: true });
  try {
    renameSync(target, `${target}.old`);
  } catch {
    /* no previous copy */
  }
  renameSync(staging, target);
  rmSync(`${target}.old`, { recursive: true, force: true });
  return target;
}
