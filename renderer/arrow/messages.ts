// The footer's blocks and the messages they point at: where the validator's work comes
// from, so where it is bounded. A footer may list any block any number of times, and a
// message's buffers may point anywhere in its body; apache-arrow reads what it is told.
// One delta dictionary listed 2,700 times made its reader concatenate for 11-18 s (65
// KB); one batch of 200 columns listed 1,200 times cost 149 s (311 KB) and reported
// 1,200 rows where 1 was stored. Here every byte of a file belongs to at most one block
// and to at most one buffer of that block, and the number of messages and columns is
// paid for in bytes before any message is read.
//
// Metadata is read straight from the flatbuffers, not through apache-arrow's
// Message.decode, whose objects and BigInts per field node and buffer cost ~5 us per
// message: 30 times a plain table's validation per byte for a file of empty batches.
import type { Footer as FbFooter } from 'apache-arrow/fb/footer';
import { Block as FbBlock } from 'apache-arrow/fb/block';
import { Buffer as FbBuffer } from 'apache-arrow/fb/buffer';
import { DictionaryBatch as FbDictionaryBatch } from 'apache-arrow/fb/dictionary-batch';
import { FieldNode as FbFieldNode } from 'apache-arrow/fb/field-node';
import { MessageHeader } from 'apache-arrow/fb/message-header';
import { MetadataVersion } from 'apache-arrow/fb/metadata-version';
import { RecordBatch as FbRecordBatch } from 'apache-arrow/fb/record-batch';
import { ByteBuffer } from 'flatbuffers';
import { checkMessageBounds, type DecodeBudget, FbMessage } from './flatbuffer-bounds.js';
import { fail } from './invalid-table.js';

/** A footer entry: the message at `offset`, its metadata, then its body. */
export interface Block {
  offset: number;
  metaDataLength: number;
  bodyLength: number;
}

/** A signed 64-bit little-endian integer, or NaN when it is not a safe integer. */
function int64(bb: ByteBuffer, at: number): number {
  const value = bb.readInt32(at + 4) * 2 ** 32 + bb.readUint32(at);
  return Number.isSafeInteger(value) ? value : NaN;
}

/** The footer's record batch or dictionary blocks (their count already bounded). */
export function readBlocks(footer: FbFooter, which: 'recordBatches' | 'dictionaries'): Block[] {
  const block = new FbBlock();
  const length = which === 'recordBatches' ? footer.recordBatchesLength() : footer.dictionariesLength();
  const blocks: Block[] = new Array(length);
  for (let i = 0; i < length; i++) {
    const at = footer[which](i, block)!;
    const bb = at.bb!;
    // struct Block { offset: long; metaDataLength: int; (4 bytes padding) bodyLength: long }
    blocks[i] = { offset: int64(bb, at.bb_pos), metaDataLength: bb.readInt32(at.bb_pos + 8), bodyLength: int64(bb, at.bb_pos + 16) };
  }
  return blocks;
}

const endOf = (block: Block): number => block.offset + block.metaDataLength + block.bodyLength;

/**
 * Each block lies in the data region (after the leading magic, before the footer),
 * each list is in file order, and no two blocks, dictionary or record batch, share a
 * byte. Every writer lays files out like this (all of Apache Arrow's golden files do).
 */
export function checkLayout(dictionaries: readonly Block[], batches: readonly Block[], footerStart: number): void {
  const checkList = (kind: string, list: readonly Block[]): void =>
    list.forEach((block, i) => {
      const { offset, metaDataLength, bodyLength } = block;
      if (![offset, metaDataLength, bodyLength].every((n) => Number.isSafeInteger(n) && n >= 0))
        fail(`${kind} ${i} has a negative or huge offset or length`);
      if (offset < 8 || metaDataLength === 0 || endOf(block) > footerStart) fail(`${kind} ${i} lies outside the file's data region`);
      if (i > 0 && offset < endOf(list[i - 1]!))
        fail(`${kind} ${i} overlaps ${kind} ${i - 1} or comes before it: a footer must list each block once, in file order`);
    });
  checkList('dictionary batch', dictionaries);
  checkList('record batch', batches);
  // Both lists are sorted now: merge them to find a dictionary inside a record batch.
  let d = 0;
  let r = 0;
  let previous = '';
  let previousEnd = 0;
  while (d < dictionaries.length || r < batches.length) {
    const takeDictionary = r >= batches.length || (d < dictionaries.length && dictionaries[d]!.offset < batches[r]!.offset);
    const block = takeDictionary ? dictionaries[d]! : batches[r]!;
    const name = takeDictionary ? `dictionary batch ${d++}` : `record batch ${r++}`;
    if (block.offset < previousEnd) fail(`${name} overlaps ${previous}: a footer must list each block once, in file order`);
    previous = name;
    previousEnd = endOf(block);
  }
}

