// `renderer run` end to end: every outcome of the contract from a real fixture step,
// real Arrow files in and out, and the exit statuses.
import * as arrow from 'apache-arrow';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, runJson, scratchDir, step, writeTable } from '../../helpers.js';

const RESULT_KEYS = ['runId', 'outcome', 'exitCode', 'signal', 'durationMs', 'peakMemoryBytes', 'error', 'logs', 'output', 'json'];

describe('renderer run: outcomes', () => {
  it('ok: a table and json come back, exit 0, the result has every contract field', () => {
    const dir = scratchDir();
    try {
      const input = writeTable(join(dir.path, 'in.arrow'), arrow.tableFromArrays({ a: Float64Array.of(1, 2, 3.5) }));
      const out = join(dir.path, 'out.arrow');
      const { status, result } = runJson(step('ok-sum'), ['--input', input, '--output', out]);
      assert.equal(status, 0);
      for (const key of RESULT_KEYS) assert.ok(key in result, `result has ${key}`);
      assert.equal(result.outcome, 'ok');
      assert.equal(result.exitCode, 0);
      assert.equal(result.signal, null);
      assert.equal(result.error, null);
      assert.deepEqual(result.json, { total: 6.5, rows: 3 });
      assert.deepEqual(result.output, { path: out, rows: 1, columns: ['total'] });
      assert.match(result.logs, /summed 3 rows of a/);
      assert.ok(result.peakMemoryBytes! > 1_000_000, 'peak memory measured from the cgroup');
      assert.ok(result.durationMs > 0);
      const table = arrow.tableFromIPC(readFileSync(out));
      assert.equal(table.getChild('total')!.get(0), 6.5);
      assert.deepEqual(readdirSync(dir.path).sort(), ['in.arrow', 'out.arrow'], 'no temporary file is left beside the output');
    } finally {
      dir.remove();
    }
  });

  it('step_error: the thrown message, the step\'s own stack frames, exit 1', () => {
    const { status, result } = runJson(step('throws'));
    assert.equal(status, 1);
    assert.equal(result.outcome, 'step_error');
    assert.equal(result.error, 'boom: the step failed on purpose');
    assert.match(result.stack!, /at .*render \(step\.mjs:2:9\)/);
    assert.doesNotMatch(result.stack!, /step-runtime|node:internal/, 'runtime frames are trimmed');
  });

  it('step_error from a rejected promise', () => {
    const { status, result } = runJson(step('rejects'));
    assert.equal(status, 1);
    assert.equal(result.outcome, 'step_error');
    assert.equal(result.error, 'async boom');
  });

  it('step_error with a clear message for a module without render() or a bad return value', () => {
    assert.match(runJson(step('no-render')).result.error!, /does not export a function named render/);
    assert.match(runJson(step('returns-garbage')).result.error!, /returned a number; expected a Table/);
  });

  it('timeout: a step ignoring SIGTERM is SIGKILLed at the limit, exit 3', () => {
    const started = Date.now();
    const { status, result } = runJson(step('hangs'), ['--timeout-ms', '500']);
    assert.equal(status, 3);
    assert.equal(result.outcome, 'timeout');
    assert.equal(result.signal, 'SIGKILL');
    assert.equal(result.exitCode, null);
    assert.ok(result.durationMs >= 500 && result.durationMs < 5000, `duration ${result.durationMs}`);
    assert.ok(Date.now() - started < 10_000);
  });

  for (const bomb of ['memory-bomb', 'heap-bomb']) {
    it(`oom_killed: ${bomb} is stopped by the cgroup's memory limit and counted by its OOM counter`, () => {
      const { status, result } = runJson(step(bomb), ['--memory-mib', '96', '--timeout-ms', '30000']);
      assert.equal(status, 3);
      assert.equal(result.outcome, 'oom_killed', result.error ?? '');
      assert.equal(result.signal, 'SIGKILL');
      assert.ok(result.peakMemoryBytes! <= 96 * 1024 * 1024 + 4096, `peak ${result.peakMemoryBytes}`);
    });
  }

  it('crashed, never oom_killed: process.exit(137) keeps its exit code', () => {
    const { status, result } = runJson(step('exit-137'));
    assert.equal(status, 3);
    assert.equal(result.outcome, 'crashed');
    assert.equal(result.exitCode, 137);
    assert.equal(result.signal, null);
  });

  it('crashed, never oom_killed: a self-SIGKILL keeps its signal', () => {
    const { result } = runJson(step('self-sigkill'));
    assert.equal(result.outcome, 'crashed');
    assert.equal(result.exitCode, null);
    assert.equal(result.signal, 'SIGKILL');
  });

  it('crashed: abort() is SIGABRT; a clean exit without a result is crashed too', () => {
    const aborted = runJson(step('aborts')).result;
    assert.equal(aborted.outcome, 'crashed');
    assert.equal(aborted.signal, 'SIGABRT');
    const exited = runJson(step('exit-zero')).result;
    assert.equal(exited.outcome, 'crashed');
    assert.equal(exited.exitCode, 0);
    assert.match(exited.error!, /without returning a result/);
  });

  it('invalid_output: a forged frame on the result pipe', () => {
    const { status, result } = runJson(step('forged-result'));
    assert.equal(status, 3);
    assert.equal(result.outcome, 'invalid_output');
    assert.match(result.error!, /malformed/);
  });

  it('invalid_output: a frame claiming 2 GiB is refused on its length, at once', () => {
    const { result } = runJson(step('oversized-result'));
    assert.equal(result.outcome, 'invalid_output');
    assert.match(result.error!, /exceeds 1048576 bytes/);
  });

  it('invalid_output: garbage where the table goes; nothing reaches --output', () => {
    const dir = scratchDir();
    try {
      const out = join(dir.path, 'out.arrow');
      const { result } = runJson(step('bad-output-file'), ['--output', out]);
      assert.equal(result.outcome, 'invalid_output');
      assert.equal(result.output, null);
      assert.equal(existsSync(out), false);
    } finally {
      dir.remove();
    }
  });

  it('sandbox_error: a missing sandbox piece is named, and nothing runs unsandboxed', () => {
    const dir = scratchDir();
    try {
      const config = join(dir.path, 'config.json');
      writeFileSync(config, JSON.stringify({ sandbox: { bwrapPath: '/nonexistent/bwrap' } }));
      const { status, result } = runJson(step('ok-sum'), ['--config', config]);
      assert.equal(status, 3);
      assert.equal(result.outcome, 'sandbox_error');
      assert.match(result.error!, /bubblewrap is not installed at \/nonexistent\/bwrap/);
      assert.equal(result.logs, '', 'the step never ran');
    } finally {
      dir.remove();
    }
  });

  it('sandbox_error, never crashed: a runtime that cannot make its threads at start-up (limits.maxProcesses 8) is named as such', () => {
    // Every thread the runtime needs is made before it says ready; one refused there is
    // the renderer's host limit, not the step's crash (issue 12: SIGABRT was `crashed`).
    const dir = scratchDir();
    try {
      const config = join(dir.path, 'config.json');
      writeFileSync(config, JSON.stringify({ limits: { maxProcesses: 8 } }));
      const { status, result, stderr } = runJson(step('ok-sum'), ['--config', config]);
      assert.equal(status, 3);
      assert.equal(result.outcome, 'sandbox_error');
      assert.match(result.error!, /failed to start: .*refused \d+ new threads or processes at limits\.maxProcesses 8; a ready runtime holds \d+ tasks, so raise limits\.maxProcesses/);
      assert.match(stderr, /a step child failed to start .*; trying another/, 'a failed start is retried once');
    } finally {
      dir.remove();
    }
  });
});

