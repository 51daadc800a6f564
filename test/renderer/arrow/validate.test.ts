// The output validator: every rule refuses its violation with a message naming the
// column and the rule; valid files of every allowed shape pass; and mangled bytes
// never produce anything but InvalidTable (no other exception, no hang).
import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidTable, validateArrowFile } from '../../../renderer/arrow/validate.js';
import { RULES } from '../../helpers.js';


const file = (table: arrow.Table): Uint8Array => arrow.tableToIPC(table, 'file');
const invalid = (bytes: Uint8Array, pattern: RegExp, rules = RULES): void => {
  assert.throws(() => validateArrowFile(bytes, rules), (error: unknown) => {
    assert.ok(error instanceof InvalidTable, `InvalidTable, got ${String(error)}`);
    assert.match((error as Error).message, pattern);
    return true;
  });
};
const single = (name: string, data: arrow.Data): arrow.Table =>
  new arrow.Table(new arrow.RecordBatch({ [name]: data }));

describe('validateArrowFile accepts', () => {
  it('common column types, nulls, multiple batches, and reports rows and columns', () => {
    const a = arrow.tableFromArrays({ i: Int32Array.of(1, 2), f: Float64Array.of(1.5, NaN), s: ['a', 'ü'], b: [true, null] });
    const table = new arrow.Table([...a.batches, ...a.batches]);
    assert.deepEqual(validateArrowFile(file(table), RULES), { rows: 4, columns: ['i', 'f', 's', 'b'], batches: 2, bytes: file(table).byteLength });
  });

  it('an empty table with a schema, and one with no columns', () => {
    const empty = new arrow.Table(new arrow.Schema([new arrow.Field('x', new arrow.Utf8())]));
    assert.equal(validateArrowFile(file(empty), RULES).rows, 0);
    assert.deepEqual(validateArrowFile(file(new arrow.Table()), RULES).columns, []);
  });

  it('dictionary-encoded strings and timestamps', () => {
    const table = new arrow.Table({
      d: arrow.vectorFromArray(['x', 'y', null, 'x'], new arrow.Dictionary(new arrow.Utf8(), new arrow.Int16())),
      t: arrow.vectorFromArray([new Date(0), new Date(1e12), null, new Date()], new arrow.TimestampMillisecond()),
    });
    assert.equal(validateArrowFile(file(table), RULES).rows, 4);
  });
});

