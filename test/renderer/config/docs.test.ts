// Every field of the config schema is documented in docs/config.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { CONFIG_SCHEMA } from '../../../renderer/config/config-schema.js';
import type { Schema } from '../../../renderer/config/schema.js';
import { PACKAGE_ROOT } from '../../../renderer/paths.js';

function fields(schema: Schema, into: string[] = []): string[] {
  if (schema.type === 'object') for (const [key, sub] of Object.entries(schema.properties)) into.push(key), fields(sub, into);
  if (schema.type === 'array') fields(schema.items, into);
  return into;
}

it('docs/config.md names every config field', () => {
  const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'config.md'), 'utf8');
  const missing = [...new Set(fields(CONFIG_SCHEMA))].filter((field) => !doc.includes(`\`${field}\``) && !new RegExp(`\`[\\w.]*${field}\\b`).test(doc));
  assert.deepEqual(missing, []);
});