describe('renderer run: without the start-up snapshot', () => {
  it('the plain bundle path still works (useSnapshot: false)', () => {
    const dir = scratchDir();
    try {
      const config = join(dir.path, 'config.json');
      writeFileSync(config, JSON.stringify({ sandbox: { useSnapshot: false } }));
      const { result } = runJson(step('ok-sum'), ['--config', config]);
      assert.equal(result.outcome, 'ok', result.error ?? '');
      assert.deepEqual(result.json, { total: 0, rows: 0 });
    } finally {
      dir.remove();
    }
  });
});

describe('renderer run: logs', () => {
  it('200 MB of stdout/stderr spam: outcome ok, a 64 KiB tail that ends with the last line', () => {
    const { result } = runJson(step('spam'), ['--params', '{"megabytes":200}']);
    assert.equal(result.outcome, 'ok');
    assert.equal(Buffer.byteLength(result.logs), 64 * 1024);
    assert.match(result.logs, /THE END\n$/);
    assert.ok(result.logsDroppedBytes > 200 * 1024 * 1024 - 65536);
    assert.deepEqual(result.json, { printed: 200 });
  });

  it('what a step writes as its last act is all kept, though the run ends at the reaper\'s report', () => {
    // The run does not wait for the sandbox's teardown (launch.ts): 768 KiB of logs and
    // a 768 KiB result written just before the exit must still arrive whole, every line
    // once, on every run.
    const dir = scratchDir();
    try {
      const config = join(dir.path, 'config.json');
      writeFileSync(config, JSON.stringify({ limits: { maxLogBytes: 1024 * 1024 } }));
      const kib = 768;
      for (let run = 0; run < 3; run++) {
        const { result } = runJson(step('burst-at-end'), ['--config', config, '--params', JSON.stringify({ kib, jsonKib: kib })]);
        assert.equal(result.outcome, 'ok', result.error ?? '');
        const json = result.json as { printed: number; filler: string };
        assert.equal(json.printed, kib * 1024);
        assert.equal(json.filler.length, kib * 1024);
        assert.equal(result.logsDroppedBytes, 0);
        assert.equal(Buffer.byteLength(result.logs), kib * 1024);
        const lines = result.logs.split('\n').filter(Boolean).map((line) => Number(line.slice(5, 15)));
        assert.deepEqual(lines.sort((a, b) => a - b), Array.from({ length: kib * 16 }, (_, i) => i));
      }
    } finally {
      dir.remove();
    }
  });
});

