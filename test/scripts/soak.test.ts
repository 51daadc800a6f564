// The fault-injection soak, short enough for CI: every kind of misbehaving step at
// concurrency 4, then a kill -9 of the daemon halfway through a second soak. The full
// version is `scripts/soak --runs 5000` (README).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { soak } from '../../scripts/soak.js';
import { isRoot } from '../helpers.js';

describe('soak', { skip: !isRoot && 'needs root (CI runs as root)', concurrency: false }, () => {
  it('300 runs of every kind: each as meant, nothing leaked, no internal error', async () => {
    const { ok, report } = await soak({ runs: 300, concurrency: 4, killRestart: false, seed: 20261123 });
    console.log(report);
    assert.ok(ok, report);
  });

  it('kill -9 halfway: restarted clean, schedule resumed, no half-written output', async () => {
    const { ok, report } = await soak({ runs: 200, concurrency: 4, killRestart: true, seed: 42 });
    console.log(report);
    assert.ok(ok, report);
  });
});
