// The result pipe's parser against hostile bytes: forged, oversized, truncated and
// inconsistent frames all become a `problem`, never an exception or an allocation of
// the size a frame claims.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { encodeFrame, types } from '../../../thrift/messages.js';
import { checkResult, jsonDepth, MAX_JSON_DEPTH, ResultChannel } from '../../../renderer/run/protocol.js';

const RUN = 'run-1';
const ready = (): Buffer => encodeFrame(new types.ChildMessage({ ready: new types.Ready({ protocolVersion: types.PROTOCOL_VERSION }) }));
const result = (fields: Partial<ConstructorParameters<typeof types.StepResult>[0] & object> = {}): Buffer =>
  encodeFrame(
    new types.ChildMessage({
      result: new types.StepResult({ runId: RUN, status: types.StepStatus.OK, wroteOutput: false, ...fields }),
    }),
  );

async function feed(chunks: Buffer[], maxResultBytes = 1024 * 1024): Promise<ResultChannel> {
  const stream = new PassThrough();
  const problems: string[] = [];
  const channel = new ResultChannel(stream, maxResultBytes, (p) => problems.push(p));
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  await channel.closed;
  assert.ok(problems.length <= 1, 'onProblem fires at most once');
  return channel;
}

describe('ResultChannel', () => {
  it('accepts ready then one result, even split into 1-byte chunks', async () => {
    const bytes = Buffer.concat([ready(), result({ json: '{"a":1}' })]);
    const channel = await feed([...bytes].map((b) => Buffer.of(b)));
    assert.equal(channel.problem, null);
    assert.equal(channel.result?.json, '{"a":1}');
  });

  it('refuses a length claiming 4 GiB without waiting for or allocating it', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const channel = await feed([ready(), Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3])]);
    assert.match(channel.problem!, /exceeds|framed wrongly/);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  });

  it('refuses a frame just over the limit', async () => {
    const channel = await feed([ready(), result({ json: JSON.stringify('x'.repeat(2000)) })], 1024);
    assert.match(channel.problem!, /exceeds 1024 bytes/);
  });

  it('refuses garbage, a missing ready, a second result and trailing bytes', async () => {
    assert.match((await feed([ready(), Buffer.from([0, 0, 0, 3, 1, 2, 3])])).problem!, /malformed/);
    assert.match((await feed([result()])).problem!, /did not start with a ready message/);
    assert.match((await feed([ready(), result(), result()])).problem!, /more than one result/);
    assert.match((await feed([ready(), result(), Buffer.from([0, 0])])).problem!, /closed in the middle of a message/);
  });

  it('refuses a flood beyond two frames worth of bytes', async () => {
    const flood = Array.from({ length: 40 }, () => Buffer.alloc(64 * 1024, 0));
    const channel = await feed([ready(), ...flood], 1024 * 1024);
    assert.ok(channel.problem);
  });
});

describe('checkResult', () => {
  const decode = (fields: Parameters<typeof result>[0]): types.StepResult =>
    new types.StepResult({ runId: RUN, status: types.StepStatus.OK, wroteOutput: false, ...fields });

  it('accepts a good result and parses its json as data', () => {
    const checked = checkResult(decode({ json: '{"__proto__":{"polluted":true},"b":[1,2]}', errors: ['e1'] }), RUN);
    assert.deepEqual(checked.errors, ['e1']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
    assert.equal(Object.getPrototypeOf(checked.json), Object.prototype);
    assert.deepEqual(Object.keys(checked.json as object), ['__proto__', 'b']);
  });

  it('refuses inconsistent results', () => {
    assert.throws(() => checkResult(decode({}), 'another-run'), /not this run/);
    assert.throws(() => checkResult(decode({ status: 7 as never }), RUN), /not OK, STEP_ERROR or OUTPUT_TOO_LARGE/);
    assert.throws(() => checkResult(decode({ status: types.StepStatus.STEP_ERROR }), RUN), /lacks an error message/);
    assert.throws(
      () => checkResult(decode({ status: types.StepStatus.STEP_ERROR, wroteOutput: true, error: new types.StepError({ message: 'x' }) }), RUN),
      /step_error result claims an output table/,
    );
    assert.throws(() => checkResult(decode({ json: '{nope' }), RUN), /not valid JSON/);
    assert.throws(() => checkResult(decode({ json: '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1) }), RUN), /deeper/);
    assert.throws(() => checkResult(decode({ errors: Array.from({ length: 1001 }, () => 'e') }), RUN), /1001 entries/);
  });

  it('jsonDepth ignores brackets inside strings', () => {
    assert.equal(jsonDepth('{"a":"[[[[","b":[1,{"c":"\\"]"}]}'), 3);
  });
});
