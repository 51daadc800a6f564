// Helpers shared by the subcommands' flag parsing. Every bad flag becomes a UsageError
// with one line that names the flag, the value and what was expected; the CLI prints
// it and exits 2 before anything is started.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MEMORY_MIB_SCHEMA, TIMEOUT_MS_SCHEMA, type Config } from '../config/config-schema.js';
import { loadConfig } from '../config/load.js';
import { describeValue, isRendererError, RendererError } from '../errors.js';

/** A bad flag or argument: the CLI prints it on one line and exits 2. */
export class UsageError extends RendererError {
  constructor(message: string) {
    super('RENDERER_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

export function parseFlags<const T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // node's messages are good; keep them on one line.
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' ').trim());
  }
}

export function integerFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new UsageError(`Expected \`--${name}\` to be an integer from ${min} to ${max}, got ${describeValue(value)}`);
  return Number(value);
}

/** The per-run limit flags shared by `run` and `sandbox`, checked against the config's ranges. */
export function limitFlags(values: { 'timeout-ms'?: string | undefined; 'memory-mib'?: string | undefined }): { timeoutMs?: number; memoryMiB?: number } {
  const out: { timeoutMs?: number; memoryMiB?: number } = {};
  const timeoutMs = integerFlag('timeout-ms', values['timeout-ms'], TIMEOUT_MS_SCHEMA.minimum, TIMEOUT_MS_SCHEMA.maximum);
  const memoryMiB = integerFlag('memory-mib', values['memory-mib'], MEMORY_MIB_SCHEMA.minimum, MEMORY_MIB_SCHEMA.maximum);
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  if (memoryMiB !== undefined) out.memoryMiB = memoryMiB;
  return out;
}

export const writeLine = (stream: NodeJS.WriteStream, text: string): void => void stream.write(`${text}\n`);

/**
 * Runs `work` (parsing flags, loading config); on a usage or config error prints one
 * line ("renderer NAME: message") and returns null: the caller exits 2, having started
 * nothing.
 */
export function reportUsage<T>(name: string, work: () => T): T | null {
  try {
    return work();
  } catch (error) {
    if (isRendererError(error)) {
      writeLine(process.stderr, `renderer ${name}: ${error.message}`);
      return null;
    }
    throw error;
  }
}

/** Parses a subcommand's flags and loads the config they name, through reportUsage. */
export function parseOrReport<A extends { config?: string }>(
  name: string,
  parse: () => A,
): { args: A; config: Readonly<Config> } | null {
  return reportUsage(name, () => {
    const args = parse();
    return { args, config: loadConfig(args.config) };
  });
}