describe('validateArrowFile refuses', () => {
  it('files that are not Arrow IPC files: empty, garbage, an Arrow stream, truncated', () => {
    const good = file(arrow.tableFromArrays({ a: [1, 2, 3] }));
    invalid(new Uint8Array(0), /too small/);
    invalid(new TextEncoder().encode('not an arrow file at all, just text'), /not an Arrow IPC file/);
    invalid(arrow.tableToIPC(arrow.tableFromArrays({ a: [1] }), 'stream'), /not an Arrow IPC file/);
    invalid(good.subarray(0, Math.floor(good.length / 2)), /not an Arrow IPC file|footer/);
  });

  it('a footer length pointing outside the file', () => {
    const bytes = Uint8Array.from(file(arrow.tableFromArrays({ a: [1] })));
    new DataView(bytes.buffer).setInt32(bytes.length - 10, 0x7ffffff0, true);
    invalid(bytes, /footer length/);
  });

  it('invalid UTF-8 in a string column, naming the column', () => {
    const data = arrow.makeData({ type: new arrow.Utf8(), length: 2, valueOffsets: Int32Array.of(0, 1, 3), data: Uint8Array.of(0x61, 0xff, 0xfe) });
    invalid(file(single('bad text', data)), /column "bad text".*not valid UTF-8/);
    const lax = { ...RULES, checkUtf8: false };
    assert.equal(validateArrowFile(file(single('bad text', data)), lax).rows, 2, 'the rule can be turned off');
  });

  it('a value that starts inside a multi-byte character', () => {
    // "é" is c3 a9; offsets split it between two values: each is invalid on its own.
    const data = arrow.makeData({ type: new arrow.Utf8(), length: 2, valueOffsets: Int32Array.of(0, 1, 2), data: Uint8Array.of(0xc3, 0xa9) });
    invalid(file(single('s', data)), /not valid UTF-8/);
  });

  it('decreasing offsets', () => {
    const data = arrow.makeData({ type: new arrow.Utf8(), length: 2, valueOffsets: Int32Array.of(0, 2, 1), data: Uint8Array.of(0x61, 0x62) });
    invalid(file(single('s', data)), /offsets decrease/);
  });

  it('dictionary indices out of range', () => {
    const dictionary = arrow.vectorFromArray(['a', 'b'], new arrow.Utf8());
    const data = arrow.makeData({ type: new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()), length: 2, data: Int32Array.of(0, 7), dictionary } as never);
    invalid(file(single('d', data)), /column "d".*dictionary index 7 .*out of range/);
  });

  it('duplicate, empty, control-character and over-long column names', () => {
    const col = arrow.makeData({ type: new arrow.Int32(), length: 1, data: Int32Array.of(1) });
    const twice = new arrow.Schema([new arrow.Field('a', new arrow.Int32()), new arrow.Field('a', new arrow.Int32())]);
    const struct = arrow.makeData({ type: new arrow.Struct(twice.fields), length: 1, children: [col, col] });
    invalid(file(new arrow.Table(new arrow.RecordBatch(twice, struct))), /"a" is used twice/);
    invalid(file(single('', col)), /empty name/);
    invalid(file(single('tab\there', col)), /control character/);
    invalid(file(single('x'.repeat(121), col)), /longer than 120 bytes/);
  });

  it('types outside the allowed set', () => {
    const list = arrow.vectorFromArray([[1, 2], [3]], new arrow.List(new arrow.Field('item', new arrow.Int32())));
    invalid(file(new arrow.Table({ l: list })), /column "l" has type List, which is not allowed/);
    invalid(file(arrow.tableFromArrays({ f: Float64Array.of(1) })), /type Float, which is not allowed/, { ...RULES, allowedTypes: ['Int'] });
  });

  it('too many batches or columns for the configured limits, before iterating them', () => {
    const a = arrow.tableFromArrays({ a: [1] });
    invalid(file(new arrow.Table([...a.batches, ...a.batches, ...a.batches])), /claims 3 record batches; at most 2/, { ...RULES, maxBatches: 2 });
    invalid(file(arrow.tableFromArrays({ a: [1], b: [2], c: [3] })), /more than 2 fields/, { ...RULES, maxColumns: 2 });
  });

  it('a flatbuffer vector claiming more entries than its bytes hold (a heap-exhaustion attack)', () => {
    // Regression: a mangled nodes length once made apache-arrow allocate until OOM.
    const base = file(arrow.tableFromArrays({ a: Int32Array.of(1, 2) }));
    let refused = 0;
    for (let at = 8; at < base.length - 10; at++) {
      const bytes = Uint8Array.from(base);
      bytes[at] = 0xff;
      bytes[at + 1] = 0xff;
      try {
        validateArrowFile(bytes, RULES);
      } catch (error) {
        assert.ok(error instanceof InvalidTable, String(error));
        refused++;
      }
    }
    assert.ok(refused > 0);
  });

  it('a column whose length disagrees with the batch', () => {
    const fields = [new arrow.Field('x', new arrow.Int32()), new arrow.Field('y', new arrow.Int32())];
    const struct = arrow.makeData({
      type: new arrow.Struct(fields),
      length: 3,
      children: [
        arrow.makeData({ type: new arrow.Int32(), length: 3, data: Int32Array.of(1, 2, 3) }),
        arrow.makeData({ type: new arrow.Int32(), length: 2, data: Int32Array.of(1, 2) }),
      ],
    });
    invalid(file(new arrow.Table(new arrow.RecordBatch(new arrow.Schema(fields), struct))), /column "y".*(has 2 values but 3 rows|buffer is too short)/);
  });

  it('any mangling of a valid file: InvalidTable, or a summary and a file apache-arrow reads whole (property)', () => {
    const base = file(
      new arrow.Table({
        n: arrow.vectorFromArray([1, null, 3], new arrow.Int32()),
        s: arrow.vectorFromArray(['a', 'bé', null]),
        d: arrow.vectorFromArray(['x', 'y', 'x'], new arrow.Dictionary(new arrow.Utf8(), new arrow.Int8())),
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (flips) => {
        const bytes = Uint8Array.from(base);
        for (const [at, value] of flips) bytes[at] = value;
        try {
          const summary = validateArrowFile(bytes, RULES);
          assert.ok(summary.rows >= 0);
          // The validator reads the buffers itself, as apache-arrow's loader would: what
          // it accepts, apache-arrow (a step's tableFromIPC) must read without throwing.
          const table = arrow.tableFromIPC(bytes);
          for (const field of table.schema.fields) for (const value of table.getChild(field.name)!) void value;
        } catch (error) {
          if (!(error instanceof InvalidTable)) throw error;
        }
      }),
      { numRuns: 3000, seed: 42 },
    );
  });
});
