// Validation of an Arrow IPC file written by an untrusted step, over a read-only
// mapping: nothing is copied into the renderer's heap, and nothing is believed.
//
// Two passes. The structural pass reads only flatbuffer metadata and checks every count
// before anything iterates over it and every block and buffer region against the file
// and its message body (a flatbuffer claiming 2^31 batches must not make us loop, and a
// buffer pointing into another batch or the footer is refused). Only then does
// apache-arrow build column views, batch by batch, for the content rules: valid UTF-8,
// offsets in order and in bounds, dictionary indices in range, row counts consistent.
// Rules follow Workbench's arrow-validate; each can be turned off in the config.
import * as arrow from 'apache-arrow';
import { Footer as FbFooter } from 'apache-arrow/fb/footer';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { Message, type DictionaryBatch as DictionaryBatchHeader, type RecordBatch as RecordBatchHeader } from 'apache-arrow/ipc/metadata/message';
import { isUtf8 } from 'node:buffer';
import { ByteBuffer } from 'flatbuffers';
import type { ValidationRules } from '../config/config-schema.js';
import { BoundsError, checkFooterBounds, checkMessageBounds, FbMessage } from './flatbuffer-bounds.js';

export class InvalidTable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTable';
  }
}

export interface TableSummary {
  rows: number;
  columns: string[];
  batches: number;
  bytes: number;
}

const MAGIC = Buffer.from('ARROW1');
/** The footer holds the schema and 24 bytes per block; this is far above any legit one. */
const MAX_FOOTER_BYTES = 64 * 1024 * 1024;
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/u;

const fail = (message: string): never => {
  throw new InvalidTable(message);
};

const typeName = (type: arrow.DataType): string => arrow.Type[type.typeId] ?? `type ${type.typeId}`;

/** Fields in the flattened pre-order the record batch's field nodes follow. */
function countNodes(field: arrow.Field): number {
  const children = arrow.DataType.isDictionary(field.type) ? [] : (field.type.children ?? []);
  return 1 + children.reduce((sum: number, child: arrow.Field) => sum + countNodes(child), 0);
}

/**
 * Validates an Arrow IPC file. Throws InvalidTable naming the problem; any other
 * failure while reading untrusted bytes (a decoder's TypeError or RangeError) is
 * reported as InvalidTable too: the file is refused, the renderer carries on.
 */
export function validateArrowFile(bytes: Uint8Array, rules: ValidationRules): TableSummary {
  try {
    return validate(bytes, rules);
  } catch (error) {
    if (error instanceof InvalidTable) throw error;
    if (error instanceof BoundsError) throw new InvalidTable(error.message);
    throw new InvalidTable(`the file is malformed: ${(error as Error).message}`);
  }
}

