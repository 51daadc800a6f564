// The native launcher refuses what would weaken a sandbox, with status 125 and a
// message on the status fd, before exec'ing anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LAUNCHER_PATH } from '../../renderer/paths.js';
import { isRoot } from '../helpers.js';

function launcher(args: string[]): { status: number | null; status3: string; stdout: string } {
  const r = spawnSync(LAUNCHER_PATH, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  return { status: r.status, status3: String(r.output[3] ?? ''), stdout: r.stdout };
}

describe('renderer-launcher', { skip: !isRoot && 'needs root' }, () => {
  it('refuses to run anything as uid or gid 0', () => {
    const r = launcher(['--status-fd', '3', '--keep-fds', '3', '--uid', '0', '--gid', '0', '--', '/bin/echo', 'ran']);
    assert.equal(r.status, 125);
    assert.match(r.status3, /^error launcher: refusing to run a sandbox as uid\/gid 0/);
    assert.equal(r.stdout, '');
  });

  it('fails, never skips, when a cgroup cannot be joined', () => {
    const r = launcher(['--status-fd', '3', '--keep-fds', '3', '--uid', '65534', '--gid', '65534', '--cgroup-join', '/nonexistent/cgroup.procs', '--', '/bin/echo', 'ran']);
    assert.equal(r.status, 125);
    assert.match(r.status3, /cannot open \/nonexistent\/cgroup.procs/);
    assert.equal(r.stdout, '');
  });

  it('drops to the step user with no groups, then cannot regain root', () => {
    const r = spawnSync(LAUNCHER_PATH, ['--status-fd', '3', '--keep-fds', '3', '--uid', '65534', '--gid', '65534', '--', '/usr/bin/id'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)');
  });

  // A non-root renderer runs the launcher with file capabilities (deploy/systemd, the
  // Dockerfile). The kernel keeps capabilities across a uid change that starts from a
  // non-zero uid, so without an explicit capset the step would hold CAP_SETUID and could
  // become root again (found on a real v2 kernel by test:vm's delegated path).
  it('started by a non-root user with cap_setuid,cap_setgid file caps: the step holds no capability', () => {
    const dir = mkdtempSync(join(tmpdir(), 'launcher-caps-'));
    try {
      const copy = join(dir, 'renderer-launcher');
      copyFileSync(LAUNCHER_PATH, copy);
      chmodSync(dir, 0o755);
      chmodSync(copy, 0o755);
      const setcap = spawnSync('setcap', ['cap_setuid,cap_setgid+ep', copy], { encoding: 'utf8' });
      assert.equal(setcap.status, 0, `setcap: ${setcap.stderr}`);
      const r = spawnSync('setpriv', ['--reuid=1999000010', '--regid=1999000010', '--clear-groups', copy, '--status-fd', '3', '--keep-fds', '3', '--uid', '1999000011', '--gid', '1999000011', '--', '/bin/grep', '^Cap[PEIA]', '/proc/self/status'], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `${r.stderr}${String(r.output[3] ?? '')}`);
      for (const line of r.stdout.trim().split('\n')) assert.match(line, /:\s+0{16}$/, line);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--version names the C library it was linked with', () => {
    const r = spawnSync(LAUNCHER_PATH, ['--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^renderer-launcher (musl|glibc)\n$/);
  });

  it('rejects unknown options and bad rlimits', () => {
    const unknown = launcher(['--status-fd', '3', '--keep-fds', '3', '--bogus', '1', '--', '/bin/echo', 'ran']);
    assert.equal(unknown.status, 125);
    assert.match(unknown.status3, /unknown or repeated option --bogus/);
    const rlimit = launcher(['--status-fd', '3', '--keep-fds', '3', '--uid', '65534', '--gid', '65534', '--rlimit', 'STACK=1:1', '--', '/bin/echo', 'ran']);
    assert.equal(rlimit.status, 125);
    assert.match(rlimit.status3, /unknown rlimit 'STACK'/);
    assert.equal(rlimit.stdout, '');
  });
});
