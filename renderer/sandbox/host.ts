// Facts about this host that the sandbox needs: where bwrap and node are, and the
// shared libraries a binary needs (bound read-only into the sandbox, nothing more).
import { execa } from 'execa';
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { writeFileAtomic } from '../state-dir.js';

const libraryCache = new Map<string, Promise<string[]>>();
let persistentCache: { file: string; entries: Record<string, { id: string; libraries: string[] }> } | null = null;

/** Keeps ldd's answers in FILE (in the renderer's state directory) across processes:
 * each `renderer run` would otherwise spend ~15 ms running ldd. An entry is valid for
 * one binary identity (path, size, mtime, inode). */
export function useLibraryCache(file: string): void {
  let entries = {};
  try {
    entries = JSON.parse(readFileSync(file, 'utf8')) as typeof entries;
  } catch {
    /* no cache yet, or a damaged one: start over */
  }
  persistentCache = { file, entries };
}

const identity = (binary: string): string => {
  const st = statSync(binary);
  return `${st.size}:${st.mtimeMs}:${st.ino}`;
};

/**
 * The absolute paths of the shared objects `binary` loads, from ldd. ldd is run only on
 * binaries the operator chose (node, the reaper, a `renderer sandbox` command), never
 * on anything a step wrote.
 */
export function sharedLibraries(binary: string): Promise<string[]> {
  let cached = libraryCache.get(binary);
  const stored = persistentCache?.entries[binary];
  if (!cached && stored && stored.id === identity(binary)) {
    cached = Promise.resolve(stored.libraries);
    libraryCache.set(binary, cached);
  }
  if (!cached) {
    cached = execa('ldd', [binary], { env: { LC_ALL: 'C' }, extendEnv: false, timeout: 10_000 }).then(
      ({ stdout }) => parseLdd(stdout),
      (error: NodeJS.ErrnoException & { stdout?: string; stderr?: string }) => {
        // ldd exits 1 for static binaries ("not a dynamic executable"): nothing to bind.
        if (/not a dynamic executable|statically linked/.test(`${error.stdout ?? ''}${error.stderr ?? ''}`)) return [];
        if (error.code === 'ENOENT') throw new Error('ldd is not installed (Debian package libc-bin)');
        throw new Error(`ldd ${binary} failed: ${(error.stderr ?? error.message).trim()}`);
      },
    );
    libraryCache.set(binary, cached);
    cached.then(
      (libraries) => {
        if (!persistentCache) return;
        persistentCache.entries[binary] = { id: identity(binary), libraries };
        try {
          writeFileAtomic(persistentCache.file, JSON.stringify(persistentCache.entries));
        } catch {
          /* a read-only state directory only costs the ldd time next start */
        }
      },
      () => libraryCache.delete(binary),
    );
  }
  return cached;
}

export function parseLdd(output: string): string[] {
  const paths = new Set<string>();
  for (const line of output.split('\n')) {
    const match = /(?:=>\s*)?(\/[^\s(]+)\s*\(0x[0-9a-f]+\)/.exec(line);
    if (match?.[1]) paths.add(match[1]);
  }
  return [...paths];
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Resolves a command like execvp would, against the host's PATH. */
export function resolveCommand(command: string, pathEnv = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  if (command.includes('/')) {
    const absolute = isAbsolute(command) ? command : join(process.cwd(), command);
    return isExecutable(absolute) ? absolute : null;
  }
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/** The node binary children run: this process's own, with symlinks resolved. */
export const nodeBinary = (): string => realpathSync(process.execPath);
