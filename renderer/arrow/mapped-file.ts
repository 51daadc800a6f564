// Read-only views of files through the native addon's mmap: the renderer validates a
// step's multi-gigabyte output without reading it into its heap. Without the addon (a
// failed native build) it falls back to reading the file, and says so once.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { NATIVE_ADDON_PATH } from '../paths.js';

interface NativeMmap {
  mapFile(path: string, maxBytes: number): ArrayBuffer;
  unmap(buffer: ArrayBuffer): void;
}

export interface MappedFile {
  bytes: Uint8Array;
  via: 'mmap' | 'read';
  close(): void;
}

export class MapError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

let native: NativeMmap | null | undefined;
let warned = false;

function loadNative(warn: (message: string) => void): NativeMmap | null {
  if (native === undefined) {
    try {
      native = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeMmap;
    } catch (error) {
      native = null;
      if (!warned) warn(`native mmap addon unavailable (${(error as Error).message}); reading files instead`);
      warned = true;
    }
  }
  return native;
}

/**
 * Maps `path`, which must be a regular file (never a symlink: not followed; never a
 * FIFO: not waited on) of at most `maxBytes`. Throws MapError with a code saying which.
 */
export function mapFile(path: string, maxBytes: number, warn: (message: string) => void = () => undefined): MappedFile {
  const addon = loadNative(warn);
  if (addon) {
    let buffer: ArrayBuffer;
    try {
      buffer = addon.mapFile(path, maxBytes);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'RENDERER_ERR_MMAP_FAILED';
      throw new MapError((error as Error).message, code);
    }
    return { bytes: new Uint8Array(buffer), via: 'mmap', close: () => addon.unmap(buffer) };
  }
  return readWhole(path, maxBytes);
}

/** The fallback, with the same checks as the addon (O_NOFOLLOW, O_NONBLOCK, S_ISREG). */
function readWhole(path: string, maxBytes: number): MappedFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw code === 'ELOOP'
      ? new MapError(`${path} is a symbolic link`, 'RENDERER_ERR_MMAP_SYMLINK')
      : new MapError(`cannot open ${path}: ${(error as Error).message}`, 'RENDERER_ERR_MMAP_OPEN');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new MapError(`${path} is not a regular file`, 'RENDERER_ERR_MMAP_NOT_REGULAR');
    if (st.size > maxBytes) throw new MapError(`${path} is larger than the limit`, 'RENDERER_ERR_MMAP_TOO_LARGE');
    const bytes = new Uint8Array(st.size);
    for (let at = 0; at < st.size; ) {
      const n = readSync(fd, bytes, at, st.size - at, at);
      if (n === 0) break;
      at += n;
    }
    return { bytes, via: 'read', close: () => undefined };
  } finally {
    closeSync(fd);
  }
}
