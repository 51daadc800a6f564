// `renderer doctor`: healthy on this host (every layer, end to end), and a host that
// lacks bubblewrap is named as such, with the fix, and fails the doctor.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { uidRangeUsers } from '../../../renderer/cli/doctor.js';
import { cli, isRoot, scratchDir } from '../../helpers.js';

interface Report {
  healthy: boolean;
  checks: Array<{ name: string; ok: boolean; required: boolean; detail: string; fix?: string }>;
}

function doctor(config: Record<string, unknown>): { status: number | null; report: Report; stderr: string } {
  const dir = scratchDir('renderer-doctor-');
  try {
    const file = join(dir.path, 'config.json');
    writeFileSync(file, JSON.stringify({ stateDir: join(dir.path, 'state'), ...config }));
    const r = cli(['doctor', '--json', '--config', file]);
    return { status: r.status, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
  } finally {
    dir.remove();
  }
}

const check = (report: Report, name: string) => report.checks.find((c) => c.name === name);

describe('renderer doctor', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  it('on this host: healthy, exit 0, a trivial step runs through every layer', () => {
    const { status, report, stderr } = doctor({});
    assert.equal(status, 0, stderr);
    assert.equal(report.healthy, true);
    for (const name of ['platform', 'bubblewrap', 'user namespaces', 'seccomp', 'cgroups', 'native helpers'])
      assert.equal(check(report, name)?.ok, true, `${name}: ${check(report, name)?.detail}`);
    assert.match(check(report, 'trivial step')?.detail ?? '', /^ok in \d+ ms/);
    // scripts/setup installs musl-tools, so the helpers are built against musl here.
    assert.equal(check(report, 'helper start-up')?.ok, true, check(report, 'helper start-up')?.detail);
  });

  it('without bubblewrap: FAIL naming it and the fix, the sandbox unavailable, exit 1', () => {
    const { status, report } = doctor({ sandbox: { bwrapPath: '/nonexistent/bwrap' } });
    assert.equal(status, 1);
    assert.equal(report.healthy, false);
    const bwrap = check(report, 'bubblewrap');
    assert.equal(bwrap?.ok, false);
    assert.match(bwrap?.detail ?? '', /\/nonexistent\/bwrap missing/);
    assert.equal(bwrap?.fix, 'apt-get install bubblewrap');
    assert.equal(check(report, 'sandbox')?.ok, false);
    assert.equal(check(report, 'trivial step'), undefined, 'no step runs without a sandbox');
  });
});

describe('renderer doctor flags', () => {
  it('a bad flag or an unreadable config: one line, exit 2', () => {
    const bad = cli(['doctor', '--bogus']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^renderer doctor: Unknown option '--bogus'/);
    const missing = cli(['doctor', '--config', '/nonexistent/renderer.json']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^renderer doctor: cannot read config file \/nonexistent\/renderer.json/);
    assert.equal(missing.stdout, '');
  });

  it('names every host account, group and subordinate id range inside the step-uid range', () => {
    const dir = scratchDir('renderer-doctor-uids-');
    try {
      const file = (name: string, text: string): string => {
        writeFileSync(join(dir.path, name), text);
        return join(dir.path, name);
      };
      const files = {
        passwd: file('passwd', 'root:x:0:0::/root:/bin/sh\nclash:x:2000000005:100::/:/bin/false\nbelow:x:1999999999:100::/:/bin/false\n'),
        group: file('group', 'root:x:0:\nclashers:x:2000004095:\n'),
        subuid: file('subuid', 'alice:100000:65536\nbob:1999990000:10001\n'),
        subgid: file('subgid', 'alice:100000:65536\n'),
      };
      assert.deepEqual(uidRangeUsers({ first: 2_000_000_000, count: 4096 }, files), [
        `account clash (2000000005) in ${files.passwd}`,
        `group clashers (2000004095) in ${files.group}`,
        `bob's range 1999990000-2000000000 in ${files.subuid}`,
      ]);
      assert.deepEqual(uidRangeUsers({ first: 3_000_000_000, count: 16 }, files), []);
    } finally {
      dir.remove();
    }
  });

  it('reports the step-uid range and what the warm pool costs in memory', () => {
    const { report } = doctor({ pool: { size: 3 } });
    assert.equal(check(report, 'step uids')?.ok, true, check(report, 'step uids')?.detail);
    assert.match(check(report, 'pool memory')?.detail ?? '', /^pool\.size 3 x \d+ MiB per warm child = \d+ MiB \(/);
  });
});