describe('renderer run: Arrow inputs', () => {
  let dir: ReturnType<typeof scratchDir>;
  before(() => {
    dir = scratchDir();
  });
  after(() => dir.remove());

  const roundTrip = (name: string, table: arrow.Table): arrow.Table => {
    const input = writeTable(join(dir.path, `${name}.arrow`), table);
    const out = join(dir.path, `${name}.out.arrow`);
    const { result } = runJson(step('echo-input'), ['--input', input, '--output', out]);
    assert.equal(result.outcome, 'ok', result.error ?? '');
    return arrow.tableFromIPC(readFileSync(out));
  };

  it('an empty table with a schema', () => {
    const empty = new arrow.Table(new arrow.Schema([new arrow.Field('a', new arrow.Int32())]));
    const back = roundTrip('empty', empty);
    assert.equal(back.numRows, 0);
    assert.deepEqual(back.schema.fields.map((f) => f.name), ['a']);
  });

  it('no input at all: render() gets an empty table with no columns', () => {
    const { result } = runJson(step('echo-input'));
    assert.equal(result.outcome, 'ok');
    assert.deepEqual(result.json, { rows: 0, columns: [], params: {} });
  });

  it('nulls, strings and dictionary columns survive the round trip', () => {
    const table = arrow.tableFromArrays({
      n: [1, null, 3],
      s: ['héllo', null, '世界'],
    });
    const withDict = table.assign(
      new arrow.Table({ d: arrow.vectorFromArray(['x', 'y', 'x'], new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32())) }),
    );
    const back = roundTrip('mixed', withDict);
    assert.deepEqual(back.getChild('n')!.toArray().length, 3);
    assert.equal(back.getChild('n')!.get(1), null);
    assert.deepEqual([...back.getChild('s')!], ['héllo', null, '世界']);
    assert.deepEqual([...back.getChild('d')!], ['x', 'y', 'x']);
  });

  it('1e6 rows in several batches', () => {
    const batches = [0, 1, 2, 3].map((b) =>
      new arrow.RecordBatch({ v: arrow.makeData({ type: new arrow.Float64(), data: Float64Array.from({ length: 250_000 }, (_, i) => b * 250_000 + i) }) }),
    );
    const input = writeTable(join(dir.path, 'million.arrow'), new arrow.Table(batches));
    const { result } = runJson(step('ok-sum'), ['--input', input]);
    assert.equal(result.outcome, 'ok');
    assert.deepEqual(result.json, { total: (999_999 * 1_000_000) / 2, rows: 1_000_000 });
    assert.deepEqual(result.output, { path: null, rows: 1, columns: ['total'] });
  });
});

