// The content rules, checked on each column's buffers where they lie in the mapped
// file: valid UTF-8, offsets in order and in bounds, dictionary indices in range,
// buffers long enough for the rows. No apache-arrow Data is built: making one costs
// typed arrays and allocations per column (~8 us: a batch of empty columns cost
// thousands of times a plain table per byte). A column here costs a few comparisons
// plus, for strings and dictionary indices, one pass over its own bytes. Which buffers
// a type owns, and the typed array each is read through, follow apache-arrow's
// VectorLoader, so this reads what a step's tableFromIPC will, and refuses what would
// make it throw (a buffer not aligned to its typed array).
import * as arrow from 'apache-arrow';
import { strideForType } from 'apache-arrow/type';
import { isUtf8 } from 'node:buffer';
import type { ValidationRules } from '../config/config-schema.js';
import { fail } from './invalid-table.js';

type TypedArrayClass = { readonly BYTES_PER_ELEMENT: number } & (new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayLike<number | bigint>);

/** How a column of one type is checked, worked out once per field, not per batch. */
export interface ColumnPlan {
  /** `column "x"` or `column "x"'s dictionary`, for messages. */
  label: string;
  kind: 'null' | 'bool' | 'fixed' | 'offsets' | 'dictionary';
  /** fixed: bytes per row and the alignment of its typed array. */
  rowBytes: number;
  align: number;
  /** offsets: 64-bit offsets; UTF-8 to check. */
  large: boolean;
  utf8: boolean;
  /** dictionary: its id and the typed array of its indices. */
  dictionaryId: number;
  IndexArray: TypedArrayClass;
}

export function planColumn(type: arrow.DataType, label: string, rules: ValidationRules): ColumnPlan {
  const plan: ColumnPlan = { label, kind: 'fixed', rowBytes: 0, align: 1, large: false, utf8: false, dictionaryId: -1, IndexArray: Uint8Array };
  switch (type.typeId) {
    case arrow.Type.Null:
      return { ...plan, kind: 'null' }; // no buffers at all
    case arrow.Type.Bool:
      return { ...plan, kind: 'bool' };
    case arrow.Type.Utf8:
    case arrow.Type.LargeUtf8:
    case arrow.Type.Binary:
    case arrow.Type.LargeBinary: {
      const large = type.typeId === arrow.Type.LargeUtf8 || type.typeId === arrow.Type.LargeBinary;
      const utf8 = rules.checkUtf8 && (type.typeId === arrow.Type.Utf8 || type.typeId === arrow.Type.LargeUtf8);
      return { ...plan, kind: 'offsets', large, utf8, align: large ? 8 : 4 };
    }
    case arrow.Type.Dictionary: {
      const IndexArray = (type as arrow.Dictionary).indices.ArrayType as unknown as TypedArrayClass;
      return { ...plan, kind: 'dictionary', dictionaryId: (type as arrow.Dictionary).id, IndexArray, align: IndexArray.BYTES_PER_ELEMENT };
    }
    // Ints, floats, dates, times, timestamps, durations, intervals, decimals, fixed-size binary.
    case arrow.Type.Int:
    case arrow.Type.Float:
    case arrow.Type.Date:
    case arrow.Type.Time:
    case arrow.Type.Timestamp:
    case arrow.Type.Interval:
    case arrow.Type.Duration:
    case arrow.Type.Decimal:
    case arrow.Type.FixedSizeBinary: {
      const align = (type.ArrayType as TypedArrayClass).BYTES_PER_ELEMENT;
      return { ...plan, rowBytes: strideForType(type) * align, align };
    }
    default:
      return fail(`${label} has type ${arrow.Type[type.typeId]}, which the validator cannot check`);
  }
}

/** A message's buffers in the order its columns consume them, over its body. */
export class BufferCursor {
  private index = 0;

  constructor(
    private readonly body: Uint8Array,
    /** Flat: offset, length, offset, length... */
    private readonly regions: readonly number[],
    /** `batch 3` or `dictionary batch 0`, for messages. */
    readonly batch: string,
  ) {}

  /** The next buffer's length, checking it is aligned to the typed array apache-arrow views it as. */
  skip(plan: ColumnPlan, what: string, align = 1): number {
    if (this.index >= this.regions.length) return fail(`${plan.label} (${this.batch}): the batch has no ${what} buffer (too few buffers)`);
    const offset = this.regions[this.index]!;
    this.index += 2;
    if ((this.body.byteOffset + offset) % align !== 0) fail(`${plan.label} (${this.batch}): the ${what} buffer is not aligned to ${align} bytes`);
    return this.regions[this.index - 1]!;
  }

