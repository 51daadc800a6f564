#!/usr/bin/env node
// scripts/with-neighbour.mjs -- COMMAND [ARGS...]
//
// Runs COMMAND (npm test runs the suite this way) while a second, independent renderer
// daemon works beside it: its own state directory, a warm pool, and a trickle of runs
// (two a second, ok and failing ones). Real hosts run several renderers at once; this
// keeps the suite honest about it: its leak checks, cleanups and classifications must
// hold with another renderer's sandboxes alive, and the neighbour's runs must all end
// as they should while the suite's fork bombs, OOMs and kill -9s happen beside them.
// Exit status: COMMAND's, or 1 if the neighbour died or misclassified a run.
// RENDERER_TEST_NEIGHBOUR=0 runs COMMAND alone.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const command = process.argv.slice(process.argv.indexOf('--') + 1);
if (!process.argv.includes('--') || command.length === 0) {
  console.error('usage: scripts/with-neighbour.mjs -- COMMAND [ARGS...]');
  process.exit(2);
}

const runCommand = () =>
  new Promise((resolve) => {
    const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });

if (process.env.RENDERER_TEST_NEIGHBOUR === '0' || process.getuid?.() !== 0) {
  if (process.getuid?.() !== 0) console.error('with-neighbour: not root, so no neighbour renderer (the sandbox tests skip too)');
  process.exit(await runCommand());
}

const dir = mkdtempSync('/tmp/renderer-neighbour-');
chmodSync(dir, 0o755);
const config = join(dir, 'config.json');
writeFileSync(config, JSON.stringify({
  stateDir: join(dir, 'state'),
  stepsDir: join(root, 'examples', 'steps'),
  dataRoot: join(root, 'examples', 'data'),
  server: { port: 0 },
  pool: { size: 2 },
  log: { level: 'info' },
}));
const daemon = spawn(process.execPath, [join(root, 'bin', 'renderer.js'), 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
let log = '';
// Only the last 64 KiB: a line per run for the whole suite would grow without bound.
const keep = (chunk) => (log = (log + chunk).slice(-65536));
daemon.stdout.on('data', keep);
daemon.stderr.on('data', keep);
let daemonExited = false;
daemon.on('exit', () => (daemonExited = true));

async function address() {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !daemonExited) {
    const found = /"renderer serving".*?"address":"(http:\/\/[^"]+)"|"address":"(http:\/\/[^"]+)".*?"renderer serving"/.exec(log);
    if (found) return found[1] ?? found[2];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}

const url = await address();
if (!url) {
  console.error(`with-neighbour: the neighbour renderer did not start:\n${log}`);
  daemon.kill('SIGKILL');
  process.exit(1);
}

const RUNS = [
  { body: { step: { name: 'example-sum' }, input: { path: 'sample.arrow' } }, expect: 'ok' },
  { body: { step: { code: 'export function render() { throw new Error("neighbour"); }' } }, expect: 'step_error' },
  { body: { step: { code: 'export async function render() { await new Promise((r) => setTimeout(r, 300)); return { json: 1 }; }' } }, expect: 'ok' },
];
const tally = { runs: 0, asExpected: 0, wrong: [] };
let stopping = false;
const trickle = (async () => {
  for (let i = 0; !stopping; i++) {
    const { body, expect } = RUNS[i % RUNS.length];
    try {
      const response = await fetch(`${url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const result = await response.json();
      tally.runs++;
      if (result.outcome === expect) tally.asExpected++;
      else tally.wrong.push(`${expect} expected, got ${result.outcome ?? response.status}: ${result.error?.message ?? result.error ?? ''}`);
    } catch (error) {
      if (!stopping) tally.wrong.push(`request failed: ${error.message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
})();

const status = await runCommand();
stopping = true;
await trickle;
const died = daemonExited;
daemon.kill('SIGTERM');
await new Promise((resolve) => (daemonExited ? resolve() : daemon.once('exit', resolve)));
rmSync(dir, { recursive: true, force: true });
console.log(`with-neighbour: the neighbour renderer ran ${tally.runs} runs beside the command, ${tally.asExpected} as expected${tally.wrong.length ? `; NOT as expected: ${tally.wrong.slice(0, 5).join(' | ')}` : ''}${died ? '; it DIED during the command' : ''}`);
process.exit(status !== 0 ? status : died || tally.wrong.length ? 1 : 0);
