// Attacks on the validator's work (issue 13): footer blocks listed twice or out of
// order, buffers shared between columns, dictionaries replaced or extended N times,
// floods of tiny batches. Each is refused, and the work done before the refusal is
// counted: messages read (apache-arrow's flatbuffer root accessor, which the validator
// and apache-arrow's own reader both call once per message).
import * as arrow from 'apache-arrow';
import { Message as FbMessage } from 'apache-arrow/fb/message';
import { FileBlock } from 'apache-arrow/ipc/metadata/file';
import { BufferRegion, DictionaryBatch, FieldNode, RecordBatch } from 'apache-arrow/ipc/metadata/message';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workAllowed, workUnits } from '../../../renderer/arrow/messages.js';
import { InvalidTable, validateArrowFile, type TableSummary } from '../../../renderer/arrow/validate.js';
import {
  aliasedBatches,
  blocksOf,
  buildFile,
  deltaDictionaryFile,
  fileOf,
  repeatedDelta,
  sharedBuffers,
  tinyBatches,
  withFooter,
  writerDeltaFile,
} from '../../arrow-files.js';
import { RULES } from '../../helpers.js';

/** Validates, counting the messages whose metadata was read. */
function counted(bytes: Uint8Array, rules = RULES): { summary: TableSummary | null; error: InvalidTable | null; messages: number } {
  const original = FbMessage.getRootAsMessage;
  let messages = 0;
  FbMessage.getRootAsMessage = (...args: Parameters<typeof original>) => {
    messages++;
    return original(...args);
  };
  try {
    return { summary: validateArrowFile(bytes, rules), error: null, messages };
  } catch (error) {
    if (!(error instanceof InvalidTable)) throw error;
    return { summary: null, error, messages };
  } finally {
    FbMessage.getRootAsMessage = original;
  }
}

function refused(bytes: Uint8Array, pattern: RegExp, rules = RULES): number {
  const { error, summary, messages } = counted(bytes, rules);
  assert.ok(error, `refused, but got ${JSON.stringify(summary)}`);
  assert.match(error.message, pattern);
  return messages;
}

const int32Batches = (batches: number): Uint8Array =>
  fileOf(new arrow.Table(Array.from({ length: batches }, (_, b) => new arrow.RecordBatch({ n: arrow.makeData({ type: new arrow.Int32(), data: Int32Array.of(b, b) }) }))));

const int32Body = (...values: number[]): Uint8Array => new Uint8Array(Int32Array.from(values).buffer);

/** Bytes a file must have for this much work to be accepted. */
const bytesPaying = (units: number): number => Math.max(0, Math.ceil(((units - workAllowed(0)) * 1e9) / (workAllowed(1e9) - workAllowed(0))));

describe('footer blocks: each listed once, in file order', () => {
  it('one delta dictionary listed 2,700 times (65 KB; 11-18 s before) is refused before any message is read', () => {
    assert.equal(refused(repeatedDelta(2700), /dictionary batch 2 overlaps dictionary batch 1 or comes before it/), 0);
  });

  it('one batch of 200 columns listed 1,200 times (149 s and 1,200 rows reported before) is refused, reading nothing', () => {
    assert.equal(refused(aliasedBatches(200, 1200), /record batch 1 overlaps record batch 0 or comes before it/), 0);
  });

  it('batches out of file order, a block starting inside another, a dictionary inside a batch', () => {
    const bytes = int32Batches(2);
    const { records } = blocksOf(bytes);
    const [first, second] = [records[0]!, records[1]!];
    refused(withFooter(bytes, [second, first], []), /record batch 1 overlaps record batch 0 or comes before it/);
    refused(withFooter(bytes, [first, new FileBlock(second.metaDataLength, second.bodyLength, first.offset + 8)], []), /record batch 1 overlaps record batch 0/);
    const deltas = writerDeltaFile(1);
    const blocks = blocksOf(deltas);
    const inside = new FileBlock(blocks.dictionaries[1]!.metaDataLength, blocks.dictionaries[1]!.bodyLength, blocks.records[0]!.offset);
    refused(withFooter(deltas, blocks.records, [blocks.dictionaries[0]!, inside]), /dictionary batch 1 overlaps record batch 0|record batch 0 overlaps dictionary batch 1/);
  });

  it('a block whose metadata length disagrees with its message (readers would find its body in different places)', () => {
    const bytes = int32Batches(2);
    const { records } = blocksOf(bytes);
    const longer = new FileBlock(records[0]!.metaDataLength + 8, records[0]!.bodyLength - 8, records[0]!.offset);
    refused(withFooter(bytes, [longer, records[1]!], []), /record batch 0 has a bad metadata length/);
  });

  it('still accepts what writers write: batches in order, dictionaries before and between them', () => {
    assert.deepEqual(counted(int32Batches(3)).summary?.rows, 6);
    const { summary, messages } = counted(writerDeltaFile(5));
    assert.equal(summary?.rows, 6);
    assert.equal(messages, 12, 'each of the 6 dictionary and 6 record batch messages is read once');
  });
});

