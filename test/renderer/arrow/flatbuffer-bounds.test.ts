// Footers whose flatbuffer offsets point at one table or string again and again: a few
// hundred bytes that apache-arrow's schema decoder would expand into millions of fields
// or gigabytes of names. Refused before it decodes them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidTable, validateArrowFile } from '../../../renderer/arrow/validate.js';
import { sharedSchemaFile } from '../../arrow-files.js';
import { RULES } from '../../helpers.js';

const refused = (bytes: Uint8Array, pattern: RegExp, rules = RULES): void =>
  assert.throws(() => validateArrowFile(bytes, rules), (error: unknown) => error instanceof InvalidTable && pattern.test(error.message));

describe('a footer\'s shared tables and strings', () => {
  it('2,000 field names that are all one 64 KB string (131 MB of text from a 74 KB file) are refused', () => {
    const bytes = sharedSchemaFile({ topLevel: 2000, nameBytes: 65_536 });
    assert.ok(bytes.length < 80_000);
    // Without the name rules the names would not even be refused after decoding.
    refused(bytes, /the same strings again and again/, { ...RULES, checkColumnNames: false });
  });

  it('fields whose children are all one field, 8 levels deep (4^8 fields from a few hundred bytes), are refused', () => {
    const bytes = sharedSchemaFile({ topLevel: 4, fanOut: 4, depth: 8, distinctNames: true });
    assert.ok(bytes.length < 1000);
    refused(bytes, /more fields than its \d+-byte footer can store: its fields are shared/, { ...RULES, maxColumns: 1_000_000 });
  });

  it('a schema stored once is accepted, names and all', () => {
    assert.deepEqual(validateArrowFile(sharedSchemaFile({ topLevel: 3, distinctNames: true, nameBytes: 10 }), RULES).columns, ['c0', 'c1', 'c2']);
  });
});