/**
 * Reading a message costs a fixed overhead, plus a little per column, whether the
 * batch holds a million rows or none, while a plain table costs ~0.2 ms per MB (its
 * strings' offsets and UTF-8, its dictionary indices). Measured on this project's
 * 2-core machine: a column of a batch ~0.1-0.2 us, a message about MESSAGE_UNITS
 * columns. A file may ask for FREE_UNITS columns' worth of work (~3 ms: one batch of
 * up to 16,000 columns) whatever its size; beyond that each unit must be paid by
 * BYTES_PER_UNIT bytes of the file (a batch of 10 float64 columns needs ~140 rows).
 * Smaller batches are refused, whoever wrote them: validating them would cost more
 * per byte than twice a plain table (`npm run bench -- --only validation`).
 */
const MESSAGE_UNITS = 8;
/** A dictionary batch costs more than a record batch of one column: ~2.2 times (its values are checked at once). */
const DICTIONARY_UNITS = 20;
const FREE_UNITS = 16_384;
const BYTES_PER_UNIT = 640;

/** The work units a file's messages ask for. */
export const workUnits = (batches: number, columns: number, dictionaries: number): number =>
  batches * (MESSAGE_UNITS + columns) + dictionaries * DICTIONARY_UNITS;

/** The work units a file of this size may ask for. */
export const workAllowed = (fileBytes: number): number => FREE_UNITS + fileBytes / BYTES_PER_UNIT;

export function checkWork(fileBytes: number, batches: number, columns: number, dictionaries: number): void {
  if (workUnits(batches, columns, dictionaries) > workAllowed(fileBytes))
    fail(
      `the file has ${batches} record batches of ${columns} column${columns === 1 ? '' : 's'} and ${dictionaries} dictionary batches in only ${fileBytes} bytes: ` +
        'its batches are too small to validate at a bounded cost per byte (write fewer, larger batches, e.g. by concatenating them)',
    );
}

/** One message's metadata: what the validator needs of a record or dictionary batch. */
export interface BatchMessage {
  /** The batch's rows, or the dictionary batch's values. */
  length: number;
  /** Per field node, flat: length, nullCount, length, nullCount... (NaN where not a safe integer). */
  nodes: number[];
  /** Per buffer, flat: its offset and length in the body, offset, length... */
  buffers: number[];
  /** A dictionary batch's id and isDelta (0 and false for a record batch). */
  id: number;
  isDelta: boolean;
  body: Uint8Array;
}

/**
 * flatbuffers' ByteBuffer makes a TextDecoder each time (a third of a message's cost);
 * this one is pointed at each message's metadata in turn. Its bytes are all a
 * ByteBuffer reads, so it reads exactly what a new one would.
 */
class MetadataBuffer extends ByteBuffer {
  constructor() {
    super(new Uint8Array(0));
  }

  over(bytes: Uint8Array): this {
    (this as unknown as { bytes_: Uint8Array }).bytes_ = bytes;
    this.setPosition(0);
    return this;
  }
}

// Reused accessor objects: validation is synchronous and one file at a time per thread.
const metadataBuffer = new MetadataBuffer();
const fbMessage = new FbMessage();
const fbBatch = new FbRecordBatch();
const fbDictionary = new FbDictionaryBatch();
const fbNode = new FbFieldNode();
const fbBuffer = new FbBuffer();

/**
 * The message of one block, after checkLayout: its metadata bounded and read, its
 * body where apache-arrow's reader finds it (right after the metadata), and its
 * buffers inside that body, never overlapping.
 */