describe('a message\'s buffers never overlap', () => {
  it('1,000 string columns over one offsets and data buffer are refused', () => {
    refused(sharedBuffers(1000, 10_000), /record batch 0 buffer \d+ overlaps buffer \d+/);
    assert.equal(counted(sharedBuffers(1, 10_000)).summary?.rows, 10_000, 'one column alone is a valid file');
  });

  it('disjoint buffers listed out of order are accepted, and read as apache-arrow reads them', () => {
    const schema = new arrow.Schema([new arrow.Field('a', new arrow.Int32()), new arrow.Field('b', new arrow.Int32())]);
    // b's values first in the body, a's after: the buffer list is not in body order.
    const buffers = [new BufferRegion(0, 0), new BufferRegion(8, 8), new BufferRegion(0, 0), new BufferRegion(0, 8)];
    const bytes = buildFile(schema, [{ header: new RecordBatch(2, [new FieldNode(2, 0), new FieldNode(2, 0)], buffers, null), body: int32Body(30, 40, 10, 20) }]);
    assert.equal(counted(bytes).summary?.rows, 2);
    const table = arrow.tableFromIPC(bytes);
    assert.deepEqual([...table.getChild('a')!], [10, 20]);
    assert.deepEqual([...table.getChild('b')!], [30, 40]);
  });
});

describe('dictionaries: one per column, extended only by real deltas', () => {
  const schema = new arrow.Schema([new arrow.Field('d', new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32(), 0))]);
  const dictionary = (value: string, isDelta: boolean, id = 0): { header: DictionaryBatch; body: Uint8Array } => {
    const bytes = new TextEncoder().encode(value);
    const body = new Uint8Array(8 + bytes.length);
    body.set(int32Body(0, bytes.length));
    body.set(bytes, 8);
    const data = new RecordBatch(1, [new FieldNode(1, 0)], [new BufferRegion(0, 0), new BufferRegion(0, 8), new BufferRegion(8, bytes.length)], null);
    return { header: new DictionaryBatch(data, id, isDelta), body };
  };
  const batch = (index: number): { header: RecordBatch; body: Uint8Array } => ({
    header: new RecordBatch(1, [new FieldNode(1, 0)], [new BufferRegion(0, 0), new BufferRegion(0, 4)], null),
    body: int32Body(index),
  });

  it('deltas written by apache-arrow are accepted, and an index into the last delta is in range', () => {
    const bytes = writerDeltaFile(20);
    assert.equal(blocksOf(bytes).dictionaries.length, 21);
    assert.equal(counted(bytes).summary?.rows, 21);
    assert.deepEqual(counted(buildFile(schema, [dictionary('a', false), dictionary('b', true), batch(1)])).summary?.rows, 1);
  });

  it('an index past the last delta is refused', () => {
    refused(buildFile(schema, [dictionary('a', false), dictionary('b', true), batch(2)]), /column "d" \(batch 0\): dictionary index 2 at row 0 is out of range \(size 2\)/);
  });

  it('a second dictionary for a column (a replacement: every batch would be read with the last one) is refused', () => {
    refused(buildFile(schema, [dictionary('a', false), batch(0), dictionary('b', false), batch(0)]), /dictionary batch 1 replaces column "d"'s dictionary/);
  });

  it('a delta with no dictionary before it, or a dictionary no column uses, is refused', () => {
    refused(buildFile(schema, [dictionary('a', true), batch(0)]), /dictionary batch 0 is a delta of column "d"'s dictionary, which has no dictionary before it/);
    refused(buildFile(schema, [dictionary('a', false), dictionary('b', false, 7), batch(0)]), /dictionary batch 1 has id 7, which no column uses/);
  });

  it('N deltas cost N reads, no concatenation (apache-arrow\'s reader concatenates the dictionary at each: N^2 / 2 chunk copies)', () => {
    const deltas = 1500;
    const bytes = deltaDictionaryFile(deltas, bytesPaying(workUnits(deltas + 1, 1, deltas + 1)));
    const concat = arrow.Vector.prototype.concat;
    let copied = 0;
    arrow.Vector.prototype.concat = function (this: arrow.Vector, ...others: arrow.Vector[]) {
      copied += this.data.length;
      return concat.apply(this, others);
    };
    try {
      const { summary, messages } = counted(bytes);
      assert.equal(summary?.rows, deltas + 1);
      assert.equal(messages, 2 * (deltas + 1), 'each dictionary and record batch message read once');
    } finally {
      arrow.Vector.prototype.concat = concat;
    }
    assert.ok(copied <= deltas, `${copied} chunks copied by concatenation`);
  });
});

describe('work per byte: many small batches must be paid for by the file\'s size', () => {
  it('20,000 empty batches in 3 MB are refused before any of them is read', () => {
    const bytes = tinyBatches(20_000, 1, 0);
    assert.ok(workUnits(20_000, 1, 0) > workAllowed(bytes.length));
    assert.equal(refused(bytes, /20001 record batches of 1 column .* its batches are too small/), 0);
  });

  it('the same batches are accepted in a file whose data pays for them', () => {
    const batches = 3000;
    const bytes = tinyBatches(batches, 1, Math.ceil(bytesPaying(workUnits(batches + 1, 1, 0)) / 8));
    assert.ok(workUnits(batches + 1, 1, 0) <= workAllowed(bytes.length));
    assert.equal(counted(bytes).summary?.batches, batches + 1);
  });

  it('one batch of 10,000 columns (a wide table) is accepted, whatever its size', () => {
    const wide = fileOf(arrow.tableFromArrays(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`c${i}`, Int32Array.of(i)]))));
    assert.equal(counted(wide).summary?.columns.length, 10_000);
  });
});
