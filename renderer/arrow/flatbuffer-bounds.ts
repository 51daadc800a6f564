// Bounds on every vector length in an untrusted file's flatbuffers, checked before
// apache-arrow's decoders see them. Those decoders loop over a vector's claimed length
// and allocate an object per element; a mangled 4-byte length of 4 billion exhausts
// the heap (found by the fuzz test in test/renderer/arrow/validate.test.ts). A vector
// can never hold more elements than the bytes of its flatbuffer could store.
//
// Flatbuffer offsets may also point many times at one table or string, so a few bytes
// can stand for a great deal of decoding: 10,000 field names that are all one 1 MB
// string decode 10 GB from a 1 MB footer. What the decoders will read (fields, strings,
// union type ids) is therefore charged to a DecodeBudget as well, which no file that
// stores each thing once can exceed.
import { Encoding } from 'flatbuffers';
import type { Footer as FbFooter } from 'apache-arrow/fb/footer';
import type { Field as FbField } from 'apache-arrow/fb/field';
import type { KeyValue as FbKeyValue } from 'apache-arrow/fb/key-value';
import { DictionaryBatch as FbDictionaryBatch } from 'apache-arrow/fb/dictionary-batch';
import { Message as FbMessage } from 'apache-arrow/fb/message';
import { MessageHeader } from 'apache-arrow/fb/message-header';
import { RecordBatch as FbRecordBatch } from 'apache-arrow/fb/record-batch';
import { Timestamp as FbTimestamp } from 'apache-arrow/fb/timestamp';
import { Type as FbType } from 'apache-arrow/fb/type';
import { Union as FbUnion } from 'apache-arrow/fb/union';

export class BoundsError extends Error {}

/** Sizes in bytes of one element of each vector kind. */
const OFFSET = 4; // a vector of tables or strings holds 4-byte offsets
const BLOCK = 24; // struct Block { offset: long; metaDataLength: int; bodyLength: long }
const NODE_OR_BUFFER = 16; // struct FieldNode / struct Buffer: two longs
/** A field costs its parent an offset and at least a table's 4-byte vtable offset. */
const MIN_FIELD_BYTES = 8;

function bounded(what: string, length: number, elementBytes: number, bytes: number): number {
  if (!(length >= 0 && length * elementBytes <= bytes))
    throw new BoundsError(`${what} claims ${length} entries, more than its ${bytes} bytes can hold`);
  return length;
}

/**
 * Bytes the decoders may read from strings and type-id vectors over the whole file:
 * its size, and 1 MiB for writers that store a repeated string once. Beyond that the
 * same bytes are being read again and again.
 */
export class DecodeBudget {
  private remaining: number;

  constructor(fileBytes: number) {
    this.remaining = fileBytes + 1024 * 1024;
  }

  charge(bytes: number, where: string): void {
    this.remaining -= bytes;
    if (this.remaining < 0)
      throw new BoundsError(`${where} makes the file's names and metadata longer than the file: its flatbuffers point at the same strings again and again`);
  }
}

const stringBytes = (value: string | Uint8Array | null): number => (value === null ? 0 : value.length);

function chargeMetadata(entry: (i: number) => FbKeyValue | null, length: number, budget: DecodeBudget, where: string): void {
  for (let i = 0; i < length; i++) {
    const kv = entry(i);
    if (kv) budget.charge(stringBytes(kv.key(Encoding.UTF8_BYTES)) + stringBytes(kv.value(Encoding.UTF8_BYTES)), where);
  }
}

/** What apache-arrow's type decoder reads beyond the field's fixed-size parts. */
function chargeType(field: FbField, budget: DecodeBudget, where: string): void {
  switch (field.typeType()) {
    case FbType.Timestamp:
      budget.charge(stringBytes((field.type(new FbTimestamp()) as FbTimestamp | null)?.timezone(Encoding.UTF8_BYTES) ?? null), where);
      break;
    case FbType.Union:
      budget.charge(((field.type(new FbUnion()) as FbUnion | null)?.typeIdsLength() ?? 0) * 4, where);
      break;
    default:
  }
}

/** Checks the footer; returns the number of fields (children included). */
export function checkFooterBounds(footer: FbFooter, bytes: number, maxFields: number, budget: DecodeBudget): number {
  bounded('the footer\'s record batch list', footer.recordBatchesLength(), BLOCK, bytes);
  bounded('the footer\'s dictionary list', footer.dictionariesLength(), BLOCK, bytes);
  bounded('the footer\'s metadata', footer.customMetadataLength(), OFFSET, bytes);
  const schema = footer.schema();
  if (!schema) throw new BoundsError('the footer has no schema');
  bounded('the schema\'s metadata', schema.customMetadataLength(), OFFSET, bytes);
  bounded('the schema\'s features', schema.featuresLength(), 8, bytes);
  chargeMetadata((i) => schema.customMetadata(i), schema.customMetadataLength(), budget, 'the schema\'s metadata');
  // Each vector is bounded by the footer's bytes, but children vectors may all point at
  // one field, which points at one field...: 4^depth fields from a few bytes. A schema
  // that stores each field once has at most one per MIN_FIELD_BYTES of its footer.
  const maxStored = Math.floor(bytes / MIN_FIELD_BYTES);
  let total = 0;
  const visit = (get: (i: number) => FbField | null, length: number, where: string): void => {
    bounded(where, length, OFFSET, bytes);
    for (let i = 0; i < length; i++) {
      if (++total > maxFields) throw new BoundsError(`the schema has more than ${maxFields} fields`);
      if (total > maxStored) throw new BoundsError(`the schema has more fields than its ${bytes}-byte footer can store: its fields are shared`);
      const field = get(i);
      if (!field) continue;
      bounded(`field ${i}'s metadata`, field.customMetadataLength(), OFFSET, bytes);
      budget.charge(stringBytes(field.name(Encoding.UTF8_BYTES)), `field ${i}'s name`);
      chargeMetadata((j) => field.customMetadata(j), field.customMetadataLength(), budget, `field ${i}'s metadata`);
      chargeType(field, budget, `field ${i}'s type`);
      visit((j) => field.children(j), field.childrenLength(), `field ${i}'s children`);
    }
  };
  visit((i) => schema.fields(i), schema.fieldsLength(), 'the schema\'s fields');
  return total;
}

function checkRecordBatch(batch: FbRecordBatch | null, bytes: number, where: string): void {
  if (!batch) throw new BoundsError(`${where} has no header`);
  bounded(`${where}'s field nodes`, batch.nodesLength(), NODE_OR_BUFFER, bytes);
  bounded(`${where}'s buffers`, batch.buffersLength(), NODE_OR_BUFFER, bytes);
  bounded(`${where}'s variadic buffer counts`, batch.variadicBufferCountsLength(), 8, bytes);
}

/** Checks one message's metadata (a record batch or dictionary batch of a file). */
export function checkMessageBounds(message: FbMessage, bytes: number, where: string, budget: DecodeBudget): void {
  bounded(`${where}'s metadata`, message.customMetadataLength(), OFFSET, bytes);
  chargeMetadata((i) => message.customMetadata(i), message.customMetadataLength(), budget, `${where}'s metadata`);
  switch (message.headerType()) {
    case MessageHeader.RecordBatch:
      return checkRecordBatch(message.header(new FbRecordBatch()), bytes, where);
    case MessageHeader.DictionaryBatch:
      return checkRecordBatch(message.header(new FbDictionaryBatch())?.data() ?? null, bytes, where);
    default:
      throw new BoundsError(`${where} is neither a record batch nor a dictionary batch`);
  }
}

export { FbMessage };
