// Bounds on every vector length in an untrusted file's flatbuffers, checked before
// apache-arrow's decoders see them. Those decoders loop over a vector's claimed length
// and allocate an object per element; a mangled 4-byte length of 4 billion exhausts
// the heap (found by the fuzz test in test/renderer/arrow/validate.test.ts). A vector
// can never hold more elements than the bytes of its flatbuffer could store.
import type { Footer as FbFooter } from 'apache-arrow/fb/footer';
import type { Field as FbField } from 'apache-arrow/fb/field';
import { DictionaryBatch as FbDictionaryBatch } from 'apache-arrow/fb/dictionary-batch';
import { Message as FbMessage } from 'apache-arrow/fb/message';
import { MessageHeader } from 'apache-arrow/fb/message-header';
import { RecordBatch as FbRecordBatch } from 'apache-arrow/fb/record-batch';

export class BoundsError extends Error {}

/** Sizes in bytes of one element of each vector kind. */
const OFFSET = 4; // a vector of tables or strings holds 4-byte offsets
const BLOCK = 24; // struct Block { offset: long; metaDataLength: int; bodyLength: long }
const NODE_OR_BUFFER = 16; // struct FieldNode / struct Buffer: two longs

function bounded(what: string, length: number, elementBytes: number, bytes: number): number {
  if (!(length >= 0 && length * elementBytes <= bytes))
    throw new BoundsError(`${what} claims ${length} entries, more than its ${bytes} bytes can hold`);
  return length;
}

/** Checks the footer; returns the number of fields (children included). */
export function checkFooterBounds(footer: FbFooter, bytes: number, maxFields: number): number {
  bounded('the footer\'s record batch list', footer.recordBatchesLength(), BLOCK, bytes);
  bounded('the footer\'s dictionary list', footer.dictionariesLength(), BLOCK, bytes);
  bounded('the footer\'s metadata', footer.customMetadataLength(), OFFSET, bytes);
  const schema = footer.schema();
  if (!schema) throw new BoundsError('the footer has no schema');
  bounded('the schema\'s metadata', schema.customMetadataLength(), OFFSET, bytes);
  bounded('the schema\'s features', schema.featuresLength(), 8, bytes);
  let total = 0;
  const visit = (get: (i: number) => FbField | null, length: number, where: string): void => {
    bounded(where, length, OFFSET, bytes);
    for (let i = 0; i < length; i++) {
      if (++total > maxFields) throw new BoundsError(`the schema has more than ${maxFields} fields`);
      const field = get(i);
      if (!field) continue;
      bounded(`field ${i}'s metadata`, field.customMetadataLength(), OFFSET, bytes);
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
export function checkMessageBounds(message: FbMessage, bytes: number, where: string): void {
  bounded(`${where}'s metadata`, message.customMetadataLength(), OFFSET, bytes);
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
