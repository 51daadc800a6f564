// Crafted Arrow IPC files for the validator's attack tests and the validation
// benchmark: apache-arrow's own writer for what writers emit, and its own metadata
// encoders for the footers and messages no writer emits (blocks listed twice, buffers
// shared between columns).
import * as arrow from 'apache-arrow';
import { MetadataVersion } from 'apache-arrow/enum';
import { Field as FbField } from 'apache-arrow/fb/field';
import { Footer as FbFooter } from 'apache-arrow/fb/footer';
import { Int as FbInt } from 'apache-arrow/fb/int';
import { Schema as FbSchema } from 'apache-arrow/fb/schema';
import { Type as FbType } from 'apache-arrow/fb/type';
import { Builder } from 'flatbuffers';
import { FileBlock, Footer } from 'apache-arrow/ipc/metadata/file';
import { BufferRegion, DictionaryBatch, FieldNode, Message, RecordBatch } from 'apache-arrow/ipc/metadata/message';

export const fileOf = (table: arrow.Table): Uint8Array => arrow.tableToIPC(table, 'file');

export interface Blocks {
  schema: arrow.Schema;
  records: FileBlock[];
  dictionaries: FileBlock[];
  footerStart: number;
}

/** The footer of a file written by a writer (trusted here: test input). */
export function blocksOf(bytes: Uint8Array): Blocks {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getInt32(bytes.length - 10, true);
  const footerStart = bytes.length - 10 - length;
  const footer = Footer.decode(bytes.subarray(footerStart, footerStart + length));
  const copy = (b: FileBlock | null): FileBlock => new FileBlock(b!.metaDataLength, b!.bodyLength, b!.offset);
  return {
    schema: footer.schema,
    records: Array.from({ length: footer.numRecordBatches }, (_, i) => copy(footer.getRecordBatch(i))),
    dictionaries: Array.from({ length: footer.numDictionaries }, (_, i) => copy(footer.getDictionaryBatch(i))),
    footerStart,
  };
}

const MAGIC = new TextEncoder().encode('ARROW1');

function withTail(head: Uint8Array, schema: arrow.Schema, records: FileBlock[], dictionaries: FileBlock[]): Uint8Array {
  const footer = Footer.encode(new Footer(schema, MetadataVersion.V5, records, dictionaries));
  const out = new Uint8Array(head.length + footer.length + 10);
  out.set(head);
  out.set(footer, head.length);
  new DataView(out.buffer).setInt32(head.length + footer.length, footer.length, true);
  out.set(MAGIC, head.length + footer.length + 4);
  return out;
}

/** The same bytes before the footer, with a footer listing these blocks instead. */
export function withFooter(bytes: Uint8Array, records: FileBlock[], dictionaries: FileBlock[]): Uint8Array {
  const { schema, footerStart } = blocksOf(bytes);
  return withTail(bytes.subarray(0, footerStart), schema, records, dictionaries);
}

const pad8 = (n: number): number => (n + 7) & ~7;

/**
 * A file laid out as a writer would (magic, schema message, each message's metadata
 * then its body, 8-byte aligned, end-of-stream, footer), from metadata written by hand.
 */
export function buildFile(schema: arrow.Schema, messages: Array<{ header: RecordBatch | DictionaryBatch; body: Uint8Array }>): Uint8Array {
  const parts: Uint8Array[] = [MAGIC, new Uint8Array(2)];
  let position = 8;
  const records: FileBlock[] = [];
  const dictionaries: FileBlock[] = [];
  const frame = (message: Message, body: Uint8Array): FileBlock => {
    const metadata = Message.encode(message);
    const metaDataLength = pad8(8 + metadata.length);
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setInt32(0, -1, true);
    new DataView(prefix.buffer).setInt32(4, metaDataLength - 8, true);
    const bodyLength = pad8(body.length);
    parts.push(prefix, metadata, new Uint8Array(metaDataLength - 8 - metadata.length), body, new Uint8Array(bodyLength - body.length));
    const block = new FileBlock(metaDataLength, bodyLength, position);
    position += metaDataLength + bodyLength;
    return block;
  };
  frame(Message.from(schema), new Uint8Array(0));
  for (const { header, body } of messages) {
    const block = frame(Message.from(header, pad8(body.length)), body);
    (header instanceof DictionaryBatch ? dictionaries : records).push(block);
  }
  parts.push(Int32Array.of(-1, 0).reduce((out, v, i) => (new DataView(out.buffer).setInt32(4 * i, v, true), out), new Uint8Array(8)));
  const head = new Uint8Array(position + 8);
  let at = 0;
  for (const part of parts) {
    head.set(part, at);
    at += part.length;
  }
  return withTail(head, schema, records, dictionaries);
}

