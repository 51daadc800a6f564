// Validation of untrusted Arrow files (issue 13): the cost per MB of the crafted worst
// cases, each next to a plain table of the same size timed in the same run
// (interleaved), with the ratio (target: at most 2); and the daemon's /healthz latency
// while worst-case uploads are being validated (target: 50 ms), next to an idle daemon.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidTable, validateArrowFile } from '../renderer/arrow/validate.js';
import { configFrom } from '../renderer/config/load.js';
import * as files from '../test/arrow-files.js';
import { startDaemon } from './daemon.js';
import { median, percentile, table } from './stats.js';

const RULES = configFrom({}).validation;
const MB = 1e6;

function verdict(bytes: Uint8Array): string {
  try {
    validateArrowFile(bytes, RULES);
    return 'accepted';
  } catch (error) {
    if (error instanceof InvalidTable) return 'refused';
    throw error;
  }
}

function timeOnce(bytes: Uint8Array): number {
  const started = performance.now();
  verdict(bytes);
  return performance.now() - started;
}

/**
 * The largest `n` for which make(n) is still accepted: the most work the per-byte rule
 * lets a file of that size ask for. make(n) pads itself to about the same size.
 */
function atThreshold(make: (n: number) => Uint8Array): { n: number; bytes: Uint8Array } {
  let low = 0;
  let best = make(0);
  let high = 64;
  for (let bytes = make(high); verdict(bytes) === 'accepted'; bytes = make(high)) {
    low = high;
    best = bytes;
    high *= 2;
  }
  while (high - low > Math.max(1, low / 200)) {
    const mid = Math.floor((low + high) / 2);
    const bytes = make(mid);
    if (verdict(bytes) === 'accepted') {
      low = mid;
      best = bytes;
    } else high = mid;
  }
  return { n: low, bytes: best };
}

interface Case {
  name: string;
  bytes: Uint8Array;
}

function worstCases(size: number): Case[] {
  const cases: Case[] = [];
  // Empty batches after one batch of zeros that fills the file: per-message overhead.
  for (const columns of [1, 100]) {
    const perBatch = files.tinyBatches(1, columns, 0).length - files.tinyBatches(0, columns, 0).length;
    const make = (n: number): Uint8Array => files.tinyBatches(n, columns, Math.max(0, Math.floor((size - n * perBatch) / (8 * columns))));
    const { n, bytes } = atThreshold(make);
    cases.push({ name: `${n} empty batches of ${columns} column${columns > 1 ? 's' : ''} (the most the rule allows)`, bytes });
  }
  {
    const perDelta = files.deltaDictionaryFile(1).length - files.deltaDictionaryFile(0).length;
    const make = (n: number): Uint8Array => files.deltaDictionaryFile(n, Math.max(0, size - n * perDelta));
    const { n, bytes } = atThreshold(make);
    cases.push({ name: `${n} real delta dictionaries, a batch each (the most the rule allows)`, bytes });
  }
  return cases;
}

const ATTACKS: Case[] = [
  { name: 'issue 13: one delta dictionary listed 2,700 times', bytes: files.repeatedDelta(2700) },
  { name: 'issue 13: one batch of 200 columns listed 1,200 times', bytes: files.aliasedBatches(200, 1200) },
  { name: '1,000 string columns over one 1 MB buffer', bytes: files.sharedBuffers(1000, 1_000_000) },
  { name: '2,000 column names that are one 64 KB string', bytes: files.sharedSchemaFile({ topLevel: 2000, nameBytes: 65_536 }) },
  { name: 'a schema of 4^6 fields sharing their tables', bytes: files.sharedSchemaFile({ topLevel: 4, fanOut: 4, depth: 6, distinctNames: true }) },
];

/** Uploads the files (argv: url, milliseconds, paths...) round and round; prints what it got. */
const UPLOADER = `
import { readFileSync } from 'node:fs';
const [url, ms, ...paths] = process.argv.slice(1);
const bodies = paths.map((p) => readFileSync(p));
const statuses = {};
let uploads = 0;
for (const end = Date.now() + Number(ms); Date.now() < end; )
  for (const body of bodies) {
    const response = await fetch(url + '/v1/tables', { method: 'POST', headers: { 'content-type': 'application/vnd.apache.arrow.file' }, body });
    await response.arrayBuffer();
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    uploads++;
  }
process.stdout.write(JSON.stringify({ uploads, statuses }));
`;

