// The shared libraries a program loads, found the way its loader would find them inside
// the sandbox, and the one check every library bind passes.
//
// Nothing is executed and no tool output is trusted (`ldd` was both: issue 13, a
// DT_NEEDED with a newline made it print a host path, which got bound). The program's
// ELF headers are read by elf.ts; each DT_NEEDED must be a plain file name, looked up
// only in the system library directories (and in DT_RUNPATH/DT_RPATH entries that lie
// inside them), and every object found is parsed in turn, breadth first, up to
// MAX_OBJECTS. What is bound must be a regular ELF64 x86-64 shared object whose real
// path lies inside LIBRARY_DIRS: never a directory, socket, FIFO or device, never a
// path with control characters.
//
// Decisions, each the conservative one:
// - A file that is not ELF at all (a script) needs no library: nothing is bound for it,
//   as ldd's "not a dynamic executable" did. ELF of another class or machine is refused:
//   seccomp kills every ABI but x86-64, so it could not run anyway.
// - A DT_NEEDED holding '/', '..', a control character, a space or a non-ASCII byte
//   refuses the whole command: no legitimate library name needs one, and a name that
//   cannot be shown plainly is the forgery this module exists to stop.
// - DT_RUNPATH/DT_RPATH entries outside the system directories ($ORIGIN, a home
//   directory, a build tree) are ignored, not followed: the library is then looked up
//   in the system directories only, and if it is not there, the loader inside reports
//   it missing, which is a clear error of the program's own.
// - /etc/ld.so.conf is not read: the sandbox has no /etc/ld.so.cache, so its loader
//   searches only the run paths and its built-in system directories, and a library
//   found through ld.so.conf alone would not be loaded from where it was bound. (ldd
//   found those through the host's cache; binding them never made them load.)
import { closeSync, fstatSync, lstatSync, openSync, readSync, realpathSync, constants } from 'node:fs';
import { posix } from 'node:path';
import { RendererError } from '../errors.js';
import type { Bind } from './bwrap-args.js';
import { ElfError, readElfDependencies, type ElfDependencies, type ElfReader } from './elf.js';

/** Where a bound library may lie (its real path, symlinks resolved, and its path inside). */
export const LIBRARY_DIRS: readonly string[] = [
  '/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/local/lib',
];
/** Where glibc's x86-64 loader looks without an ld.so.cache, in its order (`ld.so
 * --help`, "system search path"; /lib64 and /usr/lib64 for non-Debian layouts). */
export const SYSTEM_SEARCH_DIRS: readonly string[] = [
  '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib',
];
/** Objects parsed for one program at most (node loads 8). */
export const MAX_OBJECTS = 256;

export interface LibraryPolicy {
  allowedDirs: readonly string[];
  searchDirs: readonly string[];
}
export const HOST_POLICY: LibraryPolicy = Object.freeze({ allowedDirs: LIBRARY_DIRS, searchDirs: SYSTEM_SEARCH_DIRS });

const refused = (message: string): RendererError => new RendererError('RENDERER_ERR_SANDBOX_BINARY_REFUSED', message);
const CONTROL = /[\x00-\x1f\x7f]/;
/** Printable ASCII but space and '/'. */
const PLAIN_NAME = /^[\x21-\x2e\x30-\x7e]{1,255}$/;

const isUnder = (path: string, dirs: readonly string[]): boolean => dirs.some((dir) => path === dir || path.startsWith(`${dir}/`));

/** An absolute, normalized path with no control character: no '.', '..' or '//' in it. */
const isCleanAbsolute = (path: string): boolean =>
  path.startsWith('/') && !CONTROL.test(path) && posix.normalize(path) === path && !path.split('/').includes('..');

/** The real paths of the allowed directories that exist (on merged-/usr, /lib is /usr/lib),
 * resolved once per list: system directories do not move under a running renderer. */
const realDirsCache = new WeakMap<readonly string[], string[]>();
function realDirs(dirs: readonly string[]): string[] {
  const cached = realDirsCache.get(dirs);
  if (cached) return cached;
  const real: string[] = [];
  realDirsCache.set(dirs, real);
  for (const dir of dirs) {
    try {
      real.push(realpathSync(dir));
    } catch {
      /* absent on this host */
    }
  }
  return real;
}

/**
 * The bind for a library at `path`: from its real path, at `path` inside. Throws unless
 * `path` is a clean absolute path under an allowed directory whose real path is a
 * regular file under an allowed directory's real path. Every library bind, whatever
 * produced the path, goes through here.
 */
export function libraryBind(path: string, allowedDirs: readonly string[] = LIBRARY_DIRS): Bind {
  const shown = JSON.stringify(path);
  if (!isCleanAbsolute(path) || !isUnder(path, allowedDirs))
    throw refused(`the library path ${shown} is not a plain path inside the library directories (${allowedDirs.join(', ')})`);
  let real: string;
  try {
    real = realpathSync(path);
  } catch (error) {
    throw refused(`the library ${shown} cannot be resolved: ${(error as Error).message}`);
  }
  if (CONTROL.test(real) || !isUnder(real, realDirs(allowedDirs)))
    throw refused(`the library ${shown} resolves to ${JSON.stringify(real)}, outside the library directories`);
  // After realpath nothing is a link: lstat sees the object itself. A socket here would
  // be reachable from inside (path sockets ignore the network namespace); a device or
  // FIFO is no library either; a directory would show its whole tree.
  if (!lstatSync(real).isFile()) throw refused(`the library ${shown} is not a regular file`);
  return { source: real, dest: path };
}