/**
 * A dictionary column whose dictionary grows by one value per batch: apache-arrow's
 * writer emits a base dictionary and then `deltas` real delta batches, each before the
 * record batch (one row, the new value) that uses it. (Each batch holds its own
 * dictionary vector, so building it is quadratic: keep `deltas` small.)
 */
export function writerDeltaFile(deltas: number): Uint8Array {
  const type = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32());
  const chunks = Array.from({ length: deltas + 1 }, (_, i) => arrow.vectorFromArray([`value ${i}`], new arrow.Utf8()).data[0]!);
  const batches = chunks.map((_, i) => {
    const dictionary = new arrow.Vector(chunks.slice(0, i + 1));
    return new arrow.RecordBatch({ d: arrow.makeData({ type, length: 1, data: Int32Array.of(i), dictionary }) });
  });
  return fileOf(new arrow.Table(batches));
}

/**
 * The same layout as writerDeltaFile, laid out by hand in linear time: a base
 * dictionary whose one value has `padBytes` more bytes (cheap to validate), then
 * `deltas` pairs of a one-value delta and a one-row batch using it.
 */
export function deltaDictionaryFile(deltas: number, padBytes = 0): Uint8Array {
  const schema = new arrow.Schema([new arrow.Field('d', new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32(), 0))]);
  const messages: Array<{ header: RecordBatch | DictionaryBatch; body: Uint8Array }> = [];
  for (let i = 0; i <= deltas; i++) {
    const value = new TextEncoder().encode(i === 0 ? `value 0${' '.repeat(padBytes)}` : `value ${i}`);
    const body = new Uint8Array(8 + value.length);
    new DataView(body.buffer).setInt32(4, value.length, true); // offsets 0, length
    body.set(value, 8);
    const data = new RecordBatch(1, [new FieldNode(1, 0)], [new BufferRegion(0, 0), new BufferRegion(0, 8), new BufferRegion(8, value.length)], null);
    messages.push({ header: new DictionaryBatch(data, 0, i > 0), body });
    messages.push({ header: new RecordBatch(1, [new FieldNode(1, 0)], [new BufferRegion(0, 0), new BufferRegion(0, 4)], null), body: Int32Array.of(i).reduce((b, v) => (new DataView(b.buffer).setInt32(0, v, true), b), new Uint8Array(4)) });
  }
  return buildFile(schema, messages);
}

/** The attack: one delta dictionary batch listed `times` times in the footer. */
export function repeatedDelta(times: number): Uint8Array {
  const bytes = writerDeltaFile(1);
  const { records, dictionaries } = blocksOf(bytes);
  return withFooter(bytes, records, [dictionaries[0]!, ...Array.from({ length: times }, () => dictionaries[1]!)]);
}

/** The other attack: `times` record batch blocks that all point at one batch of `columns` Int32 columns. */
export function aliasedBatches(columns: number, times: number): Uint8Array {
  const bytes = fileOf(arrow.tableFromArrays(Object.fromEntries(Array.from({ length: columns }, (_, i) => [`c${i}`, Int32Array.of(i)]))));
  const { records } = blocksOf(bytes);
  return withFooter(bytes, Array.from({ length: times }, () => records[0]!), []);
}

/** One batch of `columns` string columns that all point at the same offsets and data buffers of `rows` rows. */
export function sharedBuffers(columns: number, rows: number): Uint8Array {
  const schema = new arrow.Schema(Array.from({ length: columns }, (_, i) => new arrow.Field(`s${i}`, new arrow.Utf8())));
  const offsetsBytes = pad8(4 * (rows + 1));
  const body = new Uint8Array(offsetsBytes + rows);
  new Int32Array(body.buffer, 0, rows + 1).forEach((_, i, offsets) => (offsets[i] = i));
  body.fill(0x61, offsetsBytes);
  const nodes = Array.from({ length: columns }, () => new FieldNode(rows, 0));
  const buffers = Array.from({ length: columns }, () => [new BufferRegion(0, 0), new BufferRegion(0, 4 * (rows + 1)), new BufferRegion(offsetsBytes, rows)]).flat();
  return buildFile(schema, [{ header: new RecordBatch(rows, nodes, buffers, null), body }]);
}

/**
 * `count` empty batches of `columns` Float64 columns after one batch of `padRows` rows
 * (zeros: bytes that cost the validator nothing to check): the most per-message and
 * per-column work a file of its size can ask for.
 */
