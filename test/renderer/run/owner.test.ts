// The owner tag in run directory and cgroup names: whoever reads it must find the one
// renderer that made it, or leftovers of a live renderer get removed under it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { newChildId, ownerAlive, ownerPid, ownerReadings } from '../../../renderer/run/owner.js';

const startOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);

describe('owner tags', () => {
  it('a new id names this process, in a run directory or a cgroup name alike', () => {
    const id = newChildId();
    assert.match(id, /^[0-9a-z]+_[0-9a-z]+-[0-9a-f]{8}$/);
    assert.deepEqual(ownerReadings(id), [[process.pid, startOf(process.pid)]]);
    assert.equal(ownerPid(id), process.pid);
    assert.equal(ownerPid(`run-${id}`), process.pid);
  });

  it('base-36 numbers holding an "x" split one way only', () => {
    // pid 29607 ("muf") started at tick 1583279 ("xxnz"): with "x" as the separator the
    // name read as pid "mufxx", a dead process, and a second daemon took over.
    const id = `${(29607).toString(36)}_${(1583279).toString(36)}-7a0b296b`;
    assert.deepEqual(ownerReadings(id), [[29607, 1583279]]);
    assert.deepEqual(ownerReadings('x_xx-00000000'), [[33, 33 * 36 + 33]]);
  });

  it('an old "x" id is alive if any way of reading it names a live process', async () => {
    const child = spawn('sleep', ['30']);
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      const pid = child.pid!;
      const legacy = `${pid.toString(36)}x${startOf(pid).toString(36)}-0123abcd`;
      assert.equal(ownerPid(legacy), pid);
      assert.deepEqual(ownerReadings('mufxxxnz-7a0b296b'), [
        [parseInt('muf', 36), parseInt('xxnz', 36)],
        [parseInt('mufx', 36), parseInt('xnz', 36)],
        [parseInt('mufxx', 36), parseInt('nz', 36)],
      ]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a dead owner is dead; a name that is not ours is never judged dead', () => {
    const beyondPidMax = (1 << 22) + 7;
    assert.equal(ownerPid(`${beyondPidMax.toString(36)}_1-00000000`), null);
    assert.equal(ownerAlive(`run-${beyondPidMax.toString(36)}_1-00000000`), false);
    assert.equal(ownerPid('not-one-of-ours'), undefined);
    assert.equal(ownerAlive('lost+found'), true);
  });
});
