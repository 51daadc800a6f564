// The Prometheus alert rules: valid for promtool, and each alert fires (or not) on
// the series its unit tests give it. Without promtool, a structural check instead.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { PACKAGE_ROOT } from '../../renderer/paths.js';

const DIR = join(PACKAGE_ROOT, 'deploy', 'prometheus');
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

it('promtool accepts the rules and their unit tests pass', { skip: !hasPromtool && 'promtool not installed (apt-get install prometheus); the structural check below still runs' }, () => {
  const check = spawnSync('promtool', ['check', 'rules', 'renderer-rules.yml'], { cwd: DIR, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: 8 rules found/);
  const test = spawnSync('promtool', ['test', 'rules', 'renderer-rules.test.yml'], { cwd: DIR, encoding: 'utf8' });
  assert.equal(test.status, 0, test.stdout + test.stderr);
});

it('every alert has an expression, a severity and a summary, and names only metrics the renderer exports', () => {
  const text = readFileSync(join(DIR, 'renderer-rules.yml'), 'utf8');
  const alerts = text.split(/^\s+- alert: /m).slice(1);
  assert.equal(alerts.length, 8);
  const exported = readFileSync(join(PACKAGE_ROOT, 'renderer', 'observability', 'metrics.ts'), 'utf8');
  for (const alert of alerts) {
    const name = alert.split('\n')[0]!;
    assert.match(alert, /expr: /, name);
    assert.match(alert, /severity: (warning|critical)/, name);
    assert.match(alert, /summary: /, name);
    for (const metric of alert.match(/renderer_[a-z_]+/g) ?? []) assert.ok(exported.includes(`'${metric}'`), `${name} uses ${metric}, which metrics.ts does not export`);
  }
  for (const expected of ['RendererOOMKillRateHigh', 'RendererTimeoutRateHigh', 'RendererScheduleStale', 'RendererPoolEmpty', 'RendererQueueSaturated'])
    assert.ok(text.includes(`alert: ${expected}`), expected);
});
