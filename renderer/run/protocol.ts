// The renderer's end of the result pipe. Whatever arrives is data from an untrusted
// process (the pickle-RCE lesson): every frame is bounded on its 4-byte length before a
// byte of it is buffered, decoded by generated Thrift code that cannot run anything,
// and then every field is checked. Any deviation is a reason for `invalid_output`.
import type { Readable } from 'node:stream';
import { decodePayload, frameReceiver, types } from '../../thrift/messages.js';

/** JSON nested deeper than this is refused: re-serialising it would recurse that deep. */
export const MAX_JSON_DEPTH = 128;
const MAX_ERRORS = 1000;

export interface ChildResult {
  status: 'ok' | 'step_error' | 'output_too_large';
  error: { message: string; stack: string | null } | null;
  wroteOutput: boolean;
  json: unknown;
  errors: string[];
}

/** The deepest nesting of arrays/objects in JSON text, without parsing it. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** Checks a decoded StepResult field by field; throws with what is wrong. */
export function checkResult(message: types.StepResult, runId: string): ChildResult {
  if (message.runId !== runId) throw new Error(`result is for run ${JSON.stringify(message.runId)}, not this run`);
  const statuses: Record<number, ChildResult['status']> = {
    [types.StepStatus.OK]: 'ok',
    [types.StepStatus.STEP_ERROR]: 'step_error',
    [types.StepStatus.OUTPUT_TOO_LARGE]: 'output_too_large',
  };
  const status = statuses[message.status];
  if (!status) throw new Error(`result status ${String(message.status)} is not OK, STEP_ERROR or OUTPUT_TOO_LARGE`);
  if (typeof message.wroteOutput !== 'boolean') throw new Error('result lacks wroteOutput');
  const step_error = message.status === types.StepStatus.STEP_ERROR;
  let error: ChildResult['error'] = null;
  if (step_error) {
    if (!message.error || !isString(message.error.message)) throw new Error('step_error result lacks an error message');
    if (message.error.stack !== null && message.error.stack !== undefined && !isString(message.error.stack))
      throw new Error('error stack is not a string');
    error = { message: message.error.message, stack: message.error.stack ?? null };
  } else if (message.error) throw new Error(`${status} result carries an error`);
  if (status !== 'ok' && message.wroteOutput) throw new Error(`${status} result claims an output table`);

  let json: unknown = null;
  if (message.json !== null && message.json !== undefined) {
    if (!isString(message.json)) throw new Error('json is not a string');
    if (jsonDepth(message.json) > MAX_JSON_DEPTH) throw new Error(`json nests deeper than ${MAX_JSON_DEPTH} levels`);
    try {
      // JSON.parse creates plain data; a "__proto__" key becomes an own property, never
      // a prototype, and the renderer never merges step JSON into its own objects.
      json = JSON.parse(message.json);
    } catch (e) {
      throw new Error(`json is not valid JSON: ${(e as Error).message}`);
    }
  }
  const errors = message.errors ?? [];
  if (!Array.isArray(errors) || !errors.every(isString)) throw new Error('errors is not a list of strings');
  if (errors.length > MAX_ERRORS) throw new Error(`errors has ${errors.length} entries; at most ${MAX_ERRORS}`);
  return { status, error, wroteOutput: message.wroteOutput, json, errors };
}

/**
 * Reads the child's messages: first Ready, then one StepResult, then nothing.
 * `problem` is set (once) on the first violation; `onProblem` lets the caller kill the
 * run at once instead of letting a flooding child fill its time.
 */
export class ResultChannel {
  readonly ready: Promise<void>;
  readonly closed: Promise<void>;
  result: types.StepResult | null = null;
  problem: string | null = null;
  private frames = 0;
  private bytes = 0;
  private consumed = 0;

  constructor(stream: Readable, maxResultBytes: number, onProblem: (problem: string) => void) {
    let markReady!: () => void;
    let markNotReady!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      markNotReady = reject;
    });
    this.ready.catch(() => undefined);
    const flag = (problem: string): void => {
      if (this.problem) return;
      this.problem = problem;
      markNotReady(new Error(problem));
      onProblem(problem);
    };
    // Two frames of at most maxResultBytes each, plus their length prefixes.
    const maxTotal = 2 * (maxResultBytes + 4);
    const receive = frameReceiver(
      maxResultBytes,
      (payload) => {
        this.frames++;
        this.consumed += 4 + payload.length;
        let message: types.ChildMessage;
        try {
          message = decodePayload(types.ChildMessage, payload);
        } catch (error) {
          return flag(`result message ${this.frames} is malformed: ${(error as Error).message}`);
        }
        const kinds = [message.ready, message.result].filter((m) => m !== null && m !== undefined).length;
        if (kinds !== 1) return flag(`result message ${this.frames} is not exactly one of ready/result`);
        if (this.frames === 1) {
          if (!message.ready || message.ready.protocolVersion !== types.PROTOCOL_VERSION)
            return flag('the child did not start with a ready message of protocol version 1');
          return markReady();
        }
        if (this.frames === 2 && message.result) {
          this.result = message.result;
          return;
        }
        flag(this.frames === 2 ? 'second message is not a result' : 'the child sent more than one result');
      },
      (error) => flag(`result message exceeds ${maxResultBytes} bytes or is framed wrongly: ${error.message}`),
    );
    this.closed = new Promise((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        this.bytes += chunk.length;
        receive(chunk); // first: an oversized frame is named as such
        if (this.bytes > maxTotal) flag(`the child wrote more than ${maxTotal} bytes of result messages`);
      });
      stream.on('error', () => resolve());
      stream.on('close', () => {
        if (this.bytes > this.consumed && this.bytes <= maxTotal)
          flag(`the result pipe closed in the middle of a message (${this.bytes - this.consumed} byte(s) left over)`);
        if (this.frames === 0) markNotReady(new Error('the child closed its result pipe before it was ready'));
        resolve();
      });
    });
  }
}