export function tinyBatches(count: number, columns: number, padRows: number): Uint8Array {
  const batch = (rows: number): arrow.RecordBatch =>
    new arrow.RecordBatch(Object.fromEntries(Array.from({ length: columns }, (_, i) => [`c${i}`, arrow.makeData({ type: new arrow.Float64(), data: new Float64Array(rows) })])));
  const empty = batch(0);
  return fileOf(new arrow.Table([batch(padRows), ...Array.from({ length: count }, () => empty)]));
}

/** An ordinary table of about `bytes`: ints, floats, short strings and dictionary-encoded strings, in batches of 64 Ki rows. */
export function plainTable(bytes: number): Uint8Array {
  const rowBytes = 4 + 8 + (4 + 10) + 4; // int32, float64, a 10-byte string and its offset, an int32 index
  const rows = Math.max(1, Math.round(bytes / rowBytes));
  const kind = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32());
  const words = arrow.vectorFromArray(['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'], new arrow.Utf8());
  const batches: arrow.RecordBatch[] = [];
  for (let start = 0; start < rows; start += 65_536) {
    const n = Math.min(65_536, rows - start);
    batches.push(
      new arrow.RecordBatch({
        id: arrow.makeData({ type: new arrow.Int32(), data: Int32Array.from({ length: n }, (_, i) => start + i) }),
        price: arrow.makeData({ type: new arrow.Float64(), data: Float64Array.from({ length: n }, (_, i) => (start + i) / 7) }),
        name: arrow.vectorFromArray(Array.from({ length: n }, (_, i) => `name ${String(start + i).padStart(5, '0')}`), new arrow.Utf8()).data[0]!,
        // One dictionary for every batch, as a file must have.
        kind: arrow.makeData({ type: kind, data: Int32Array.from({ length: n }, (_, i) => (start + i) % words.length), dictionary: words }),
      }),
    );
  }
  return fileOf(new arrow.Table(batches));
}

/**
 * A file with no batches whose footer's schema shares its flatbuffer tables: `topLevel`
 * Int fields, each with `fanOut` children that are all one field, which has `fanOut`
 * children that are all one field... `depth` levels down; every name is the same
 * string of `nameBytes` (the top-level fields get distinct names when `distinctNames`).
 * A few hundred bytes that decode as fanOut^depth fields or topLevel x nameBytes of text.
 */
export function sharedSchemaFile(options: { topLevel: number; fanOut?: number; depth?: number; nameBytes?: number; distinctNames?: boolean }): Uint8Array {
  const { topLevel, fanOut = 0, depth = 0, nameBytes = 1, distinctNames = false } = options;
  const b = new Builder(1024);
  const name = b.createString('n'.repeat(nameBytes));
  const field = (fieldName: number, children: number | null): number => {
    const type = FbInt.createInt(b, 32, true);
    FbField.startField(b);
    FbField.addName(b, fieldName);
    FbField.addNullable(b, true);
    FbField.addTypeType(b, FbType.Int);
    FbField.addType(b, type);
    if (children !== null) FbField.addChildren(b, children);
    return FbField.endField(b);
  };
  let children: number | null = null;
  for (let level = 0; level < depth; level++) {
    const child = field(name, children);
    children = FbField.createChildrenVector(b, Array.from({ length: fanOut }, () => child));
  }
  const shared = field(name, children);
  const fields = Array.from({ length: topLevel }, (_, i) => (distinctNames ? field(b.createString(`c${i}`), children) : shared));
  const fieldsVector = FbSchema.createFieldsVector(b, fields);
  FbSchema.startSchema(b);
  FbSchema.addFields(b, fieldsVector);
  const schema = FbSchema.endSchema(b);
  FbFooter.startRecordBatchesVector(b, 0);
  const records = b.endVector();
  FbFooter.startDictionariesVector(b, 0);
  const dictionaries = b.endVector();
  FbFooter.startFooter(b);
  FbFooter.addVersion(b, MetadataVersion.V5);
  FbFooter.addSchema(b, schema);
  FbFooter.addRecordBatches(b, records);
  FbFooter.addDictionaries(b, dictionaries);
  FbFooter.finishFooterBuffer(b, FbFooter.endFooter(b));
  const footer = b.asUint8Array();
  const out = new Uint8Array(8 + 8 + footer.length + 10);
  out.set(MAGIC);
  new DataView(out.buffer).setInt32(8, -1, true); // end of stream, as a writer leaves it
  out.set(footer, 16);
  new DataView(out.buffer).setInt32(16 + footer.length, footer.length, true);
  out.set(MAGIC, 16 + footer.length + 4);
  return out;
}