export function readMessage(bytes: Uint8Array, block: Block, kind: 'record batch' | 'dictionary batch', where: string, budget: DecodeBudget): BatchMessage {
  const { offset, metaDataLength, bodyLength } = block;
  const int32At = (at: number): number => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
  let prefix = int32At(offset);
  let start = offset + 4;
  if (prefix === -1) {
    prefix = int32At(offset + 4);
    start = offset + 8;
  }
  // Readers disagree on where the body starts when these differ: apache-arrow right
  // after the metadata, Arrow C++ at offset + metaDataLength. Every writer makes them one.
  if (prefix <= 0 || start + prefix !== offset + metaDataLength)
    fail(`${where} has a bad metadata length (${prefix} bytes in a ${metaDataLength}-byte block)`);
  // Over exactly the metadata, as apache-arrow's reader sees it: whatever points
  // outside reads as zeros for both.
  const bb = metadataBuffer.over(bytes.subarray(start, start + prefix));
  const message = FbMessage.getRootAsMessage(bb, fbMessage);
  checkMessageBounds(message, prefix, where, budget);
  const headerType = kind === 'record batch' ? MessageHeader.RecordBatch : MessageHeader.DictionaryBatch;
  if (message.headerType() !== headerType) fail(`${where} is not a ${kind} message`);
  if (Number(message.bodyLength()) !== bodyLength) fail(`${where}'s body length disagrees with the footer`);

  let id = 0;
  let isDelta = false;
  let batch: FbRecordBatch | null;
  if (kind === 'dictionary batch') {
    const dictionary = message.header(fbDictionary) as FbDictionaryBatch | null;
    if (!dictionary) return fail(`${where} has no header`);
    id = Number(dictionary.id());
    isDelta = dictionary.isDelta();
    batch = dictionary.data(fbBatch);
  } else batch = message.header(fbBatch) as FbRecordBatch | null;
  if (!batch) return fail(`${where} has no header`);
  if (batch.compression()) fail(`${where} is compressed, which is not accepted`);

  // struct FieldNode { length: long; null_count: long }, struct Buffer { offset: long;
  // length: long }; before V4 (Arrow 0.8) a buffer had a page field too, which
  // apache-arrow skips so. Read as little-endian pairs of 32-bit halves.
  const legacy = message.version() < MetadataVersion.V4;
  const nNodes = batch.nodesLength();
  const nBuffers = batch.buffersLength();
  const nodeAt = nNodes > 0 ? batch.nodes(0, fbNode)!.bb_pos : 0;
  const bufferAt = nBuffers > 0 ? batch.buffers(0, fbBuffer)!.bb_pos : 0;
  if (nodeAt + 16 * nNodes > prefix || bufferAt + (legacy ? 24 : 16) * nBuffers > prefix) fail(`${where}'s field nodes or buffers run past its metadata`);
  const metadata = new DataView(bytes.buffer, bytes.byteOffset + start, prefix);
  const int64At = (at: number): number => {
    const value = metadata.getInt32(at + 4, true) * 2 ** 32 + metadata.getUint32(at, true);
    return Number.isSafeInteger(value) ? value : NaN;
  };
  const nodes: number[] = new Array(2 * nNodes);
  for (let i = 0; i < 2 * nNodes; i++) nodes[i] = int64At(nodeAt + 8 * i);
  const buffers: number[] = new Array(2 * nBuffers);
  for (let i = 0; i < nBuffers; i++) {
    const at = bufferAt + 16 * i + (legacy ? 8 * (i + 1) : 0);
    buffers[2 * i] = int64At(at);
    buffers[2 * i + 1] = int64At(at + 8);
  }
  checkBuffers(buffers, bodyLength, where);

  let body = bytes.subarray(start + prefix, start + prefix + bodyLength);
  // As apache-arrow's reader does: a body that is not 8-byte aligned is copied, so
  // typed-array views of its buffers can be made (once per message: linear).
  if (body.byteOffset % 8 !== 0) body = body.slice();
  const lengthField = bb.__offset(batch.bb_pos, 4); // RecordBatch.length: absent means 0
  return { length: lengthField ? int64(bb, batch.bb_pos + lengthField) : 0, nodes, buffers, id, isDelta, body };
}

/** Each buffer inside the body; non-empty ones disjoint (in order, or sorted first). */
function checkBuffers(buffers: readonly number[], bodyLength: number, where: string): void {
  let sorted = true;
  let end = 0;
  for (let i = 0; i < buffers.length; i += 2) {
    const offset = buffers[i]!;
    const length = buffers[i + 1]!;
    if (!(offset >= 0 && length >= 0 && offset + length <= bodyLength)) fail(`${where} buffer ${i / 2} lies outside its body`);
    if (length === 0) continue;
    if (offset < end) sorted = false;
    end = offset + length;
  }
  if (sorted) return;
  // Buffers sharing bytes would have them validated once per buffer: 1,000 string
  // columns over one offsets buffer cost 1,000 times its size.
  const regions: Array<{ offset: number; end: number; index: number }> = [];
  for (let i = 0; i < buffers.length; i += 2)
    if (buffers[i + 1]! > 0) regions.push({ offset: buffers[i]!, end: buffers[i]! + buffers[i + 1]!, index: i / 2 });
  regions.sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < regions.length; i++)
    if (regions[i]!.offset < regions[i - 1]!.end) fail(`${where} buffer ${regions[i]!.index} overlaps buffer ${regions[i - 1]!.index}`);
}
