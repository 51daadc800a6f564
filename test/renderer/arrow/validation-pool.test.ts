// Validation off the caller's event loop (issue 13: a 72 KB upload once held the
// daemon's loop for 7.6-30 s): worker threads that map and validate each file, under a
// deadline after which the worker is terminated and replaced, and that never keep an
// idle process alive.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MapError } from '../../../renderer/arrow/mapped-file.js';
import { InvalidTable, validateArrowFile } from '../../../renderer/arrow/validate.js';
import { ValidationPool, ValidationTimeout } from '../../../renderer/arrow/validation-pool.js';
import { PACKAGE_ROOT } from '../../../renderer/paths.js';
import { aliasedBatches, plainTable } from '../../arrow-files.js';
import { RULES, scratchDir } from '../../helpers.js';

const GIB = 1024 ** 3;

describe('ValidationPool', () => {
  let dir: ReturnType<typeof scratchDir>;
  let big: string;
  const pool = new ValidationPool({ size: 2 });
  before(() => {
    dir = scratchDir();
    big = join(dir.path, 'big.arrow');
    writeFileSync(big, plainTable(32e6));
  });
  after(async () => {
    await pool.close();
    dir.remove();
  });

  it('validates in a worker: the caller\'s event loop keeps turning while a 32 MB table is checked', async () => {
    await pool.validateFile(big, GIB, RULES); // a worker loaded and warm: what follows is validation only
    let turns = 0;
    let validating = true;
    const spin = (): void => {
      turns++;
      if (validating) setImmediate(spin);
    };
    setImmediate(spin);
    const summary = await pool.validateFile(big, GIB, RULES).finally(() => (validating = false));
    assert.deepEqual(summary, validateArrowFile(readFileSync(big), RULES));
    // Inline, the loop could not turn at all until validation ended.
    assert.ok(turns >= 10, `the loop turned ${turns} times`);
  });

  it('refusals keep their class and message: InvalidTable, MapError with its code', async () => {
    const attack = join(dir.path, 'attack.arrow');
    writeFileSync(attack, aliasedBatches(200, 1200));
    await assert.rejects(pool.validateFile(attack, GIB, RULES), (error: unknown) => error instanceof InvalidTable && /record batch 1 overlaps record batch 0/.test(error.message));
    const link = join(dir.path, 'link.arrow');
    symlinkSync(big, link);
    await assert.rejects(pool.validateFile(link, GIB, RULES), (error: unknown) => error instanceof MapError && error.code === 'RENDERER_ERR_MMAP_SYMLINK');
  });

  it('size 0 (renderer run) validates in this thread: the same summaries and refusals, no worker', async () => {
    const inThread = new ValidationPool({ size: 0 });
    const attack = join(dir.path, 'attack-0.arrow');
    writeFileSync(attack, aliasedBatches(200, 1200));
    assert.deepEqual(await inThread.validateFile(big, GIB, RULES), validateArrowFile(readFileSync(big), RULES));
    await assert.rejects(inThread.validateFile(attack, GIB, RULES), (error: unknown) => error instanceof InvalidTable && /record batch 1 overlaps record batch 0/.test(error.message));
    inThread.warm();
    await inThread.close();
  });

  it('a file past its deadline is refused, and its worker terminated and replaced', async () => {
    let calls = 0;
    const strict = new ValidationPool({ size: 1, deadlineMs: () => (++calls === 1 ? 1 : 60_000) });
    try {
      // 1 ms: less than a worker takes to start, let alone to check 32 MB.
      await assert.rejects(strict.validateFile(big, GIB, RULES), (error: unknown) => error instanceof ValidationTimeout && /longer than 0\.0 s/.test(error.message));
      assert.ok((await strict.validateFile(big, GIB, RULES)).rows > 0, 'a new worker took the next file');
    } finally {
      await strict.close();
    }
  });

  it('its workers run at the given nice value, the rest of the process at its own', async () => {
    const niced = new ValidationPool({ size: 1, niceness: 13 });
    try {
      await niced.validateFile(big, GIB, RULES);
      const nice = readdirSync('/proc/self/task').map((task) => {
        const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      });
      assert.ok(nice.includes(13), `thread nice values: ${nice.join(' ')}`);
      assert.ok(nice.filter((n) => n === 13).length === 1, 'only the worker thread');
    } finally {
      await niced.close();
    }
  });

  it('an idle pool does not keep a process alive, used or only warmed (renderer run exits after a crashed step too)', () => {
    const pool = JSON.stringify(join(PACKAGE_ROOT, 'dist', 'renderer', 'arrow', 'validation-pool.js'));
    const used = `
      const { ValidationPool } = await import(${pool});
      const summary = await new ValidationPool().validateFile(${JSON.stringify(big)}, ${GIB}, ${JSON.stringify(RULES)});
      console.log(summary.rows);`;
    const warmed = `
      const { ValidationPool } = await import(${pool});
      new ValidationPool().warm();
      await new Promise((resolve) => setTimeout(resolve, 500));
      console.log(1);`;
    for (const script of [used, warmed]) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.error, undefined, 'exited by itself');
      assert.equal(r.status, 0, r.stderr);
      assert.ok(Number(r.stdout) > 0);
    }
  });
});
