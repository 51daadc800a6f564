#!/usr/bin/env node
// Writes test/fuzz/corpus/: valid Arrow files of several shapes and valid protocol
// frames, the seeds the fuzz tests mutate. Regression inputs found by fuzzing are kept
// beside them by hand (regression-*.arrow) and never regenerated.
import * as arrow from 'apache-arrow';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFrame, types } from '../dist/thrift/messages.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fuzz', 'corpus');
const write = (name, bytes) => writeFileSync(join(out, name), bytes);
const file = (table) => arrow.tableToIPC(table, 'file');

write('numbers.arrow', file(arrow.tableFromArrays({ i: Int32Array.of(1, 2, 3), f: Float64Array.of(0.5, NaN, -1) })));
write('strings-nulls.arrow', file(new arrow.Table({ s: arrow.vectorFromArray(['a', null, 'héllo', ''], new arrow.Utf8()) })));
write('dictionary.arrow', file(new arrow.Table({ d: arrow.vectorFromArray(['x', 'y', 'x', null], new arrow.Dictionary(new arrow.Utf8(), new arrow.Int16())) })));
const batch = arrow.tableFromArrays({ n: Int8Array.of(1, 2), b: [true, false] });
write('multi-batch.arrow', file(new arrow.Table([...batch.batches, ...batch.batches, ...batch.batches])));
write('empty-schema.arrow', file(new arrow.Table(new arrow.Schema([new arrow.Field('t', new arrow.TimestampMillisecond())]))));

const ready = encodeFrame(new types.ChildMessage({ ready: new types.Ready({ protocolVersion: types.PROTOCOL_VERSION }) }));
const result = encodeFrame(new types.ChildMessage({ result: new types.StepResult({ runId: 'fuzz', status: types.StepStatus.OK, wroteOutput: true, json: '{"a":[1,2,{"b":null}]}', errors: ['e1', 'e2'] }) }));
const failed = encodeFrame(new types.ChildMessage({ result: new types.StepResult({ runId: 'fuzz', status: types.StepStatus.STEP_ERROR, wroteOutput: false, error: new types.StepError({ message: 'boom', stack: '    at render (step.mjs:1:1)' }) }) }));
write('frames-ok.bin', Buffer.concat([ready, result]));
write('frames-step-error.bin', Buffer.concat([ready, failed]));
console.log(`wrote the fuzz corpus to ${out}`);