function validate(bytes: Uint8Array, rules: ValidationRules): TableSummary {
  const size = bytes.byteLength;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicAt = (at: number): boolean => MAGIC.every((b, i) => bytes[at + i] === b);

  // ---- the envelope: ARROW1 pad ... footer int32 ARROW1
  if (size < 8 + 4 + 6) fail(`the file is ${size} bytes, too small to be an Arrow IPC file`);
  if (!magicAt(0) || !magicAt(size - 6))
    fail('the file is not an Arrow IPC file (no ARROW1 magic at both ends; Arrow streams are not accepted)');
  const footerLength = view.getInt32(size - 10, true);
  const footerStart = size - 10 - footerLength;
  if (footerLength <= 0 || footerLength > MAX_FOOTER_BYTES || footerStart < 8)
    fail(`the footer length ${footerLength} does not fit in the file`);
  const footerBytes = bytes.subarray(footerStart, footerStart + footerLength);

  // ---- counts, before anything iterates over them
  const fb = FbFooter.getRootAsFooter(new ByteBuffer(footerBytes));
  checkFooterBounds(fb, footerLength, rules.maxColumns);
  const nBatches = fb.recordBatchesLength();
  const nDictionaries = fb.dictionariesLength();
  if (nBatches > rules.maxBatches) fail(`the file claims ${nBatches} record batches; at most ${rules.maxBatches}`);
  if (nDictionaries > rules.maxBatches) fail(`the file claims ${nDictionaries} dictionary batches`);

  let footer: ReturnType<typeof Footer.decode>;
  try {
    footer = Footer.decode(footerBytes);
  } catch (error) {
    return fail(`the footer cannot be decoded: ${(error as Error).message}`);
  }
  const schema = footer.schema;
  checkSchema(schema, rules);

  // ---- every block and buffer region in bounds
  const nodeCounts = schema.fields.map(countNodes);
  const totalNodes = nodeCounts.reduce((a, b) => a + b, 0);
  const blockProblem = (kind: string, index: number, block: { offset: number; metaDataLength: number; bodyLength: number } | null): ReturnType<typeof Message.decode> => {
    if (!block) return fail(`${kind} ${index} is missing from the footer`);
    const { offset, metaDataLength, bodyLength } = block;
    if (![offset, metaDataLength, bodyLength].every((n) => Number.isSafeInteger(n) && n >= 0))
      fail(`${kind} ${index} has a negative or huge offset or length`);
    if (offset < 8 || offset + metaDataLength + bodyLength > footerStart)
      fail(`${kind} ${index} lies outside the file's data region`);
    let prefix = view.getInt32(offset, true);
    let start = offset + 4;
    if (prefix === -1) {
      prefix = view.getInt32(offset + 4, true);
      start = offset + 8;
    }
    if (prefix <= 0 || start + prefix > offset + metaDataLength) fail(`${kind} ${index} has a bad metadata length`);
    let message: ReturnType<typeof Message.decode>;
    const metadata = bytes.subarray(start, start + prefix);
    checkMessageBounds(FbMessage.getRootAsMessage(new ByteBuffer(metadata)), prefix, `${kind} ${index}`);
    try {
      message = Message.decode(metadata);
    } catch (error) {
      return fail(`${kind} ${index}'s metadata cannot be decoded: ${(error as Error).message}`);
    }
    if (message.bodyLength !== bodyLength) fail(`${kind} ${index}'s body length disagrees with the footer`);
    return message;
  };
  const checkRegions = (kind: string, index: number, header: { buffers: { offset: number; length: number }[]; compression?: unknown }, bodyLength: number): void => {
    if (header.compression) fail(`${kind} ${index} is compressed, which is not accepted`);
    header.buffers.forEach((region, b) => {
      if (!(region.offset >= 0 && region.length >= 0 && region.offset + region.length <= bodyLength))
        fail(`${kind} ${index} buffer ${b} lies outside its body`);
    });
  };

  for (let i = 0; i < nDictionaries; i++) {
    const block = footer.getDictionaryBatch(i);
    const message = blockProblem('dictionary batch', i, block);
    if (!message.isDictionaryBatch()) fail(`dictionary batch ${i} is not a dictionary batch message`);
    checkRegions('dictionary batch', i, (message.header() as DictionaryBatchHeader).data, message.bodyLength);
  }
  let rows = 0;
  for (let i = 0; i < nBatches; i++) {
    const block = footer.getRecordBatch(i);
    const message = blockProblem('record batch', i, block);
    if (!message.isRecordBatch()) fail(`record batch ${i} is not a record batch message`);
    const header = message.header() as RecordBatchHeader;
    checkRegions('record batch', i, header, message.bodyLength);
    if (!(Number.isSafeInteger(header.length) && header.length >= 0)) fail(`record batch ${i} has a bad row count`);
    if (header.nodes.length !== totalNodes)
      fail(`record batch ${i} has ${header.nodes.length} field nodes; the schema needs ${totalNodes}`);
    let nodeIndex = 0;
    schema.fields.forEach((field, c) => {
      const node = header.nodes[nodeIndex]!;
      if (node.length !== header.length)
        fail(`column "${field.name}": batch ${i} has ${node.length} values but ${header.length} rows`);
      nodeIndex += nodeCounts[c]!;
    });
    for (const node of header.nodes)
      if (!(node.nullCount >= 0 && node.nullCount <= node.length)) fail(`record batch ${i} has a null count above its length`);
    rows += header.length;
  }

  // ---- content, batch by batch over zero-copy views
  if (nBatches > 0) {
    let reader: arrow.RecordBatchFileReader;
    try {
      reader = arrow.RecordBatchFileReader.from(bytes).open() as arrow.RecordBatchFileReader;
    } catch (error) {
      return fail(`the file cannot be opened: ${(error as Error).message}`);
    }
    const checkedDictionaries = new Set<arrow.Data>();
    for (let i = 0; i < nBatches; i++) {
      let batch: arrow.RecordBatch | null;
      try {
        batch = reader.readRecordBatch(i);
      } catch (error) {
        return fail(`record batch ${i} cannot be read: ${(error as Error).message}`);
      }
      if (!batch) fail(`record batch ${i} cannot be read`);
      schema.fields.forEach((field, c) => {
        const data = batch!.data.children[c];
        if (!data) return fail(`column "${field.name}" is missing from batch ${i}`);
        checkData(data, `column "${field.name}" (batch ${i})`, rules, checkedDictionaries);
      });
    }
  }
  return { rows, columns: schema.fields.map((f) => f.name), batches: nBatches, bytes: size };
}

