// Property-based fuzzing (fast-check) of everything the renderer parses from someone it
// does not trust: the result pipe, output tables, HTTP bodies, config files. For each:
// no exception but the documented one, no hang, no allocation proportional to a length
// the input claims. Seeds are fixed so a failure replays; the corpus of valid inputs to
// mutate (and inputs that once broke something) is test/fuzz/corpus/.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { InvalidTable, validateArrowFile } from '../../renderer/arrow/validate.js';
import { configFrom, loadConfig } from '../../renderer/config/load.js';
import { SchemaError, validate } from '../../renderer/config/schema.js';
import { RendererError } from '../../renderer/errors.js';
import { RUN_BODY, WORKFLOW_BODY } from '../../renderer/http/schemas.js';
import { PACKAGE_ROOT } from '../../renderer/paths.js';
import { checkResult, ResultChannel } from '../../renderer/run/protocol.js';
import { isRoot, RULES, scratchDir, startDaemon } from '../helpers.js';

const CORPUS = join(PACKAGE_ROOT, 'test', 'fuzz', 'corpus');
const corpus = (ext: string): Array<[string, Buffer]> =>
  readdirSync(CORPUS)
    .filter((f) => f.endsWith(ext))
    .map((f) => [f, readFileSync(join(CORPUS, f))]);
const MiB = 1024 * 1024;

/** Byte-level mutations of a seed: flips, truncation, insertion, duplication. */
const mutated = (seeds: Array<[string, Buffer]>): fc.Arbitrary<Buffer> =>
  fc
    .tuple(
      fc.nat(seeds.length - 1),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.option(fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 16 })), { nil: undefined }),
    )
    .map(([which, flips, cut, insert]) => {
      let bytes = Buffer.from(seeds[which]![1]);
      for (const [at, value] of flips) if (bytes.length) bytes[at % bytes.length] = value;
      if (insert && bytes.length) bytes = Buffer.concat([bytes.subarray(0, insert[0] % bytes.length), Buffer.from(insert[1]), bytes.subarray(insert[0] % bytes.length)]);
      if (cut !== undefined && bytes.length) bytes = bytes.subarray(0, cut % (bytes.length + 1));
      return bytes;
    });

describe('fuzz: the result pipe', () => {
  const feed = async (bytes: Buffer, splits: number[]): Promise<ResultChannel> => {
    const stream = new PassThrough();
    const channel = new ResultChannel(stream, MiB, () => undefined);
    let at = 0;
    for (const split of [...splits.map((s) => s % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
      stream.write(bytes.subarray(at, Math.max(at, split)));
      at = Math.max(at, split);
    }
    stream.end();
    await channel.closed;
    if (channel.result) {
      try {
        checkResult(channel.result, 'fuzz');
      } catch (error) {
        assert.ok(error instanceof Error);
      }
    }
    return channel;
  };

  it('mutated and random frames, in any chunking: a result or a named problem, nothing thrown', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(corpus('.bin')), fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b))), fc.array(fc.nat(), { maxLength: 6 }), async (bytes, splits) => {
        const channel = await feed(bytes, splits);
        assert.ok(channel.result !== null || channel.problem !== null || bytes.length < 4 || channel.problem === null);
      }),
      { numRuns: 2000, seed: 1123 },
    );
  });

  it('a claimed length never makes the renderer allocate it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: MiB + 1, max: 0x7fffffff }), fc.uint8Array({ maxLength: 64 }), async (claim, tail) => {
        const frame = Buffer.alloc(4);
        frame.writeUInt32BE(claim);
        const before = process.memoryUsage().arrayBuffers;
        const frames = readFileSync(join(CORPUS, 'frames-ok.bin'));
        const ready = frames.subarray(0, 4 + frames.readUInt32BE(0));
        const channel = await feed(Buffer.concat([ready, frame, Buffer.from(tail)]), []);
        assert.match(channel.problem ?? '', /exceeds|framed wrongly/);
        assert.ok(process.memoryUsage().arrayBuffers - before < 16 * MiB);
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});

