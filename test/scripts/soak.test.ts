// The fault-injection soak, short enough for CI: every kind of misbehaving step at
// concurrency 4, then a kill -9 of the daemon halfway through a second soak, with a
// third daemon soaking beside it. The full
// version is `scripts/soak --runs 5000` (README).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_UID_RANGE } from '../../renderer/config/config-schema.js';
import { RUN_CGROUP_PREFIX } from '../../renderer/sandbox/cgroup/driver.js';
import { detectCgroups } from '../../renderer/sandbox/cgroup/detect.js';
import { runCgroups, soak, soakOwner, stepProcesses, type SoakOwner } from '../../scripts/soak.js';
import { isRoot } from '../helpers.js';

describe('soak', { skip: !isRoot && 'needs root (CI runs as root)', concurrency: false }, () => {
  it('300 runs of every kind: each as meant, nothing leaked, no internal error', async () => {
    const { ok, report } = await soak({ runs: 300, concurrency: 4, killRestart: false, seed: 20261123 });
    console.log(report);
    assert.ok(ok, report);
  });

  // With a second daemon soaking beside it: the kill -9 and the restart's clean-up must
  // leave the neighbour's live runs alone, and neither soak may count the other's runs.
  it('kill -9 halfway, a second daemon beside: restarted clean, schedule resumed, no half-written output, no leak in either', async () => {
    const { ok, report } = await soak({ runs: 200, concurrency: 4, killRestart: true, seed: 42, beside: 2 });
    console.log(report);
    assert.ok(ok, report);
  });
});

// The leak checks must hold beside another renderer: they count what carries the soak's
// own daemon's owner tag, never every step-uid process or run cgroup on the host.
describe('soak leak checks count only their own daemon', { skip: !isRoot && 'needs root (to run as a step uid)' }, () => {
  const STEP = DEFAULT_UID_RANGE.first + DEFAULT_UID_RANGE.count - 1; // unlikely to be leased now
  const sleeper = (): ChildProcess => spawn('sleep', ['30'], { uid: STEP, gid: STEP, stdio: 'ignore' });

  it('a step-uid process counts for the daemon it descends from, not for another', async () => {
    const mine = sleeper();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(stepProcesses([soakOwner(process.pid)]).includes(mine.pid!), 'a descendant of the owner');
      assert.deepEqual(stepProcesses([soakOwner(other.pid!)]), [], 'another daemon sees none of it');
    } finally {
      mine.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });

  it("an orphan (its daemon died) counts by its run cgroup's owner tag", async (t) => {
    const layout = await detectCgroups();
    if (layout.version !== 1 || !layout.own.pids) return t.skip('needs a cgroup v1 pids hierarchy (this CI host)');
    const owner: SoakOwner = { pid: 2 ** 22 + 1, tagPrefix: `${(2 ** 22 + 1).toString(36)}_1a2b_` };
    const cgroup = join(layout.own.pids, `${RUN_CGROUP_PREFIX}${owner.tagPrefix}w0w0-0123abcd`);
    // The shell exits at once: its sleep is reparented away from this process.
    const shell = spawnSync('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], { uid: STEP, gid: STEP, encoding: 'utf8' });
    const orphan = Number(shell.stdout.trim());
    mkdirSync(cgroup);
    try {
      assert.deepEqual(stepProcesses([owner]), [], 'not yet in its cgroup, and no descendant');
      writeFileSync(join(cgroup, 'cgroup.procs'), String(orphan));
      assert.deepEqual(stepProcesses([owner]), [orphan]);
      assert.deepEqual(stepProcesses([{ pid: 2 ** 22 + 2, tagPrefix: `${(2 ** 22 + 2).toString(36)}_1a2b_` }]), [], "another owner's tag");
      assert.deepEqual(runCgroups([owner]), [cgroup]);
    } finally {
      process.kill(orphan, 'SIGKILL');
      for (let i = 0; i < 100 && readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').trim(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      rmdirSync(cgroup);
    }
  });
});
