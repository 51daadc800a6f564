// The step's output file, once the step is dead (so nothing can truncate it under our
// mapping: no SIGBUS), is checked, validated and handed back. Dead means the reaper's
// report: waitpid returns only when every thread of the step has exited, and seccomp
// stage 2 let it start no other process that could hold the file.
// Any problem is an `invalid_output` message naming it; the caller's destination
// never sees a partial or invalid file. The file is mapped and validated by a worker
// thread (arrow/validation-pool.ts), under a deadline, never on the caller's loop.
import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ValidationRules } from '../config/config-schema.js';
import { InvalidTable } from '../arrow/invalid-table.js';
import type { TableSummary } from '../arrow/validate.js';
import { MapError } from '../arrow/mapped-file.js';
import { ValidationTimeout, type ValidationPool } from '../arrow/validation-pool.js';

export class InvalidOutput extends Error {}

const MAP_REASONS: Record<string, string> = {
  RENDERER_ERR_MMAP_SYMLINK: 'the output is a symbolic link',
  RENDERER_ERR_MMAP_NOT_REGULAR: 'the output is not a regular file',
  RENDERER_ERR_MMAP_TOO_LARGE: 'the output is larger than the output limit',
};

/**
 * Checks the run's output file. `wroteOutput` is what the child claimed; the file must
 * agree. Returns null when there is no table.
 */
export async function inspectOutput(
  file: string,
  wroteOutput: boolean,
  maxBytes: number,
  rules: ValidationRules,
  validator: ValidationPool,
): Promise<TableSummary | null> {
  let st;
  try {
    st = lstatSync(file);
  } catch {
    throw new InvalidOutput('the output file was removed');
  }
  if (st.isSymbolicLink()) throw new InvalidOutput('the output is a symbolic link');
  if (!st.isFile()) throw new InvalidOutput('the output is not a regular file');
  // A second name for the file would let someone change it after validation.
  if (st.nlink !== 1) throw new InvalidOutput(`the output file has ${st.nlink} links`);
  if (!wroteOutput) {
    if (st.size !== 0) throw new InvalidOutput('the step wrote an output file but returned no table');
    return null;
  }
  if (st.size > maxBytes) throw new InvalidOutput(`the output is ${st.size} bytes; the limit is ${maxBytes}`);
  if (st.size === 0) throw new InvalidOutput('the step returned a table but the output file is empty');

  try {
    return await validator.validateFile(file, maxBytes, rules);
  } catch (error) {
    if (error instanceof MapError) throw new InvalidOutput(MAP_REASONS[error.code] ?? error.message);
    if (error instanceof InvalidTable) throw new InvalidOutput(`the output table is invalid: ${error.message}`);
    if (error instanceof ValidationTimeout) throw new InvalidOutput(`the output table was refused: ${error.message}`);
    // A validator bug or a worker that died must not take the renderer down either.
    throw new InvalidOutput(`the output table could not be validated: ${(error as Error).message}`);
  }
}

/**
 * Moves the validated file to `destination` atomically: it appears there complete,
 * owned by the renderer's user, mode 0644, or not at all. A rename when both are on
 * one filesystem; otherwise a copy into a temporary name beside the destination,
 * fsync, rename.
 */
export function handBack(file: string, destination: string, runId: string): void {
  const temporary = join(dirname(destination), `.${basename(destination)}.${runId}.tmp`);
  try {
    try {
      renameSync(file, temporary);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      copyFileSync(file, temporary);
    }
    const fd = openSync(temporary, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      if (!fstatSync(fd).isFile()) throw new Error(`${temporary} is not a regular file`);
      const uid = process.getuid?.();
      const gid = process.getgid?.();
      if (uid !== undefined && gid !== undefined) fchownSync(fd, uid, gid);
      fchmodSync(fd, 0o644);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, destination);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  try {
    const dirFd = openSync(dirname(destination), constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    /* the rename happened; a directory we cannot fsync only weakens crash durability */
  }
}
