#!/usr/bin/env node
// Writes examples/data/sample.arrow: a small table of sales the example steps work on.
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const table = tableFromArrays({
  region: ['north', 'south', 'east', 'west', 'north', 'south'],
  units: Int32Array.of(12, 7, 3, 25, 9, 14),
  price: Float64Array.of(2.5, 4.0, 10.0, 1.25, 2.5, 4.0),
});
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'data', 'sample.arrow');
writeFileSync(out, tableToIPC(table, 'file'));
console.log(`wrote ${out}: ${table.numRows} rows`);
