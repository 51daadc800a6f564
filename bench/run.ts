// npm run bench [-- --quick] [-- --only NAME] [-- --levels 1,2,4 (concurrency)]: runs the
// benchmarks and prints their tables. The README records the latest figures by hand,
// with the date.
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { bigTables } from './big-tables.js';
import { coldStart } from './cold-start.js';
import { concurrency } from './concurrency.js';
import { serveBench } from './serve.js';
import { validationBench } from './validation.js';

interface BenchOptions {
  /** Concurrency levels, e.g. `1,2,4`. */
  levels?: string;
}

const BENCHMARKS: Record<string, (quick: boolean, options: BenchOptions) => Promise<string>> = {
  'cold-start': coldStart,
  'big-tables': bigTables,
  serve: serveBench,
  concurrency,
  validation: validationBench,
};

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, levels: { type: 'string' } } });
const { quick, only, ...options } = values;
if (only !== undefined && !(only in BENCHMARKS)) throw new Error(`Expected \`--only\` to be one of ${Object.keys(BENCHMARKS).join(', ')}, got \`${only}\``);
console.log(`# renderer benchmarks, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})\n`);
for (const [name, bench] of Object.entries(BENCHMARKS)) {
  if (only && name !== only) continue;
  console.log(await bench(quick, options));
  console.log();
}
