// Config and option checking: defaults come from the one schema; every problem names
// the field, the value and the expectation (and, in a file, its line).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configFrom, loadConfig } from '../../../renderer/config/load.js';
import { lineOf } from '../../../renderer/config/json-lines.js';
import { SchemaError, validate } from '../../../renderer/config/schema.js';
import { RendererError } from '../../../renderer/errors.js';
import { scratchDir } from '../../helpers.js';

describe('config', () => {
  it('has the contract\'s defaults and is frozen', () => {
    const config = configFrom({});
    assert.equal(config.limits.timeoutMs, 30_000);
    assert.equal(config.limits.memoryMiB, 512);
    assert.equal(config.limits.maxProcesses, 64);
    assert.equal(config.limits.maxOutputBytes, 2 * 1024 ** 3);
    assert.equal(config.limits.maxResultBytes, 1024 ** 2);
    assert.equal(config.limits.maxLogBytes, 64 * 1024);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.port, 8080);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.limits));
    assert.throws(() => {
      (config.limits as { timeoutMs: number }).timeoutMs = 1;
    }, TypeError);
  });

  it('messages name the field, the value and the expectation', () => {
    assert.throws(() => configFrom({ limits: { timeoutMs: -1 } }), (e: RendererError) => {
      assert.equal(e.code, 'RENDERER_ERR_CONFIG_INVALID');
      assert.match(e.message, /Expected `limits.timeoutMs` to be an integer from 1 to 86400000, got `-1` \(number\)/);
      return true;
    });
    assert.throws(() => configFrom({ limits: { timout: 5 } }), /Unknown field `limits.timout` \(allowed: `timeoutMs`/);
    assert.throws(() => configFrom({ sandbox: { stepUid: 0 } }), /`sandbox.stepUid`/);
    assert.throws(() => configFrom({ log: { level: 'loud' } }), /one of "fatal", "error"/);
  });

  it('a bad field in a file is reported with its line', () => {
    const dir = scratchDir();
    try {
      const file = join(dir.path, 'config.json');
      writeFileSync(file, '{\n  "limits": {\n    "memoryMiB": 512,\n    "timeoutMs": "soon"\n  }\n}\n');
      assert.throws(() => loadConfig(file), /config.json line 4: Expected `limits.timeoutMs`/);
      writeFileSync(file, '{ not json');
      assert.throws(() => loadConfig(file), /is not valid JSON/);
      assert.throws(() => loadConfig(join(dir.path, 'missing.json')), /cannot read config file/);
    } finally {
      dir.remove();
    }
  });

  it('keeps "__proto__" keys as plain data', () => {
    const value = validate<Record<string, unknown>>({ type: 'object', properties: {}, additionalProperties: { type: 'any' } }, JSON.parse('{"__proto__": {"polluted": 1}}'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.keys(value), ['__proto__']);
  });

  it('reports every problem at once', () => {
    try {
      configFrom({ limits: { timeoutMs: 0, memoryMiB: 'lots' } });
      assert.fail('no error');
    } catch (error) {
      assert.match((error as Error).message, /timeoutMs.*memoryMiB|memoryMiB.*timeoutMs/);
    }
    assert.ok(new SchemaError(['a', 'b']).message === 'a; b');
  });
});

describe('lineOf', () => {
  it('finds nested fields and array items', () => {
    const text = '{\n  "a": 1,\n  "schedules": [\n    { "name": "x" },\n    {\n      "cron": "bad"\n    }\n  ]\n}';
    assert.equal(lineOf(text, 'a'), 2);
    assert.equal(lineOf(text, 'schedules[1].cron'), 6);
    assert.equal(lineOf(text, 'schedules[0].name'), 4);
    assert.equal(lineOf(text, 'nope'), null);
  });
});
