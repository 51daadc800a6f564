// npm run bench [-- --quick] [-- --only NAME]: runs the benchmarks and prints their
// tables. The README records the latest figures by hand, with the date.
import { cpus } from 'node:os';
import { bigTables } from './big-tables.js';
import { coldStart } from './cold-start.js';
import { serveBench } from './serve.js';

const BENCHMARKS: Record<string, (quick: boolean) => Promise<string>> = {
  'cold-start': coldStart,
  'big-tables': bigTables,
  serve: serveBench,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
console.log(`# renderer benchmarks, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})\n`);
for (const [name, bench] of Object.entries(BENCHMARKS)) {
  if (only && name !== only) continue;
  console.log(await bench(quick));
  console.log();
}
