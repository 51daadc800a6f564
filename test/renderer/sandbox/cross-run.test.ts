// One sandbox against another (issue 13 item 6). With one step uid for every sandbox, a
// process running as that uid could open a live run's private /tmp through
// /proc/PID/root (and ptrace it): the kernel's check is "same uid, dumpable". Every live
// sandbox now has a uid of its own, so the same attempt from another sandbox's uid, or
// from `nobody`, is refused. The control (the run's own uid can) shows the test can fail.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { BIN, isRoot, waitFor } from '../../helpers.js';

/** Reads `path` as uid:gid `uid` with no groups; the file's text, or null when refused. */
function readAs(uid: number, path: string): string | null {
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'cat', path], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : null;
}

const uidOf = (pid: number): number => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** The pid of the sandboxed shell whose /tmp/secret holds `secret` (root can look). */
function findHolder(secret: string): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/root/tmp/secret`, 'utf8').trim() === secret) return Number(name);
    } catch {
      /* not ours, or gone */
    }
  }
  return null;
}

describe('one sandbox cannot reach another', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  const children: ChildProcess[] = [];
  after(() => children.forEach((child) => child.kill('SIGTERM')));

  it('a live run\'s /tmp through /proc/PID/root: its own uid can, another run\'s uid and nobody cannot', { timeout: 60_000 }, async () => {
    const secrets = [randomUUID(), randomUUID()];
    for (const secret of secrets)
      children.push(spawn(process.execPath, [BIN, 'sandbox', '--timeout-ms', '60000', '--', '/bin/sh', '-c', `echo ${secret} > /tmp/secret; while :; do read x < /tmp/secret; done`], { stdio: 'ignore' }));
    const pids: number[] = [];
    for (const secret of secrets) {
      let pid: number | null = null;
      await waitFor(() => (pid = findHolder(secret)) !== null, 30_000, 'the sandboxed shell');
      pids.push(pid!);
    }
    const [a, b] = pids as [number, number];
    const [uidA, uidB] = [uidOf(a), uidOf(b)];
    assert.notEqual(uidA, uidB, 'two live sandboxes never share a uid');
    assert.equal(readAs(uidA, `/proc/${a}/root/tmp/secret`)?.trim(), secrets[0], 'control: the same uid can (so one shared uid was the hole)');
    assert.equal(readAs(uidB, `/proc/${a}/root/tmp/secret`), null, 'another run\'s uid cannot');
    assert.equal(readAs(uidA, `/proc/${b}/root/tmp/secret`), null, 'nor the other way round');
    assert.equal(readAs(65534, `/proc/${a}/root/tmp/secret`), null, 'nor nobody, the old shared step uid');
  });
});
