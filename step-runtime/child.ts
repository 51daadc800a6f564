// The child side of one run: load, lock down, say ready, take the one request, run the
// user's render(), hand back the result, exit. It runs inside the sandbox; the renderer
// trusts none of what it sends (renderer/run/protocol.ts validates everything).
import type * as Arrow from 'apache-arrow';
import { randomFill } from 'node:crypto';
import vm from 'node:vm';
import { decodePayload, encodeFrame, types } from '../thrift/messages.js';
import { stage2Bytes } from '../renderer/sandbox/seccomp/policy.js';
import { readAllSync, writeAllSync } from './io.js';
import { loadRuntimeNative } from './native.js';
import { interpretReturn, StepContractError, writeTableFile } from './step-output.js';
import { quietRuntimeWarnings } from './warnings.js';

const REQUEST_FD = 0;
const RESULT_FD = 3;
const MAX_REQUEST_BYTES = 80 * 1024 * 1024;

/** Frames of the step's own module, with its sandbox path shown as its file name. */
export function trimStack(stack: string | undefined, stepPath: string): string | undefined {
  if (!stack) return undefined;
  const url = `file://${stepPath}`;
  const frames = stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line) && (line.includes(url) || line.includes(stepPath)))
    .map((line) => line.replaceAll(url, 'step.mjs').replaceAll(stepPath, 'step.mjs'));
  return frames.length ? frames.join('\n') : undefined;
}

function errorMessage(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message || thrown.name;
  try {
    return typeof thrown === 'string' ? thrown : `a non-Error value was thrown: ${JSON.stringify(thrown) ?? String(thrown)}`;
  } catch {
    return 'a non-Error value was thrown';
  }
}

/**
 * stdout and stderr are sockets to the renderer, which Node leaves non-blocking on
 * Linux: a chatty step would queue its output in its own memory (and lose it at exit).
 * Blocking writes give back-pressure instead: the step waits while the renderer drains.
 */
function blockingStdio(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const handle = (stream as unknown as { _handle?: { setBlocking?: (on: boolean) => number } })._handle;
    handle?.setBlocking?.(true);
  }
}

/**
 * Work every run does for the first time, done before the child says it is ready: in a
 * warm child it is then off the request's path (the ESM loader's first import alone is
 * ~5 ms). Nothing of the step is involved.
 */
async function warmUp(load: (url: string) => Promise<unknown>): Promise<void> {
  await load('data:text/javascript,export const warm = 1;');
  // libuv starts its whole thread pool at the first queued work: do that now, so the
  // threads exist before ready (their count is fixed; renderer/run/step-child.ts) and a
  // step's first async fs call can never fail to make one.
  await new Promise((resolve) => randomFill(Buffer.alloc(1), resolve));
  encodeFrame(new types.ChildMessage({ result: new types.StepResult({ runId: 'warm-up', status: types.StepStatus.OK, wroteOutput: false, json: '{}', errors: [] }) }));
}

export async function runChild(arrow: typeof Arrow): Promise<void> {
  quietRuntimeWarnings();
  blockingStdio();
  const runtimeDir = process.argv[process.argv.length - 1] ?? '/opt/renderer';

  // Out of the module cache from here: step code cannot require its way to it (native.ts).
  const native = loadRuntimeNative(runtimeDir);
  // Captured before user code can replace anything: every write before it is blocking
  // (the result on fd 3, logs on fds 1 and 2), so nothing is lost by skipping Node's exit.
  const exit = native.exitNow;
  // Stage 2 of seccomp, on every thread: from here no execve and no new process.
  native.installSeccomp(stage2Bytes());
  // The permission model needs --allow-addons for the line above; nothing after it may
  // load native code (a .node file written to /tmp would otherwise be loadable).
  Object.defineProperty(process, 'dlopen', {
    value: () => {
      throw Object.assign(new Error('Cannot load native addon because loading addons is disabled.'), { code: 'ERR_DLOPEN_DISABLED' });
    },
    writable: false,
    configurable: false,
  });

  const send = (message: types.ChildMessage): void => writeAllSync(RESULT_FD, encodeFrame(message));
  const load = new vm.Script('(url) => import(url)', {
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  }).runInThisContext() as (url: string) => Promise<Record<string, unknown>>;
  await warmUp(load);
  send(new types.ChildMessage({ ready: new types.Ready({ protocolVersion: types.PROTOCOL_VERSION }) }));

  const frame = readAllSync(REQUEST_FD, MAX_REQUEST_BYTES);
  if (frame.length < 4 || frame.readUInt32BE(0) !== frame.length - 4) throw new Error('malformed request frame');
  const request = decodePayload(types.StepRequest, frame.subarray(4));

  let sent = false;
  const finish = (result: Omit<ConstructorParameters<typeof types.StepResult>[0] & object, 'runId'>): never => {
    if (!sent) {
      sent = true;
      send(new types.ChildMessage({ result: new types.StepResult({ runId: request.runId, ...result }) }));
    }
    return exit(0);
  };
  const fail = (thrown: unknown): never =>
    finish({
      status: types.StepStatus.STEP_ERROR,
      wroteOutput: false,
      error: new types.StepError({
        message: errorMessage(thrown),
        stack: thrown instanceof Error ? trimStack(thrown.stack, request.stepPath) : undefined,
      }),
    });

  // The step's code threw outside render()'s promise chain: still the step's error.
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  // The event loop emptied while render() was still pending: it can never settle.
  process.on('beforeExit', () => fail(new Error('render() returned a promise that never settled')));

  let mapping: ArrayBuffer | null = null;
  try {
    const params: unknown = JSON.parse(request.paramsJson);
    let table: Arrow.Table;
    if (request.inputPath) {
      // The input is mapped, not read: render() gets column views over the page cache.
      mapping = native.mapFile(request.inputPath, Number.MAX_SAFE_INTEGER);
      try {
        table = mapping.byteLength === 0 ? new arrow.Table() : arrow.tableFromIPC(new Uint8Array(mapping));
      } catch (error) {
        throw new StepContractError(`the input table cannot be read: ${(error as Error).message}`);
      }
    } else {
      table = new arrow.Table();
    }
    // The last use of mapFile: sealed before the step's first line runs. Step code may
    // still reach `native` (with the permission model off, the inspector reads this
    // function's locals), so it must find an addon that maps, filters and locks nothing,
    // and unmaps only the mappings it made.
    native.seal();

    const module = await load(`file://${request.stepPath}`);
    if (typeof module.render !== 'function')
      throw new StepContractError('the step module does not export a function named render');

    const returned: unknown = await (module.render as (...args: unknown[]) => unknown)(table, params, Object.freeze({ arrow }));
    const output = interpretReturn(arrow, returned);
    if (output.table) {
      try {
        writeTableFile(arrow, output.table, request.outputPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EFBIG') finish({ status: types.StepStatus.OUTPUT_TOO_LARGE, wroteOutput: false });
        throw error;
      }
    }
    const result = {
      status: types.StepStatus.OK,
      wroteOutput: output.table !== null,
      json: output.json ?? undefined,
      errors: output.errors,
    };
    const size = encodeFrame(new types.ChildMessage({ result: new types.StepResult({ runId: request.runId, ...result }) })).length;
    if (size > request.maxResultBytes)
      throw new StepContractError(
        `the returned json and errors take ${size} bytes; the limit is ${request.maxResultBytes} bytes (write big data as the table)`,
      );
    finish(result);
  } catch (error) {
    fail(error);
  } finally {
    if (mapping) native.unmap(mapping);
  }
}
