// The owner tag in run directory and cgroup names: whoever reads it must find the one
// renderer that made it, or leftovers of a live renderer get removed under it — from
// any other renderer on the host, in any pid namespace.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newChildId, ownerAlive, ownerReadings, pruneDeadOwners, registerOwner } from '../../../renderer/run/owner.js';

const startOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
const hostDir = mkdtempSync(join(tmpdir(), 'owner-test-'));
const OWNER_MODULE = new URL('../../../renderer/run/owner.js', import.meta.url).pathname;

/** Another renderer process (optionally behind `prefix`, e.g. unshare): registers in
 * hostDir, prints its child id, then prints whether `check` is alive, and waits. */
function otherRenderer(prefix: string[], check = ''): { child: ChildProcess; lines: Promise<string[]> } {
  const script = `const o = await import(${JSON.stringify(OWNER_MODULE)}); o.registerOwner(${JSON.stringify(hostDir)});
    console.log(o.newChildId()); console.log(${JSON.stringify(check)} ? String(o.ownerAlive(${JSON.stringify(check)})) : 'none');
    setInterval(() => {}, 1000);`;
  const [command, ...args] = [...prefix, process.execPath, '--input-type=module', '-e', script];
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = new Promise<string[]>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      const got = out.split('\n');
      if (got.length > 2) resolve(got.slice(0, 2));
    });
    child.once('exit', (code) => reject(new Error(`the other renderer exited (${code}) before it answered: ${out}`)));
  });
  return { child, lines };
}

const stop = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
};

const canUnsharePid = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;

describe('owner tags', () => {
  before(() => registerOwner(hostDir));
  after(() => rmSync(hostDir, { recursive: true, force: true }));

  it('a new id names this process and its lock, in a run directory or a cgroup name alike', () => {
    const id = newChildId();
    assert.match(id, /^[0-9a-z]+_[0-9a-z]+_[0-9a-z]{4}-[0-9a-f]{8}$/);
    assert.deepEqual(ownerReadings(id), [[process.pid, startOf(process.pid)]]);
    assert.ok(existsSync(join(hostDir, 'owners', id.slice(0, id.lastIndexOf('-')))));
    assert.equal(statSync(join(hostDir, 'owners')).mode & 0o777, 0o700, 'no other user may open (and flock) a lock');
    assert.equal(ownerAlive(id), true);
    assert.equal(ownerAlive(`run-${id}`), true);
  });

  it('another renderer is alive while it lives and dead the moment it dies (its lock is released by the kernel)', async () => {
    const { child, lines } = otherRenderer([]);
    const [id] = await lines;
    assert.equal(ownerAlive(`run-${id}`), true);
    await stop(child);
    assert.equal(ownerAlive(`run-${id}`), false);
  });

  it('a renderer in its own pid namespace sees this one alive, and this one sees it alive, then dead', { skip: !canUnsharePid && 'unshare --pid is not permitted here' }, async () => {
    // The regression: a daemon under `unshare --pid` judged its neighbour's live run
    // cgroups by pid, found no such pid in its /proc, and removed them (EBUSY).
    const mine = newChildId();
    const { child, lines } = otherRenderer(['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'], `run-${mine}`);
    const [theirs, seesMine] = await lines;
    assert.equal(seesMine, 'true', 'the namespaced renderer judged this live renderer dead');
    assert.equal(ownerAlive(`run-${theirs}`), true, 'this renderer judged the namespaced live renderer dead');
    await stop(child);
    // unshare --kill-child: its node child dies with it; the lock goes with the last fd.
    for (let i = 0; i < 100 && ownerAlive(`run-${theirs}`); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(ownerAlive(`run-${theirs}`), false);
  });

  it('ids from before owner locks are judged by pid and start time', async () => {
    const child = spawn('sleep', ['30']);
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      const pid = child.pid!;
      assert.equal(ownerAlive(`run-${pid.toString(36)}_${startOf(pid).toString(36)}-0123abcd`), true);
      assert.equal(ownerAlive(`run-${pid.toString(36)}x${startOf(pid).toString(36)}-0123abcd`), true, 'an old "x" id');
      assert.deepEqual(ownerReadings('mufxxxnz-7a0b296b'), [
        [parseInt('muf', 36), parseInt('xxnz', 36)],
        [parseInt('mufx', 36), parseInt('xnz', 36)],
        [parseInt('mufxx', 36), parseInt('nz', 36)],
      ]);
      // pid 29607 ("muf") started at tick 1583279 ("xxnz"): one reading only with "_".
      assert.deepEqual(ownerReadings(`${(29607).toString(36)}_${(1583279).toString(36)}-7a0b296b`), [[29607, 1583279]]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a dead owner is dead; a name that is not ours is never judged dead', () => {
    const beyondPidMax = (1 << 22) + 7;
    assert.equal(ownerAlive(`run-${beyondPidMax.toString(36)}_1-00000000`), false);
    assert.equal(ownerAlive(`run-${beyondPidMax.toString(36)}_1_abcd-00000000`), false, 'no lock file, no such pid');
    assert.equal(ownerAlive('not-one-of-ours'), true);
    assert.equal(ownerAlive('lost+found'), true);
  });

  it('locks of owners dead for a day are pruned; live ones and recent ones are kept', async () => {
    const { child, lines } = otherRenderer([]);
    const [id] = await lines;
    const tag = id!.slice(0, id!.lastIndexOf('-'));
    await stop(child);
    assert.deepEqual(pruneDeadOwners(), [], 'a recent dead owner is kept');
    const old = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(join(hostDir, 'owners', tag), old, old);
    assert.deepEqual(pruneDeadOwners(), [tag]);
    assert.equal(ownerAlive(`run-${id}`), false, 'still dead once its lock file is gone (pid fallback)');
    const mine = newChildId();
    const pruned = pruneDeadOwners(Date.now() + 3 * 86_400_000);
    assert.ok(!pruned.includes(mine.slice(0, mine.lastIndexOf('-'))), 'never this live process');
    assert.equal(ownerAlive(mine), true);
  });
});
