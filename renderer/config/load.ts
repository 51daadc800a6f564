// Loading the configuration: a JSON file (optional) checked against CONFIG_SCHEMA,
// defaults filled in, then frozen. Problems name the file, the field and, where the
// field is in the file, its line.
import { readFileSync } from 'node:fs';
import { RendererError } from '../errors.js';
import { CONFIG_SCHEMA, type Config, type Limits, type LimitCeilings } from './config-schema.js';
import { deepFreeze, SchemaError, validate } from './schema.js';
import { lineOf } from './json-lines.js';

const sources = new WeakMap<object, { name: string; text?: string | undefined }>();

/** "config FILE line N" for a field (`schedules[1].cron`), or just "config FILE". */
export function whereInConfig(config: object, path: string): string {
  const source = sources.get(config);
  if (!source) return 'config';
  const line = source.text ? lineOf(source.text, path) : null;
  return line ? `${source.name} line ${line}` : source.name;
}

/** Fields that once existed: refused with what replaced them, never silently ignored. */
function checkRetired(config: Config): void {
  for (const field of ['stepUid', 'stepGid'] as const)
    if (config.sandbox[field] !== undefined)
      throw new SchemaError([
        `\`sandbox.${field}\` is no longer used: every sandbox now runs as a uid of its own from \`sandbox.uidRange\` (first ${config.sandbox.uidRange.first}, count ${config.sandbox.uidRange.count}); one shared uid made RLIMIT_NPROC a host-wide budget. Remove \`${field}\` and set \`sandbox.uidRange.first\` to a free block of uids (renderer doctor checks it)`,
      ]);
}

/**
 * How far a request may raise `timeoutMs` and `memoryMiB`: `limits.max.*` where the
 * operator set it, else the configured limit itself (a caller may only lower it).
 * Without this, any API caller could ask for a day of CPU and a TiB of memory.
 */
export function limitCeilings(limits: Limits & { max: LimitCeilings }): Required<LimitCeilings> {
  return { timeoutMs: limits.max.timeoutMs ?? limits.timeoutMs, memoryMiB: limits.max.memoryMiB ?? limits.memoryMiB };
}

/** The problems with per-run limits above the ceilings, named like the config's fields. */
export function limitsAboveCeilings(requested: LimitCeilings, ceilings: Required<LimitCeilings>): string[] {
  const problems: string[] = [];
  for (const field of ['timeoutMs', 'memoryMiB'] as const) {
    const value = requested[field];
    if (value !== undefined && value > ceilings[field])
      problems.push(`\`${field}\` ${value} is above this renderer's ceiling of ${ceilings[field]} (the operator's \`limits.max.${field}\`)`);
  }
  return problems;
}

/** Ceilings below the limits they bound, and schedules asking for more than them. */
function checkCeilings(config: Config): void {
  const problems: string[] = [];
  for (const field of ['timeoutMs', 'memoryMiB'] as const) {
    const max = config.limits.max[field];
    if (max !== undefined && max < config.limits[field])
      problems.push(`\`limits.max.${field}\` ${max} is below \`limits.${field}\` ${config.limits[field]}: a ceiling must be at least the default it bounds`);
  }
  const ceilings = limitCeilings(config.limits);
  config.schedules.forEach((schedule, s) =>
    schedule.workflow.steps.forEach((step, i) => {
      for (const problem of limitsAboveCeilings(step, ceilings))
        problems.push(problem.replace(/^`(\w+)`/, `\`schedules[${s}].workflow.steps[${i}].$1\``) + '; raise `limits.max` or lower the step\'s');
    }),
  );
  if (problems.length > 0) throw new SchemaError(problems);
}

/** Callbacks are signed, so a renderer that allows them must have a secret; each prefix must be a URL. */
function checkCallbacks(config: Config): void {
  const problems: string[] = [];
  const { allowedUrlPrefixes, secret } = config.callbacks;
  if (allowedUrlPrefixes.length > 0 && secret === undefined)
    problems.push('Expected `callbacks.secret` (or RENDERER_CALLBACK_SECRET) to be set when `callbacks.allowedUrlPrefixes` is: every callback is signed with it');
  allowedUrlPrefixes.forEach((prefix, i) => {
    if (!URL.canParse(prefix)) problems.push(`Expected \`callbacks.allowedUrlPrefixes[${i}]\` to be a URL, got ${JSON.stringify(prefix)}`);
  });
  if (problems.length > 0) throw new SchemaError(problems);
}

/** Validates `raw` (already parsed) as a config; `source` names it in messages. */
export function configFrom(raw: unknown, source = 'config', text?: string): Readonly<Config> {
  try {
    const config = deepFreeze(validate<Config>(CONFIG_SCHEMA, raw));
    checkRetired(config);
    checkCeilings(config);
    checkCallbacks(config);
    sources.set(config, { name: source, text });
    return config;
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    const problems = error.problems.map((problem) => {
      const field = /`([^`]+)`/.exec(problem)?.[1];
      const line = text && field ? lineOf(text, field) : null;
      return line ? `${source} line ${line}: ${problem}` : `${source}: ${problem}`;
    });
    throw new RendererError('RENDERER_ERR_CONFIG_INVALID', problems.join('; '));
  }
}

export function loadConfig(file?: string, overrides: Record<string, unknown> = {}): Readonly<Config> {
  let raw: Record<string, unknown> = {};
  let text: string | undefined;
  if (file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new RendererError('RENDERER_ERR_CONFIG_INVALID', `cannot read config file ${file}: ${(error as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new RendererError('RENDERER_ERR_CONFIG_INVALID', `config file ${file} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new RendererError('RENDERER_ERR_CONFIG_INVALID', `config file ${file} must hold a JSON object`);
  }
  return configFrom(mergeDeep(raw, overrides), file ?? 'config', text);
}

/** Overrides (from flags) win over the file, key by key for nested objects. */
export function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? mergeDeep(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