async function healthzLatency(url: string, until: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  while (!until()) {
    const started = performance.now();
    const response = await fetch(`${url}/healthz`);
    await response.arrayBuffer();
    latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return latencies;
}

export async function validationBench(quick: boolean): Promise<string> {
  const sizes = quick ? [64 * MB] : [16 * MB, 64 * MB];
  const rounds = quick ? 5 : 15;
  const cases: Case[] = [...sizes.flatMap(worstCases), ...ATTACKS];
  const plains = new Map<Case, Uint8Array>(cases.map((c) => [c, files.plainTable(c.bytes.length)]));
  // Warm-up: the JIT, for both sides.
  for (const c of cases) {
    timeOnce(c.bytes);
    timeOnce(plains.get(c)!);
  }
  const times = new Map<Case, { mine: number[]; plain: number[] }>(cases.map((c) => [c, { mine: [], plain: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const t = times.get(c)!;
      const pair: Array<[Uint8Array, number[]]> = [[c.bytes, t.mine], [plains.get(c)!, t.plain]];
      for (const [bytes, out] of round % 2 ? pair.reverse() : pair) out.push(timeOnce(bytes));
    }
  }
  const rows = cases.map((c) => {
    const t = times.get(c)!;
    const mb = c.bytes.length / MB;
    const mine = median(t.mine) / mb;
    const plain = median(t.plain) / (plains.get(c)!.length / MB);
    return { case: c.name, 'size MB': mb, verdict: verdict(c.bytes), ms: median(t.mine), 'ms/MB': mine, 'plain ms/MB': plain, ratio: mine / plain };
  });

  // The daemon: /healthz while files are uploaded one after another by another process
  // (so that this one only measures): the issue's attacks, the large worst cases, and,
  // as the control, plain tables of the same sizes (what uploading itself costs).
  const daemon = await startDaemon('validation');
  const health: Array<Record<string, string | number>> = [];
  try {
    const write = (name: string, bytes: Uint8Array): string => {
      const path = join(daemon.dir, name);
      writeFileSync(path, bytes);
      return path;
    };
    const large = cases.filter((c) => !ATTACKS.includes(c));
    const phases: Array<[string, string[]]> = [
      ['the issue\'s attacks and the other refused files', ATTACKS.map((c, i) => write(`attack-${i}.arrow`, c.bytes))],
      [`the ${large.length} worst cases the rule accepts`, large.map((c, i) => write(`worst-${i}.arrow`, c.bytes))],
      ['plain tables of the same sizes (control)', large.map((c, i) => write(`plain-${i}.arrow`, plains.get(c)!))],
    ];
    const seconds = quick ? 4 : 10;
    const line = (what: string, xs: number[]): Record<string, string | number> => ({ '/healthz': what, requests: xs.length, 'p50 ms': median(xs), 'p99 ms': percentile(xs, 99), 'max ms': Math.max(...xs) });
    const idleEnd = Date.now() + seconds * 1000;
    health.push(line('idle daemon', await healthzLatency(daemon.url, () => Date.now() > idleEnd)));
    for (const [what, paths] of phases) {
      const uploader = spawn(process.execPath, ['--input-type=module', '-e', UPLOADER, daemon.url, String(seconds * 1000), ...paths], { stdio: ['ignore', 'pipe', 'inherit'] });
      let report = '';
      uploader.stdout.on('data', (chunk: Buffer) => (report += chunk));
      let uploading = true;
      const finished = new Promise<void>((resolve) => uploader.on('exit', () => resolve(void (uploading = false))));
      const latencies = await healthzLatency(daemon.url, () => !uploading);
      await finished;
      const { uploads, statuses } = JSON.parse(report) as { uploads: number; statuses: Record<string, number> };
      health.push(line(`uploading ${what}: ${uploads} (${Object.entries(statuses).map(([status, n]) => `${n}x ${status}`).join(', ')})`, latencies));
    }
  } finally {
    await daemon.stop();
  }

  return [
    `## validation: cost per MB of crafted worst cases next to a plain table of the same size (medians of ${rounds}, interleaved)`,
    table(rows),
    'plain: ints, floats, 10-byte strings and dictionary-encoded strings in batches of 64 Ki rows (apache-arrow writer).',
    'ms/MB: validateArrowFile on the bytes in memory, in this process (the daemon runs the same code in a worker thread).',
    'Small files (the issue\'s attacks) are dominated by fixed costs on both sides; the rule bounds per-byte cost for large ones.',
    'Nested types (deep nesting) cannot be allowed: validation.allowedTypes has only flat types; shared schema tables are refused above.',
    '',
    `## /healthz of a renderer serve daemon while those files are uploaded back to back (target: 50 ms)`,
    table(health),
  ].join('\n');
}