/** Opens without blocking (a FIFO swapped in) and reads only a regular file. */
function readElfFile(path: string, flags = 0): ElfDependencies {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | flags);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ElfError('not-elf', `${path} is not a regular file`);
    const reader: ElfReader = {
      size: st.size,
      read: (offset, length) => {
        const buffer = Buffer.alloc(length);
        let done = 0;
        while (done < length) {
          const n = readSync(fd, buffer, done, length - done, offset + done);
          if (n === 0) break;
          done += n;
        }
        return buffer.subarray(0, done);
      },
    };
    return readElfDependencies(reader);
  } finally {
    closeSync(fd);
  }
}

/** Run path entries that may be searched: clean absolute paths inside the allowed dirs. */
function usableRunPath(value: string | null, allowedDirs: readonly string[]): string[] {
  if (value === null) return [];
  return value.split(':').filter((dir) => isCleanAbsolute(dir) && isUnder(dir, allowedDirs));
}

/** The first `name` in `dirs` that is an x86-64 shared object passing libraryBind. Like
 * the loader, it skips objects of another class or machine and keeps looking. */
function findLibrary(name: string, dirs: readonly string[], allowedDirs: readonly string[]): { path: string; deps: ElfDependencies } | null {
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    let bind: Bind;
    try {
      lstatSync(path);
    } catch {
      continue; // not in this directory
    }
    try {
      bind = libraryBind(path, allowedDirs);
    } catch {
      continue; // a link out of the directories, a socket, a device: never bound
    }
    let deps: ElfDependencies;
    try {
      deps = readElfFile(bind.source, constants.O_NOFOLLOW);
    } catch (error) {
      if (error instanceof ElfError) continue;
      throw error;
    }
    if (deps.type === 'shared') return { path, deps };
  }
  return null;
}

/**
 * The paths (inside = outside) of every shared object `binary` loads, its interpreter
 * first; each passes libraryBind. Throws RENDERER_ERR_SANDBOX_BINARY_REFUSED for a
 * program the sandbox will not run.
 */
export function sharedLibraries(binary: string, policy: LibraryPolicy = HOST_POLICY): string[] {
  let program: ElfDependencies;
  try {
    program = readElfFile(binary);
  } catch (error) {
    if (!(error instanceof ElfError)) throw error;
    if (error.problem === 'not-elf') return [];
    throw refused(`${binary}: ${error.message}`);
  }
  const paths = new Set<string>();
  if (program.interpreter !== null) {
    const interpreter = program.interpreter;
    const bind = (() => {
      try {
        return libraryBind(interpreter, policy.allowedDirs);
      } catch (error) {
        throw refused(`${binary}: its interpreter (PT_INTERP): ${(error as Error).message}`);
      }
    })();
    try {
      if (readElfFile(bind.source, constants.O_NOFOLLOW).type !== 'shared') throw new ElfError('unsupported', 'not a shared object');
    } catch (error) {
      throw refused(`${binary}: its interpreter ${JSON.stringify(interpreter)} is no x86-64 shared object: ${(error as Error).message}`);
    }
    paths.add(interpreter);
  }

  // The executable's DT_RPATH applies to every object without a DT_RUNPATH (glibc).
  const programRpath = program.runpath === null ? usableRunPath(program.rpath, policy.allowedDirs) : [];
  // The interpreter is loaded already: a DT_NEEDED of its name (node's ld-linux-x86-64.so.2)
  // is satisfied by it, as the loader matches it by soname.
  const seen = new Set<string>(program.interpreter !== null ? [posix.basename(program.interpreter)] : []);
  const queue: ElfDependencies[] = [program];
  for (let object = queue.shift(); object; object = queue.shift()) {
    const runPath =
      object.runpath !== null
        ? usableRunPath(object.runpath, policy.allowedDirs)
        : [...usableRunPath(object.rpath, policy.allowedDirs), ...programRpath];
    for (const name of object.needed) {
      if (!PLAIN_NAME.test(name) || name.includes('..'))
        throw refused(`${binary} needs a library named ${JSON.stringify(name)}: only a plain file name (printable ASCII, no '/', no '..') is looked up`);
      if (seen.has(name)) continue;
      seen.add(name);
      if (seen.size > MAX_OBJECTS) throw refused(`${binary} needs more than ${MAX_OBJECTS} shared objects`);
      const found = findLibrary(name, [...runPath, ...policy.searchDirs], policy.allowedDirs);
      if (!found) continue; // the loader inside will say it is missing
      paths.add(found.path);
      queue.push(found.deps);
    }
  }
  return [...paths];
}
