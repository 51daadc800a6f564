// A small validator for the subset of JSON Schema the renderer's config, CLI options
// and HTTP bodies use. One checker for all three, so a field is described and
// defaulted in one place and every message has one shape:
//   Expected `limits.timeoutMs` to be an integer from 1 to 3600000, got `-1` (number)
//
// Why not ajv: loading and compiling it costs ~55 ms, more than a whole step run on
// the `renderer run` path; the subset below is all the project needs.

import { describeValue } from '../errors.js';

export type Schema =
  | { type: 'integer' | 'number'; minimum?: number; maximum?: number; default?: number; description?: string }
  | {
      type: 'string';
      minLength?: number;
      maxLength?: number;
      pattern?: string;
      enum?: readonly string[];
      default?: string;
      description?: string;
    }
  | { type: 'boolean'; default?: boolean; description?: string }
  | { type: 'null'; description?: string }
  | { type: 'any'; default?: unknown; description?: string }
  | { type: 'array'; items: Schema; minItems?: number; maxItems?: number; default?: readonly unknown[]; description?: string }
  | {
      type: 'object';
      properties: Readonly<Record<string, Schema>>;
      required?: readonly string[];
      /** false (the default here): unknown keys are errors. A schema: each value must match. */
      additionalProperties?: false | Schema;
      maxProperties?: number;
      default?: Readonly<Record<string, unknown>>;
      description?: string;
    }
  | { type: 'oneOf'; oneOf: readonly Schema[]; description: string; default?: unknown };

export class SchemaError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'SchemaError';
  }
}

/** Human wording of what a schema accepts, for messages. */
export function expectation(schema: Schema): string {
  if (schema.description) return schema.description;
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const noun = schema.type === 'integer' ? 'an integer' : 'a number';
      const { minimum: lo, maximum: hi } = schema;
      if (lo !== undefined && hi !== undefined) return `${noun} from ${lo} to ${hi}`;
      if (lo !== undefined) return lo === 1 && schema.type === 'integer' ? 'a positive integer' : `${noun} >= ${lo}`;
      if (hi !== undefined) return `${noun} <= ${hi}`;
      return noun;
    }
    case 'string':
      if (schema.enum) return `one of ${schema.enum.map((e) => `"${e}"`).join(', ')}`;
      if (schema.minLength) return 'a non-empty string';
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'null';
    case 'any':
      return 'any JSON value';
    case 'array':
      return `an array of ${expectation(schema.items).replace(/^an? /, '')}s`;
    case 'object':
      return 'an object';
    case 'oneOf':
      return 'one of several shapes';
  }
}

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key);

/**
 * Checks `value` against `schema`, fills defaults, and returns a fresh value built
 * only from own, known properties (so `__proto__` keys in JSON input never reach a
 * prototype). Throws SchemaError listing every problem.
 */
export function validate<T = unknown>(schema: Schema, value: unknown, path = ''): T {
  const problems: string[] = [];
  const out = check(schema, value, path, problems);
  if (problems.length) throw new SchemaError(problems);
  return out as T;
}

function fail(problems: string[], path: string, schema: Schema, value: unknown): undefined {
  const where = path === '' ? 'the value' : `\`${path}\``;
  problems.push(`Expected ${where} to be ${expectation(schema)}, got ${describeValue(value)}`);
  return undefined;
}

function check(schema: Schema, value: unknown, path: string, problems: string[]): unknown {
  switch (schema.type) {
    case 'any':
      return value;
    case 'null':
      return value === null ? null : fail(problems, path, schema, value);
    case 'boolean':
      return typeof value === 'boolean' ? value : fail(problems, path, schema, value);
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail(problems, path, schema, value);
      if (schema.type === 'integer' && !Number.isSafeInteger(value)) return fail(problems, path, schema, value);
      if (schema.minimum !== undefined && value < schema.minimum) return fail(problems, path, schema, value);
      if (schema.maximum !== undefined && value > schema.maximum) return fail(problems, path, schema, value);
      return value;
    }
    case 'string': {
      if (typeof value !== 'string') return fail(problems, path, schema, value);
      if (schema.minLength !== undefined && value.length < schema.minLength) return fail(problems, path, schema, value);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) return fail(problems, path, schema, value);
      if (schema.enum && !schema.enum.includes(value)) return fail(problems, path, schema, value);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value))
        return fail(problems, path, schema, value);
      return value;
    }
    case 'array': {
      if (!Array.isArray(value)) return fail(problems, path, schema, value);
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        problems.push(`Expected \`${path}\` to have at least ${schema.minItems} item(s), got ${value.length}`);
        return undefined;
      }
      if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        problems.push(`Expected \`${path}\` to have at most ${schema.maxItems} items, got ${value.length}`);
        return undefined;
      }
      return value.map((item, i) => check(schema.items, item, `${path}[${i}]`, problems));
    }
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(problems, path, schema, value);
      const input = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const keys = Object.keys(input);
      if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
        problems.push(`Expected \`${path}\` to have at most ${schema.maxProperties} keys, got ${keys.length}`);
        return undefined;
      }
      for (const key of keys) {
        const sub = path === '' ? key : `${path}.${key}`;
        const known = hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
        if (known) {
          const checked = check(known, input[key], sub, problems);
          if (checked !== undefined) defineOwn(out, key, checked);
        } else if (schema.additionalProperties) {
          defineOwn(out, key, check(schema.additionalProperties, input[key], sub, problems));
        } else {
          const allowed = Object.keys(schema.properties);
          problems.push(
            `Unknown field \`${sub}\`${allowed.length ? ` (allowed: ${allowed.map((k) => `\`${k}\``).join(', ')})` : ''}`,
          );
        }
      }
      for (const [key, sub] of Object.entries(schema.properties)) {
        if (hasOwn(out, key) || hasOwn(input, key)) continue;
        const subPath = path === '' ? key : `${path}.${key}`;
        if (schema.required?.includes(key)) problems.push(`Missing required field \`${subPath}\``);
        else if ('default' in sub && sub.default !== undefined) defineOwn(out, key, check(sub, clone(sub.default), subPath, problems));
      }
      return out;
    }
    case 'oneOf': {
      const matches: unknown[] = [];
      for (const option of schema.oneOf) {
        const optionProblems: string[] = [];
        const result = check(option, value, path, optionProblems);
        if (optionProblems.length === 0) matches.push(result);
      }
      if (matches.length === 1) return matches[0];
      return fail(problems, path, schema, value);
    }
  }
}

/** Defines an own data property even for the key "__proto__". */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const clone = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

/** Freezes a validated config so nothing can change it after start-up. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