function checkSchema(schema: arrow.Schema, rules: ValidationRules): void {
  const allowed = new Set(rules.allowedTypes);
  const seen = new Set<string>();
  for (const field of schema.fields) {
    const name: string = field.name ?? '';
    if (rules.checkColumnNames) {
      if (name.length === 0) fail('a column has an empty name');
      if (seen.has(name)) fail(`column name "${name}" is used twice`);
      if (CONTROL_CHARS.test(name)) fail(`column name ${JSON.stringify(name)} contains a control character`);
      if (Buffer.byteLength(name) > rules.maxColumnNameBytes)
        fail(`column name "${name.slice(0, 40)}..." is longer than ${rules.maxColumnNameBytes} bytes`);
    }
    seen.add(name);
    const type = field.type;
    if (!allowed.has(typeName(type))) fail(`column "${name}" has type ${typeName(type)}, which is not allowed`);
    if (arrow.DataType.isDictionary(type)) {
      const valueType = typeName(type.dictionary);
      if (valueType === 'Dictionary' || !allowed.has(valueType))
        fail(`column "${name}" is a dictionary of ${valueType}, which is not allowed`);
    }
  }
}

const bytesFor = (bits: number): number => Math.ceil(bits / 8);

function checkOffsets(data: arrow.Data, where: string, utf8: boolean): void {
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  const values = data.values as Uint8Array;
  const end = data.offset + data.length;
  if (!offsets || offsets.length < end + 1) fail(`${where}: the offsets buffer is too short`);
  const at = (i: number): number => Number(offsets[i]);
  let previous = at(data.offset);
  if (previous < 0) fail(`${where}: the first offset is negative`);
  for (let i = data.offset + 1; i <= end; i++) {
    const current = at(i);
    if (current < previous) fail(`${where}: offsets decrease at row ${i - data.offset - 1}`);
    previous = current;
  }
  if (previous > (values?.length ?? 0)) fail(`${where}: offsets point past the end of the data buffer`);
  if (!utf8) return;
  const first = at(data.offset);
  if (!isUtf8(values.subarray(first, previous))) fail(`${where}: a value is not valid UTF-8`);
  // The whole run is valid UTF-8; a value must also not start inside a character.
  for (let i = data.offset; i < end; i++) {
    const start = at(i);
    if (start < previous && (values[start]! & 0xc0) === 0x80) fail(`${where}: value ${i - data.offset} is not valid UTF-8`);
  }
}

function checkData(data: arrow.Data, where: string, rules: ValidationRules, checkedDictionaries: Set<arrow.Data>): void {
  const end = data.offset + data.length;
  if (data.nullCount > 0 && (data.nullBitmap?.length ?? 0) < bytesFor(end)) fail(`${where}: the validity bitmap is too short`);
  const type = data.type;
  const isValid = (i: number): boolean =>
    data.nullCount <= 0 || !data.nullBitmap || ((data.nullBitmap[i >> 3]! >> (i & 7)) & 1) === 1;

  if (arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type)) checkOffsets(data, where, rules.checkUtf8);
  else if (arrow.DataType.isBinary(type) || arrow.DataType.isLargeBinary(type)) checkOffsets(data, where, false);
  else if (arrow.DataType.isBool(type)) {
    if ((data.values?.length ?? 0) < bytesFor(end)) fail(`${where}: the values buffer is too short`);
  } else if (arrow.DataType.isDictionary(type)) {
    const indices = data.values as ArrayLike<number | bigint>;
    if ((indices?.length ?? 0) < end) fail(`${where}: the indices buffer is too short`);
    const dictionary = data.dictionary;
    if (!dictionary) return fail(`${where}: its dictionary is missing`);
    for (const chunk of dictionary.data) {
      if (checkedDictionaries.has(chunk)) continue;
      checkedDictionaries.add(chunk);
      checkData(chunk, `${where} dictionary`, rules, checkedDictionaries);
    }
    if (rules.checkDictionaries) {
      const size = dictionary.length;
      for (let i = data.offset; i < end; i++) {
        if (!isValid(i)) continue;
        const index = Number(indices[i]);
        if (!(index >= 0 && index < size)) fail(`${where}: dictionary index ${index} at row ${i - data.offset} is out of range (size ${size})`);
      }
    }
  } else if (!arrow.DataType.isNull(type)) {
    // Fixed width: ints, floats, dates, times, timestamps, durations, intervals, decimals.
    const values = data.values as ArrayLike<unknown> | undefined;
    if ((values?.length ?? 0) < end * data.stride) fail(`${where}: the values buffer is too short`);
  }
}
