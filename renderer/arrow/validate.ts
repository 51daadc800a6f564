// Validation of an Arrow IPC file written by an untrusted step or uploaded by a caller,
// over a read-only mapping: nothing is copied into the renderer's heap, and nothing is
// believed. The renderer calls it in a worker thread (validation-pool.ts).
//
// The work is bounded by the file's size before any of it is done. Flatbuffer counts
// are checked before anything iterates over them (a flatbuffer claiming 2^31 batches
// must not make us loop), and what the schema decoder would read is charged to a
// budget (flatbuffer-bounds.ts). The footer's blocks must be distinct and in file
// order, a message's buffers may not overlap, and the number of messages and columns
// must be paid for by the file's bytes (messages.ts): otherwise one batch listed 1,200
// times, or 1,000 columns over one buffer, costs 1,200 or 1,000 times its bytes. Each
// message is then read once, in footer order, and each column checked on its buffers
// in place (columns.ts): valid UTF-8, offsets in order and in bounds, dictionary
// indices in range, lengths consistent. Dictionaries are counted here, not assembled by
// apache-arrow's file reader, whose every delta re-concatenates the dictionary (N
// deltas cost N^2). Rules follow Workbench's arrow-validate; each content rule can be
// turned off in the config.
import * as arrow from 'apache-arrow';
import { Footer as FbFooter } from 'apache-arrow/fb/footer';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { ByteBuffer } from 'flatbuffers';
import type { ValidationRules } from '../config/config-schema.js';
import { checkLayout, checkWork, readBlocks, readMessage, type BatchMessage } from './messages.js';
import { BufferCursor, checkColumn, planColumn, type ColumnPlan } from './columns.js';
import { BoundsError, checkFooterBounds, DecodeBudget } from './flatbuffer-bounds.js';
import { fail, InvalidTable } from './invalid-table.js';

export { InvalidTable };

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

const typeName = (type: arrow.DataType): string => arrow.Type[type.typeId] ?? `type ${type.typeId}`;

/** Field nodes a column of this type takes, in the flattened pre-order of a batch's nodes. */
function countNodes(type: arrow.DataType): number {
  const children = arrow.DataType.isDictionary(type) ? [] : (type.children ?? []);
  return 1 + children.reduce((sum: number, child: arrow.Field) => sum + countNodes(child.type), 0);
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
  const budget = new DecodeBudget(size);
  const fb = FbFooter.getRootAsFooter(new ByteBuffer(footerBytes));
  checkFooterBounds(fb, footerLength, rules.maxColumns, budget);
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

  // ---- blocks distinct and in order, and the work they ask for paid by bytes
  const dictionaryBlocks = readBlocks(fb, 'dictionaries');
  const batchBlocks = readBlocks(fb, 'recordBatches');
  checkLayout(dictionaryBlocks, batchBlocks, footerStart);
  const nodeCounts = schema.fields.map((field) => countNodes(field.type));
  const totalNodes = nodeCounts.reduce((a, b) => a + b, 0);
  checkWork(size, nBatches, totalNodes, nDictionaries);

  // ---- dictionaries: one per id, then its deltas, each checked once
  const dictionaryPlans = new Map<number, ColumnPlan>();
  for (const field of schema.fields)
    if (arrow.DataType.isDictionary(field.type) && !dictionaryPlans.has(field.type.id))
      dictionaryPlans.set(field.type.id, planColumn(field.type.dictionary, `column "${field.name}"'s dictionary`, rules));
  const dictionarySizes = new Map<number, number>();
  const dictionarySize = (id: number): number | undefined => dictionarySizes.get(id);
  dictionaryBlocks.forEach((block, i) => {
    const where = `dictionary batch ${i}`;
    const message = readMessage(bytes, block, 'dictionary batch', where, budget);
    const plan = dictionaryPlans.get(message.id);
    if (!plan) return fail(`${where} has id ${message.id}, which no column uses`);
    const known = dictionarySizes.get(message.id);
    // The file format holds one dictionary per id, extended only by deltas (the IPC
    // spec; apache-arrow's own file writer refuses replacements). Its readers load every
    // dictionary batch before the first record batch, so a replacement would give every
    // batch the last dictionary.
    if (message.isDelta && known === undefined) fail(`${where} is a delta of ${plan.label}, which has no dictionary before it`);
    if (!message.isDelta && known !== undefined)
      fail(`${where} replaces ${plan.label}: an Arrow IPC file holds one dictionary per column, extended only by deltas (unify the batches' dictionaries before writing)`);
    checkNodes(message, countNodes(schema.dictionaries.get(message.id)!), where);
    const length = message.nodes[0]!;
    if (length !== message.length) fail(`${where} has ${length} values but claims ${message.length}`);
    checkColumn(plan, length, message.nodes[1]!, new BufferCursor(message.body, message.buffers, where), rules.checkDictionaries, dictionarySize);
    // A delta costs an addition, not a concatenation of everything before it.
    dictionarySizes.set(message.id, (known ?? 0) + length);
  });

  // ---- record batches, each read once
  const plans = schema.fields.map((field) => planColumn(field.type, `column "${field.name}"`, rules));
  let rows = 0;
  batchBlocks.forEach((block, i) => {
    const where = `record batch ${i}`;
    const message = readMessage(bytes, block, 'record batch', where, budget);
    if (!(Number.isSafeInteger(message.length) && message.length >= 0)) fail(`${where} has a bad row count`);
    checkNodes(message, totalNodes, where);
    const buffers = new BufferCursor(message.body, message.buffers, `batch ${i}`);
    for (let c = 0, node = 0; c < plans.length; node += nodeCounts[c++]!) {
      const length = message.nodes[2 * node]!;
      if (length !== message.length) fail(`column "${schema.fields[c]!.name}": batch ${i} has ${length} values but ${message.length} rows`);
      checkColumn(plans[c]!, length, message.nodes[2 * node + 1]!, buffers, rules.checkDictionaries, dictionarySize);
    }
    rows += message.length;
    if (!Number.isSafeInteger(rows)) fail(`the file claims more than ${Number.MAX_SAFE_INTEGER} rows`);
  });
  return { rows, columns: schema.fields.map((f) => f.name), batches: nBatches, bytes: size };
}

/** A message's field nodes: as many as its fields need, none claiming more nulls than values. */
function checkNodes(message: BatchMessage, expected: number, where: string): void {
  const { nodes } = message;
  if (nodes.length !== 2 * expected) fail(`${where} has ${nodes.length / 2} field nodes; the schema needs ${expected}`);
  for (let i = 0; i < nodes.length; i += 2)
    if (!(nodes[i]! >= 0 && nodes[i + 1]! >= 0 && nodes[i + 1]! <= nodes[i]!)) fail(`${where} has a field node with a bad length or a null count above its length`);
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
