// Helpers shared by the subcommands' flag parsing. Every bad flag becomes a UsageError
// with one line that names the flag, the value and what was expected; the CLI prints
// it and exits 2 before anything is started.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { describeValue } from '../errors.js';

export class UsageError extends Error {}

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

export const writeLine = (stream: NodeJS.WriteStream, text: string): void => void stream.write(`${text}\n`);
