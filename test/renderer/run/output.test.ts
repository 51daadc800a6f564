// The renderer's handling of a run's output file: whatever a step leaves there, the
// renderer refuses it with a reason (and never hangs on a FIFO nor follows a link), and
// the destination sees a complete validated file or nothing.
import * as arrow from 'apache-arrow';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ValidationPool } from '../../../renderer/arrow/validation-pool.js';
import { handBack, inspectOutput, InvalidOutput } from '../../../renderer/run/output.js';
import { RULES, scratchDir } from '../../helpers.js';

const GIB = 1024 ** 3;
const table = arrow.tableFromArrays({ a: Int32Array.of(1, 2, 3) });
const validator = new ValidationPool({ size: 1 });
after(() => validator.close());

async function refused(setup: (path: string) => void, pattern: RegExp, wroteOutput = true): Promise<void> {
  const dir = scratchDir();
  try {
    const path = join(dir.path, 'output.arrow');
    setup(path);
    const started = Date.now();
    await assert.rejects(inspectOutput(path, wroteOutput, 2 * GIB, RULES, validator), (error: unknown) => {
      assert.ok(error instanceof InvalidOutput, String(error));
      assert.match((error as Error).message, pattern);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'no hang');
  } finally {
    dir.remove();
  }
}

describe('inspectOutput', () => {
  it('accepts a valid table and summarises it', async () => {
    const dir = scratchDir();
    try {
      const path = join(dir.path, 'output.arrow');
      writeFileSync(path, arrow.tableToIPC(table, 'file'));
      assert.deepEqual((await inspectOutput(path, true, 2 * GIB, RULES, validator))?.rows, 3);
    } finally {
      dir.remove();
    }
  });

  it('refuses a symbolic link, without following it', () =>
    refused((path) => symlinkSync('/etc/passwd', path), /symbolic link/));
  it('refuses a FIFO, without blocking on it', () =>
    refused((path) => execFileSync('mkfifo', [path]), /not a regular file/));
  it('refuses a directory', () => refused((path) => mkdirSync(path), /not a regular file/));
  it('refuses a sparse 10 GiB file before mapping it', () =>
    refused((path) => {
      writeFileSync(path, '');
      truncateSync(path, 10 * GIB);
    }, /10737418240 bytes; the limit is 2147483648/));
  it('refuses a file with a second hard link', () =>
    refused((path) => {
      writeFileSync(path, arrow.tableToIPC(table, 'file'));
      linkSync(path, `${path}.other`);
    }, /2 links/));
  it('refuses a truncated table', () =>
    refused((path) => writeFileSync(path, arrow.tableToIPC(table, 'file').subarray(0, 100)), /invalid/));
  it('refuses a file the step wrote while returning no table', () =>
    refused((path) => writeFileSync(path, 'x'), /returned no table/, false));
  it('refuses an empty file when a table was returned', () => refused((path) => writeFileSync(path, ''), /empty/));
  it('refuses a table whose validation passes its deadline', async () => {
    const strict = new ValidationPool({ size: 1, deadlineMs: () => 1 });
    const dir = scratchDir();
    try {
      const path = join(dir.path, 'output.arrow');
      writeFileSync(path, arrow.tableToIPC(table, 'file'));
      await assert.rejects(inspectOutput(path, true, 2 * GIB, RULES, strict), /the output table was refused: validating it took longer than 0\.0 s/);
    } finally {
      await strict.close();
      dir.remove();
    }
  });
});

describe('handBack', () => {
  it('moves the file into place in one rename, mode 0644, nothing left beside it', () => {
    const dir = scratchDir();
    try {
      const source = join(dir.path, 'run-output.arrow');
      const destination = join(dir.path, 'dest', 'final.arrow');
      mkdirSync(join(dir.path, 'dest'));
      writeFileSync(source, arrow.tableToIPC(table, 'file'));
      writeFileSync(destination, 'the previous version');
      handBack(source, destination, 'run-1');
      assert.equal(existsSync(source), false);
      assert.equal(arrow.tableFromIPC(readFileSync(destination)).numRows, 3);
      assert.equal(statSync(destination).mode & 0o777, 0o644);
      assert.deepEqual(readdirSync(join(dir.path, 'dest')), ['final.arrow']);
    } finally {
      dir.remove();
    }
  });

  it('copies across filesystems (/dev/shm) and still lands atomically', { skip: !existsSync('/dev/shm') && 'no /dev/shm' }, () => {
    const dir = scratchDir();
    const shm = join('/dev/shm', `renderer-test-${process.pid}.arrow`);
    try {
      writeFileSync(shm, arrow.tableToIPC(table, 'file'));
      const destination = join(dir.path, 'final.arrow');
      handBack(shm, destination, 'run-2');
      assert.equal(arrow.tableFromIPC(readFileSync(destination)).numRows, 3);
      assert.deepEqual(readdirSync(dir.path), ['final.arrow']);
    } finally {
      dir.remove();
      execFileSync('rm', ['-f', shm]);
    }
  });
});
