// One directory per run, under <stateDir>/runs:
//
//   <runId>/        0711 renderer   traversable by the step user, not listable
//     in/           0755 renderer   bound read-only at /run/in: step.mjs, input.arrow
//     out/          0755 renderer   bound read-write at /run/out, yet the step cannot
//       output.arrow 0600 step user  create entries in it: it may write this one file,
//                                    (a non-root renderer owns it and gives the step uid
//                                    an ACL entry instead: chown needs root)
//                                    whose size RLIMIT_FSIZE caps. A step cannot plant a
//                                    symlink, FIFO or second file for the renderer to trip on.
//
// The renderer writes in/ (which the step cannot) and never writes, chowns or follows
// anything in out/ while the step lives. Removal never follows links (rm does lstat).
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, rmSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { NATIVE_ADDON_PATH } from '../paths.js';

let native: { grantWrite(fd: number, uid: number): void } | undefined;
const grantWrite = (fd: number, uid: number): void => {
  native ??= createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NonNullable<typeof native>;
  native.grantWrite(fd, uid);
};

export const SANDBOX_IN = '/run/in';
export const SANDBOX_OUT = '/run/out';
export const STEP_FILE = 'step.mjs';
export const INPUT_FILE = 'input.arrow';
export const OUTPUT_FILE = 'output.arrow';

export interface RunDir {
  root: string;
  inDir: string;
  outDir: string;
  outputFile: string;
}

export function createRunDir(runsRoot: string, runId: string, stepUid: number, stepGid: number): RunDir {
  const root = join(runsRoot, runId);
  mkdirSync(root, { mode: 0o711 }); // throws EEXIST: a run id is never reused
  const dir: RunDir = { root, inDir: join(root, 'in'), outDir: join(root, 'out'), outputFile: join(root, 'out', OUTPUT_FILE) };
  mkdirSync(dir.inDir, { mode: 0o755 });
  mkdirSync(dir.outDir, { mode: 0o755 });
  // Explicit modes: a strict umask must not make the run untraversable for the step.
  chmodSync(root, 0o711);
  chmodSync(dir.inDir, 0o755);
  chmodSync(dir.outDir, 0o755);
  const fd = openSync(dir.outputFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    // Before the step starts, never after.
    if (process.getuid?.() === 0) chownSync(dir.outputFile, stepUid, stepGid);
    else grantWrite(fd, stepUid);
  } finally {
    closeSync(fd);
  }
  return dir;
}

export function removeRunDir(dir: RunDir | string): void {
  rmSync(typeof dir === 'string' ? dir : dir.root, { recursive: true, force: true, maxRetries: 2 });
}
