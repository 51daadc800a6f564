// The root filesystem of every step sandbox: one read-only directory, bound at / by a
// single mount. It holds node, the libraries node loads, the installed step runtime at
// /opt/renderer, and empty mount points for what each run adds (its /tmp, /proc, the
// data devices, /run/in and /run/out). Nothing else of the host is in it.
//
// Why a prepared directory rather than bwrap binding each file onto a tmpfs: bwrap
// re-reads the whole mount table after every bind, and the ten binds of node, its
// libraries and the runtime cost ~1 ms of every run (bench/cold-start, issue 3's +15%).
//
// Host files are hard links: the same inode as the host's file, so nothing is copied
// and the view is exactly the file the root was made from (an upgrade of node on the
// host does not change a root in use; the next start makes a new one, see the key).
// A file that cannot be linked (another filesystem; a non-root renderer under
// fs.protected_hardlinks) gets an empty stub and is bound onto it at launch, as before.
//
//   <stateDir>/roots/<key>/      0755, owned by the renderer, never writable by a step
//     opt/renderer/*             links to the installed runtime
//     usr/bin/node, lib*/...     links to the host's files, or stubs + binds
//     tmp/ proc/ run/in/ ...     mount points
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RUNTIME_MOUNT } from '../paths.js';
import { publishOnce } from '../state-dir.js';
import { DEV_LINKS, SANDBOX_DEVICES, type Bind } from './bwrap-args.js';

/** Bump when the layout changes: roots of an older layout are then rebuilt. */
const LAYOUT_VERSION = 1;

export interface StepRoot {
  /** Bound read-only at / of every step sandbox. */
  dir: string;
  /** Host files that could not be linked into `dir`: bound at their own path. */
  binds: Bind[];
}

export interface StepRootSpec {
  stateDir: string;
  /** The installed step runtime (state-dir.ts installRuntime). */
  runtimeDir: string;
  /** Absolute host paths visible at the same path inside: node and its libraries. */
  hostFiles: readonly string[];
  /** Directories that each run mounts something on. */
  mountDirs: readonly string[];
}

export function prepareStepRoot(spec: StepRootSpec): StepRoot {
  // Each host file resolved and stat'ed once: for the key, the links and the check.
  const hosts = spec.hostFiles.map((path) => {
    const real = realpathSync(path);
    return { path, real, st: statSync(real) };
  });
  const key = createHash('sha256').update(`${LAYOUT_VERSION}\0${spec.runtimeDir}\0${spec.mountDirs.join('\0')}\0`);
  for (const { path, real, st } of hosts) key.update(`${path}\0${real}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}\0`);

  const dir = publishOnce(join(spec.stateDir, 'roots'), key.digest('hex').slice(0, 16), (staging) => {
    const mkdir = (path: string): void => {
      mkdirSync(join(staging, path), { recursive: true, mode: 0o755 });
      chmodSync(join(staging, path), 0o755);
    };
    mkdir(RUNTIME_MOUNT);
    for (const name of readdirSync(spec.runtimeDir)) {
      const target = join(staging, RUNTIME_MOUNT, name);
      try {
        linkSync(join(spec.runtimeDir, name), target);
      } catch {
        copyFileSync(join(spec.runtimeDir, name), target);
      }
    }
    for (const { path, real } of hosts) {
      mkdir(dirname(path));
      try {
        linkSync(real, join(staging, path));
      } catch {
        writeFileSync(join(staging, path), '', { mode: 0o644 }); // a stub to bind onto
      }
    }
    for (const path of spec.mountDirs) mkdir(path);
    mkdir('/dev');
    for (const device of SANDBOX_DEVICES) writeFileSync(join(staging, device), '', { mode: 0o644 });
    for (const [link, target] of DEV_LINKS) symlinkSync(target, join(staging, link));
  });

  // Which host files are linked is a fact of the built root, checked on every open
  // (the root may have been built by another renderer, on another day).
  const binds: Bind[] = [];
  for (const { path, st } of hosts) {
    const linked = statSync(join(dir, path));
    if (linked.ino !== st.ino || linked.dev !== st.dev) binds.push({ source: path, dest: path });
  }
  return { dir, binds };
}
