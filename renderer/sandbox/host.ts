// Facts about this host that the sandbox needs: where bwrap and node are, and the
// shared libraries a binary needs (bound read-only into the sandbox, nothing more).
import { execFile } from 'node:child_process';
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const libraryCache = new Map<string, Promise<string[]>>();

/**
 * The absolute paths of the shared objects `binary` loads, from ldd. ldd is run only on
 * binaries the operator chose (node, the reaper, a `renderer sandbox` command), never
 * on anything a step wrote.
 */
export function sharedLibraries(binary: string): Promise<string[]> {
  let cached = libraryCache.get(binary);
  if (!cached) {
    cached = execFileAsync('ldd', [binary], { env: { LC_ALL: 'C' }, timeout: 10_000 }).then(
      ({ stdout }) => parseLdd(stdout),
      (error: NodeJS.ErrnoException & { stdout?: string; stderr?: string }) => {
        // ldd exits 1 for static binaries ("not a dynamic executable"): nothing to bind.
        if (/not a dynamic executable|statically linked/.test(`${error.stdout ?? ''}${error.stderr ?? ''}`)) return [];
        if (error.code === 'ENOENT') throw new Error('ldd is not installed (Debian package libc-bin)');
        throw new Error(`ldd ${binary} failed: ${(error.stderr ?? error.message).trim()}`);
      },
    );
    libraryCache.set(binary, cached);
    cached.catch(() => libraryCache.delete(binary));
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
