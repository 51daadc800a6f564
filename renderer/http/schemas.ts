// Request bodies and queries of the HTTP API (README, "HTTP API"), checked with the
// same validator as the config so every message names the field, value and expectation.
import { MEMORY_MIB_SCHEMA, TIMEOUT_MS_SCHEMA } from '../config/config-schema.js';
import type { Schema } from '../config/schema.js';
import { STEP_NAME } from '../daemon/references.js';
import { OUTCOMES } from '../run/outcome.js';

const MIB = 1024 * 1024;
// Per-request limits default to the config's, so these carry no default of their own.
const TIMEOUT_MS: Schema = { type: 'integer', minimum: TIMEOUT_MS_SCHEMA.minimum, maximum: TIMEOUT_MS_SCHEMA.maximum };
const MEMORY_MIB: Schema = { type: 'integer', minimum: MEMORY_MIB_SCHEMA.minimum, maximum: MEMORY_MIB_SCHEMA.maximum };

export const STEP_REF: Schema = {
  type: 'oneOf',
  description: '{"name": "<a step in the steps directory>"} or {"code": "<ES module source>"}',
  oneOf: [
    { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: STEP_NAME.source } } },
    { type: 'object', required: ['code'], properties: { code: { type: 'string', minLength: 1, maxLength: 4 * MIB } } },
  ],
};

export const INPUT_REF: Schema = {
  type: 'oneOf',
  description: '{"tableId": "<id from POST /v1/tables>"}, {"path": "<relative/to/data-root.arrow>"} or null',
  default: null,
  oneOf: [
    { type: 'object', required: ['tableId'], properties: { tableId: { type: 'string', minLength: 1, maxLength: 64 } } },
    { type: 'object', required: ['path'], properties: { path: { type: 'string', minLength: 1, maxLength: 4096 } } },
    { type: 'null' },
  ],
};

const STEP_FIELDS = {
  step: STEP_REF,
  params: { type: 'any', default: {} },
  timeoutMs: TIMEOUT_MS,
  memoryMiB: MEMORY_MIB,
} satisfies Record<string, Schema>;

/** Where to POST the finished run or workflow (http/callbacks.ts); operator-allowed prefixes only. */
const CALLBACK_URL: Schema = { type: 'string', minLength: 1, maxLength: 2048, description: 'an http(s) URL under one of the operator\'s callbacks.allowedUrlPrefixes' };

export const RUN_BODY: Schema = {
  type: 'object',
  required: ['step'],
  properties: { ...STEP_FIELDS, input: INPUT_REF, callbackUrl: CALLBACK_URL },
};

export const WORKFLOW_BODY: Schema = {
  type: 'object',
  required: ['steps'],
  properties: {
    steps: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'object', required: ['step'], properties: STEP_FIELDS } },
    input: INPUT_REF,
    callbackUrl: CALLBACK_URL,
  },
};

export const RUN_QUERY: Schema = {
  type: 'object',
  properties: { wait: { type: 'string', enum: ['true', 'false'], default: 'true' } },
};

/** Long-polling: answer when the run or workflow ends, or after this many ms (at most a minute). */
export const MAX_WAIT_MS = 60_000;
export const GET_QUERY: Schema = {
  type: 'object',
  properties: { waitMs: { type: 'string', pattern: '^([0-9]{1,4}|[1-5][0-9]{4}|60000)$', description: `a number of milliseconds, 0 to ${MAX_WAIT_MS}`, default: '0' } },
};

export const LIST_QUERY: Schema = {
  type: 'object',
  properties: {
    limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$', description: 'a number of runs, 1 to 1000', default: '50' },
    cursor: { type: 'string', minLength: 1, maxLength: 64, description: "the previous page's nextCursor" },
    state: { type: 'string', enum: ['queued', 'running', 'done', 'canceled'] },
    outcome: { type: 'string', enum: OUTCOMES },
    step: { type: 'string', minLength: 1, maxLength: 200 },
    workflowId: { type: 'string', minLength: 1, maxLength: 64 },
  },
};