describe('renderer run: usage errors start nothing', () => {
  const usage = (args: string[], pattern: RegExp): void => {
    const r = cli(['run', ...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  };

  it('bad flags, files and params are exit 2 with a one-line message', () => {
    const dir = scratchDir();
    try {
      const notArrow = join(dir.path, 'x.arrow');
      writeFileSync(notArrow, 'hello');
      usage([step('ok-sum'), '--bogus'], /Unknown option '--bogus'/);
      usage([], /missing STEP_FILE/);
      usage(['/nonexistent/step.mjs'], /step file \/nonexistent\/step.mjs does not exist/);
      usage([step('ok-sum'), '--input', '/nonexistent/in.arrow'], /input file \/nonexistent\/in.arrow does not exist/);
      usage([step('ok-sum'), '--input', notArrow], /is not an Arrow IPC file/);
      usage([step('ok-sum'), '--input', dir.path], /is not a regular file/);
      usage([step('ok-sum'), '--params', '{nope'], /--params is not valid JSON/);
      usage([step('ok-sum'), '--params', '{}', '--params-file', notArrow], /either --params or --params-file/);
      usage([step('ok-sum'), '--params-file', notArrow], /--params-file .* is not valid JSON/);
      usage([step('ok-sum'), '--timeout-ms=-1'], /Expected `--timeout-ms` to be an integer from 1 to 86400000, got `"-1"`/);
      usage([step('ok-sum'), '--timeout-ms', '-1'], /argument is ambiguous.*use '--timeout-ms=-XYZ'/);
      usage([step('ok-sum'), '--timeout-ms', 'soon'], /--timeout-ms/);
      usage([step('ok-sum'), '--memory-mib', '0'], /Expected `--memory-mib`/);
      usage([step('ok-sum'), '--output', '/nonexistent/dir/out.arrow'], /does not exist or is not writable/);
    } finally {
      dir.remove();
    }
  });

  it('human output without --json', () => {
    const r = cli(['run', step('throws')]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^step_error: boom: the step failed on purpose \[exit 0/);
  });

  // Issue 13 item 9: a step must not rewrite the operator's terminal through our output.
  it('human output escapes every control character the step sent: no forged ok, no OSC 52, no bidi', () => {
    const r = cli(['run', step('terminal-escapes')]);
    assert.equal(r.status, 1);
    assert.doesNotMatch(r.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/u, 'only newlines reach the terminal');
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^step_error: real failure\\r\\x1b\[1A\\x1b\[2Kok: .*\\n\\x9b2J \[exit 0/);
    assert.ok(lines.some((line) => line.includes('log line\\r\\x1b[2Kok: 3 rows (forged) \\x1b]52;c;')), r.stdout);
    assert.ok(lines.some((line) => line.includes('\\u202eevil\\u202c')), r.stdout);
    assert.equal(lines.filter((line) => line.startsWith('ok:')).length, 0);
  });
});