  /** The next buffer's bytes (a view, not a copy). */
  take(plan: ColumnPlan, what: string, align = 1): Uint8Array {
    const length = this.skip(plan, what, align);
    const offset = this.regions[this.index - 2]!;
    return this.body.subarray(offset, offset + length);
  }
}

const bytesFor = (bits: number): number => Math.ceil(bits / 8);

/**
 * Checks one column of `length` rows (a batch's column or a dictionary's values),
 * taking its buffers from `buffers`. `dictionarySize` gives the number of values of a
 * dictionary id, or undefined when the file has none for it.
 */
export function checkColumn(
  plan: ColumnPlan,
  length: number,
  nullCount: number,
  buffers: BufferCursor,
  checkDictionaries: boolean,
  dictionarySize: (id: number) => number | undefined,
): void {
  const where = (): string => `${plan.label} (${buffers.batch})`;
  if (plan.kind === 'null') return;
  let validity: Uint8Array | null = null;
  if (nullCount > 0) {
    validity = buffers.take(plan, 'validity');
    if (validity.length < bytesFor(length)) fail(`${where()}: the validity bitmap is too short`);
  } else buffers.skip(plan, 'validity');

  switch (plan.kind) {
    case 'fixed':
      if (buffers.skip(plan, 'values', plan.align) < length * plan.rowBytes) fail(`${where()}: the values buffer is too short`);
      return;
    case 'bool':
      if (buffers.skip(plan, 'values') < bytesFor(length)) fail(`${where()}: the values buffer is too short`);
      return;
    case 'offsets':
      return checkOffsets(plan, length, buffers, where);
    case 'dictionary':
      return checkIndices(plan, length, validity, buffers, where, checkDictionaries, dictionarySize);
  }
}

function checkIndices(
  plan: ColumnPlan,
  length: number,
  validity: Uint8Array | null,
  buffers: BufferCursor,
  where: () => string,
  checkDictionaries: boolean,
  dictionarySize: (id: number) => number | undefined,
): void {
  const bytes = buffers.take(plan, 'indices', plan.align);
  if (bytes.length < length * plan.align) fail(`${where()}: the indices buffer is too short`);
  // Its values were checked once, as its dictionary batches were read.
  const size = dictionarySize(plan.dictionaryId);
  if (size === undefined) return fail(`${where()}: its dictionary is missing`);
  if (!checkDictionaries || length === 0) return;
  const indices = new plan.IndexArray(bytes.buffer, bytes.byteOffset, length);
  for (let i = 0; i < length; i++) {
    if (validity !== null && ((validity[i >> 3]! >> (i & 7)) & 1) === 0) continue;
    const index = Number(indices[i]);
    if (!(index >= 0 && index < size)) fail(`${where()}: dictionary index ${index} at row ${i} is out of range (size ${size})`);
  }
}

function checkOffsets(plan: ColumnPlan, length: number, buffers: BufferCursor, where: () => string): void {
  const offsetBytes = buffers.take(plan, 'offsets', plan.align);
  const values = buffers.take(plan, 'data');
  if (offsetBytes.length < (length + 1) * plan.align) fail(`${where()}: the offsets buffer is too short`);
  const offsets = new (plan.large ? BigInt64Array : Int32Array)(offsetBytes.buffer as ArrayBuffer, offsetBytes.byteOffset, length + 1);
  const at = (i: number): number => Number(offsets[i]);
  let previous = at(0);
  if (previous < 0) fail(`${where()}: the first offset is negative`);
  for (let i = 1; i <= length; i++) {
    const current = at(i);
    if (current < previous) fail(`${where()}: offsets decrease at row ${i - 1}`);
    previous = current;
  }
  if (previous > values.length) fail(`${where()}: offsets point past the end of the data buffer`);
  if (!plan.utf8) return;
  const first = at(0);
  if (!isUtf8(values.subarray(first, previous) as Uint8Array<ArrayBuffer>)) fail(`${where()}: a value is not valid UTF-8`);
  // The whole run is valid UTF-8; a value must also not start inside a character.
  for (let i = 0; i < length; i++) {
    const start = at(i);
    if (start < previous && (values[start]! & 0xc0) === 0x80) fail(`${where()}: value ${i} is not valid UTF-8`);
  }
}