describe('fuzz: output tables', () => {
  it('mutated corpus files: InvalidTable or a valid summary, each within 1 s', () => {
    fc.assert(
      fc.property(mutated(corpus('.arrow')), (bytes) => {
        const started = performance.now();
        try {
          validateArrowFile(bytes, RULES);
        } catch (error) {
          assert.ok(error instanceof InvalidTable, `${String(error)}`);
        }
        assert.ok(performance.now() - started < 1000, 'no hang');
      }),
      { numRuns: 5000, seed: 20261123 },
    );
  });

  it('regression inputs found by fuzzing are refused quickly, with bounded memory', () => {
    for (const [name, bytes] of corpus('.arrow').filter(([n]) => n.startsWith('regression-'))) {
      const before = process.memoryUsage().heapUsed;
      assert.throws(() => validateArrowFile(bytes, RULES), InvalidTable, name);
      assert.ok(process.memoryUsage().heapUsed - before < 64 * MiB, `${name} allocated too much`);
    }
  });
});

describe('fuzz: HTTP bodies and config', () => {
  it('any JSON value against the request schemas: a value or a SchemaError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        for (const schema of [RUN_BODY, WORKFLOW_BODY]) {
          try {
            validate(schema, value);
          } catch (error) {
            assert.ok(error instanceof SchemaError, String(error));
            assert.ok((error as SchemaError).problems.every((p) => typeof p === 'string' && p.length < 2000));
          }
        }
      }),
      { numRuns: 3000, seed: 99 },
    );
  });

  it('any JSON value as a config: a frozen config or RENDERER_ERR_CONFIG_INVALID', () => {
    const arbitraryConfig = fc.oneof(
      fc.jsonValue({ maxDepth: 5 }),
      fc.record({ limits: fc.dictionary(fc.constantFrom('timeoutMs', 'memoryMiB', 'maxProcesses', 'bogus'), fc.jsonValue({ maxDepth: 1 })), server: fc.dictionary(fc.constantFrom('port', 'host', 'token'), fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: [] }),
    );
    fc.assert(
      fc.property(arbitraryConfig, (value) => {
        try {
          assert.ok(Object.isFrozen(configFrom(value)));
        } catch (error) {
          assert.ok(error instanceof RendererError && error.code === 'RENDERER_ERR_CONFIG_INVALID', String(error));
        }
      }),
      { numRuns: 3000, seed: 5 },
    );
  });

  it('any text as a config file: RENDERER_ERR_CONFIG_INVALID, never another exception', () => {
    const dir = scratchDir();
    try {
      fc.assert(
        fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
          const file = join(dir.path, 'config.json');
          writeFileSync(file, text);
          try {
            loadConfig(file);
          } catch (error) {
            assert.ok(error instanceof RendererError && error.code === 'RENDERER_ERR_CONFIG_INVALID', String(error));
          }
        }),
        { numRuns: 1000, seed: 11 },
      );
    } finally {
      dir.remove();
    }
  });

  describe('through the HTTP server', { skip: !isRoot && 'needs root' }, () => {
    let d: Awaited<ReturnType<typeof startDaemon>>;
    before(async () => {
      d = await startDaemon({ pool: { size: 0 } });
    });
    after(() => d.stop());

    it('random bodies, content types and paths: always a 4xx JSON error, never a 5xx, no run started', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.string({ maxLength: 300 }), fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))),
          fc.constantFrom('application/json', 'text/plain', 'application/vnd.apache.arrow.file', 'application/json; charset=utf-8', ''),
          fc.constantFrom('/v1/runs', '/v1/runs?wait=false', '/v1/workflows/run', '/v1/tables', `/v1/runs/${'x'.repeat(20)}`, '/v1/../etc/passwd', '/v1/runs/%00'),
          async (payload, type, url) => {
            // Bodies that happen to be valid runs would start one: those are not the point here.
            try {
              const parsed: unknown = JSON.parse(payload);
              validate(url.startsWith('/v1/workflows') ? WORKFLOW_BODY : RUN_BODY, parsed);
              return;
            } catch {
              /* invalid: exactly what we want to send */
            }
            const method = url.startsWith('/v1/runs/') ? 'GET' : 'POST';
            const response = await d.inject({ method, url, payload: method === 'POST' ? payload : undefined, headers: type ? { 'content-type': type } : {} });
            assert.ok(response.statusCode >= 400 && response.statusCode < 500, `${method} ${url} (${type}) -> ${response.statusCode}: ${response.body.slice(0, 200)}`);
            assert.match(response.json().error.code, /^RENDERER_ERR_/);
          },
        ),
        { numRuns: 800, seed: 314 },
      );
      assert.equal(d.daemon.executor.registry.recent(10).length, 0);
    });
  });
});
