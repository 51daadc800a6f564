// renderer run STEP_FILE [--input IN.arrow] [--output OUT.arrow] [--params JSON]
//                        [--params-file FILE] [--timeout-ms N] [--memory-mib N] [--json]
//                        [--config FILE]
// Exit status: 0 ok, 1 step_error, 2 usage error (nothing started), 3 any other outcome.
import { accessSync, closeSync, constants, openSync, readSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { exitStatusFor, type RunResult } from '../run/outcome.js';
import { runStep } from '../run/run-step.js';
import { Runner } from '../run/runner.js';
import { limitFlags, parseFlags, parseOrReport, UsageError, writeLine } from './args.js';
import { escapeLine, escapeLines } from './terminal-text.js';

export const RUN_USAGE = `renderer run STEP_FILE [--input IN.arrow] [--output OUT.arrow] [--params JSON]
                      [--params-file FILE] [--timeout-ms N] [--memory-mib N] [--json] [--config FILE]`;

const ARROW_MAGIC = 'ARROW1';

export interface RunArgs {
  step: string;
  input: string | null;
  output: string | null;
  paramsJson: string;
  timeoutMs?: number;
  memoryMiB?: number;
  json: boolean;
  config?: string;
}

function readableFile(path: string, what: string): void {
  let st;
  try {
    st = statSync(path);
    accessSync(path, constants.R_OK);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new UsageError(`${what} ${path} ${reason}`);
  }
  if (!st.isFile()) throw new UsageError(`${what} ${path} is not a regular file`);
}

function checkArrowFile(path: string): void {
  readableFile(path, 'input file');
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(6);
    const n = readSync(fd, head, 0, 6, 0);
    if (n < 6 || head.toString('latin1') !== ARROW_MAGIC)
      throw new UsageError(`input file ${path} is not an Arrow IPC file (it must start with ARROW1; Arrow streams are not accepted)`);
  } finally {
    closeSync(fd);
  }
}

export function parseRunArgs(argv: string[]): RunArgs {
  const { values, positionals } = parseFlags(argv, {
    input: { type: 'string' },
    output: { type: 'string' },
    params: { type: 'string' },
    'params-file': { type: 'string' },
    'timeout-ms': { type: 'string' },
    'memory-mib': { type: 'string' },
    json: { type: 'boolean', default: false },
    config: { type: 'string' },
  });
  if (positionals.length !== 1)
    throw new UsageError(positionals.length === 0 ? 'missing STEP_FILE' : `expected one STEP_FILE, got ${positionals.length}: ${positionals.join(' ')}`);
  const step = positionals[0]!;
  readableFile(step, 'step file');
  if (values.input !== undefined) checkArrowFile(values.input);

  if (values.params !== undefined && values['params-file'] !== undefined)
    throw new UsageError('pass either --params or --params-file, not both');
  let paramsJson = '{}';
  let paramsSource = '--params';
  if (values['params-file'] !== undefined) {
    readableFile(values['params-file'], 'params file');
    paramsJson = readFileSync(values['params-file'], 'utf8');
    paramsSource = `--params-file ${values['params-file']}`;
  } else if (values.params !== undefined) paramsJson = values.params;
  try {
    JSON.parse(paramsJson);
  } catch (error) {
    throw new UsageError(`${paramsSource} is not valid JSON: ${(error as Error).message}`);
  }

  if (values.output !== undefined) {
    const dir = dirname(resolve(values.output));
    try {
      if (!statSync(dir).isDirectory()) throw new Error();
      accessSync(dir, constants.W_OK);
    } catch {
      throw new UsageError(`--output ${values.output}: directory ${dir} does not exist or is not writable`);
    }
    try {
      if (statSync(values.output).isDirectory()) throw new UsageError(`--output ${values.output} is a directory`);
    } catch (error) {
      if (error instanceof UsageError) throw error;
    }
  }
  const args: RunArgs = { step, input: values.input ?? null, output: values.output ?? null, paramsJson, json: values.json ?? false };
  Object.assign(args, limitFlags(values));
  if (values.config !== undefined) args.config = values.config;
  return args;
}

const mib = (bytes: number | null): string => (bytes === null ? 'n/a' : `${(bytes / 1048576).toFixed(1)} MiB`);

/** The result for a terminal. Everything the step controls is escaped (terminal-text.ts);
 * the first line is always the renderer's own verdict. */
export function humanSummary(result: RunResult): string {
  const lines: string[] = [];
  const cost = `${result.durationMs.toFixed(1)} ms, peak ${mib(result.peakMemoryBytes)}`;
  if (result.outcome === 'ok') {
    const table = result.output
      ? `${result.output.rows} rows × ${result.output.columns.length} columns (${result.output.columns.map(escapeLine).join(', ')})${result.output.path ? ` → ${escapeLine(result.output.path)}` : ''}`
      : 'no table';
    lines.push(`ok: ${table} [${cost}]`);
    // JSON.stringify escapes C0 controls but not DEL, C1 or bidi characters.
    if (result.json !== null) lines.push(`json: ${escapeLine(JSON.stringify(result.json))}`);
  } else {
    const status = result.signal ? `signal ${result.signal}` : result.exitCode !== null ? `exit ${result.exitCode}` : '';
    lines.push(`${result.outcome}: ${escapeLine(result.error ?? '')} [${[status, cost].filter(Boolean).join(', ')}]`);
    if (result.stack) lines.push(escapeLines(result.stack));
  }
  for (const error of result.errors) lines.push(`step error: ${escapeLine(error)}`);
  if (result.logs) lines.push(`--- logs${result.logsDroppedBytes ? ` (last part; ${result.logsDroppedBytes} bytes dropped)` : ''} ---`, escapeLines(result.logs.trimEnd()));
  return lines.join('\n');
}

export async function runCommand(argv: string[]): Promise<number> {
  const parsed = parseOrReport('run', () => parseRunArgs(argv));
  if (!parsed) return 2;
  const { args, config } = parsed;
  // No worker for one output: this process has no event loop to keep free (validation-pool.ts).
  const runner = await Runner.create(config, { warn: (message) => writeLine(process.stderr, `renderer: ${message}`), validationThreads: 0 });
  const controller = new AbortController();
  const cancel = (): void => controller.abort();
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  try {
    const result = await runStep(runner, {
      step: { path: args.step },
      input: args.input,
      output: args.output,
      paramsJson: args.paramsJson,
      limits: runner.limits({ timeoutMs: args.timeoutMs, memoryMiB: args.memoryMiB }),
      signal: controller.signal,
    });
    writeLine(process.stdout, args.json ? JSON.stringify(result) : humanSummary(result));
    return exitStatusFor(result.outcome);
  } finally {
    await runner.settle();
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
}
