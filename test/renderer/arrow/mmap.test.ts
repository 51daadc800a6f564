// Big tables by mmap: the native addon's mapping, zero-copy views in the step, a file
// truncated under a live mapping (SIGBUS kills the step, never the renderer), output
// over the size cap, concurrent mappings.
import * as arrow from 'apache-arrow';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mapFile, MapError } from '../../../renderer/arrow/mapped-file.js';
import type { RunResult } from '../../../renderer/run/outcome.js';
import { BIN, cli, runJson, scratchDir, step, waitFor, writeTable } from '../../helpers.js';

const floats = (n: number, batches: number): arrow.Table =>
  new arrow.Table(
    Array.from({ length: batches }, (_, b) =>
      new arrow.RecordBatch({ v: arrow.makeData({ type: new arrow.Float64(), data: Float64Array.from({ length: n }, (_, i) => b * n + i) }) }),
    ),
  );

/** Does any process on the host map the file with this inode? */
function mapsInode(inode: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/maps`, 'utf8').split('\n').some((line) => line.split(/\s+/)[4] === String(inode))) return true;
    } catch {
      /* gone, or not ours to read */
    }
  }
  return false;
}

describe('the native mmap addon', () => {
  let dir: ReturnType<typeof scratchDir>;
  before(() => {
    dir = scratchDir();
  });
  after(() => dir.remove());

  it('maps a file copy-on-write; tableFromIPC builds column views into the mapping, not copies', () => {
    const path = writeTable(join(dir.path, 'm.arrow'), floats(1000, 2));
    const before = readFileSync(path);
    const mapped = mapFile(path, 1 << 30);
    assert.equal(mapped.via, 'mmap');
    const table = arrow.tableFromIPC(mapped.bytes);
    for (const data of table.getChild('v')!.data) assert.equal(data.values.buffer, mapped.bytes.buffer);
    assert.equal(table.getChild('v')!.get(1999), 1999);
    // A write lands in a private copy: no crash, and the file is unchanged.
    (table.getChild('v')!.data[0]!.values as Float64Array)[0] = 42;
    assert.equal(table.getChild('v')!.get(0), 42);
    assert.deepEqual(readFileSync(path), before);
    mapped.close();
    assert.equal(mapped.bytes.length, 0, 'after close, every view is detached');
  });

  it('refuses, with a code, symlinks, directories, FIFOs and files over the limit', () => {
    const path = writeTable(join(dir.path, 'r.arrow'), floats(10, 1));
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        assert.ok(error instanceof MapError);
        return error.code;
      }
      return 'none';
    };
    assert.equal(code(() => mapFile(dir.path, 1 << 30)), 'RENDERER_ERR_MMAP_NOT_REGULAR');
    assert.equal(code(() => mapFile(path, 10)), 'RENDERER_ERR_MMAP_TOO_LARGE');
    assert.equal(code(() => mapFile(join(dir.path, 'nope'), 10)), 'RENDERER_ERR_MMAP_OPEN');
  });

  it('maps an empty file as an empty buffer', () => {
    const path = join(dir.path, 'empty');
    writeFileSync(path, '');
    const mapped = mapFile(path, 10);
    assert.equal(mapped.bytes.length, 0);
    mapped.close();
  });

  it('holds many concurrent mappings of one file, each closable on its own', () => {
    const path = writeTable(join(dir.path, 'c.arrow'), floats(10_000, 4));
    const maps = Array.from({ length: 64 }, () => mapFile(path, 1 << 30));
    const sums = maps.map((m) => arrow.tableFromIPC(m.bytes).getChild('v')!.get(39_999));
    assert.deepEqual(new Set(sums), new Set([39_999]));
    for (const m of maps.slice(0, 32)) m.close();
    assert.equal(arrow.tableFromIPC(maps[40]!.bytes).numRows, 40_000, 'the others still work');
    for (const m of maps.slice(32)) m.close();
  });
});

describe('big tables through renderer run', () => {
  let dir: ReturnType<typeof scratchDir>;
  before(() => {
    dir = scratchDir();
  });
  after(() => dir.remove());

  it('the step gets zero-copy views over its mapped input', () => {
    const path = writeTable(join(dir.path, 'zc.arrow'), floats(250_000, 4));
    const { result } = runJson(step('zero-copy'), ['--input', path]);
    assert.equal(result.outcome, 'ok', result.error ?? '');
    const json = result.json as { distinctBuffers: number; bufferBytes: number; chunks: number; sum: number };
    assert.equal(json.chunks, 4);
    assert.equal(json.distinctBuffers, 1, 'all batches view one buffer');
    assert.equal(json.bufferBytes, statSync(path).size, 'that buffer is the whole mapped file');
    assert.equal(json.sum, (999_999 * 1_000_000) / 2);
  });

  it('one-row and multi-batch inputs', () => {
    const one = writeTable(join(dir.path, 'one.arrow'), floats(1, 1));
    assert.deepEqual(runJson(step('ok-sum'), ['--input', one]).result.json, { total: 0, rows: 1 });
    const many = writeTable(join(dir.path, 'many.arrow'), floats(10, 50));
    assert.deepEqual(runJson(step('ok-sum'), ['--input', many]).result.json, { total: (499 * 500) / 2, rows: 500 });
  });

  it('an empty (0-byte) input file is a usage error, nothing started', () => {
    const path = join(dir.path, 'zero.arrow');
    writeFileSync(path, '');
    const r = cli(['run', step('ok-sum'), '--input', path]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /is not an Arrow IPC file/);
  });

  it('an input truncated under the step\'s mapping: SIGBUS ends the step as crashed, the renderer is fine', async () => {
    const path = writeTable(join(dir.path, 'trunc.arrow'), floats(1_000_000, 8));
    const child = spawn(process.execPath, [BIN, 'run', step('slow-reader'), '--input', path, '--params', '{"waitMs":6000}', '--json']);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    // Not a fixed delay (a busy host starts the step later): truncate once a process has
    // this very file (its inode) mapped, plus a second for the table's metadata to be read.
    const inode = statSync(path).ino;
    await waitFor(() => mapsInode(inode), 60_000, 'the step to map its input');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    truncateSync(path, 4096);
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const result = JSON.parse(stdout) as RunResult;
    assert.equal(result.outcome, 'crashed', result.error ?? '');
    assert.equal(result.signal, 'SIGBUS');
    assert.equal(status, 3, 'the renderer itself exited normally');
  });

  it('output over the size cap: the write is stopped (RLIMIT_FSIZE) and reported as invalid_output', () => {
    const config = join(dir.path, 'small-output.json');
    writeFileSync(config, JSON.stringify({ limits: { maxOutputBytes: 1024 * 1024 } }));
    const out = join(dir.path, 'big.arrow');
    const { result } = runJson(step('big-output'), ['--config', config, '--output', out, '--params', '{"rows":1000000}']);
    assert.equal(result.outcome, 'invalid_output');
    assert.match(result.error!, /larger than the output limit of 1048576 bytes/);
    assert.equal(result.output, null);
    assert.throws(() => statSync(out), /ENOENT/);
  });
});
