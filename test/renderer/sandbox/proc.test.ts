// What /proc tells a sandboxed program about the host (issue 13): the kernel's command
// line, kernel symbol names, timers and keys of the host are masked; and in `renderer
// sandbox`, /proc/self/mountinfo, which shows the host path of every bind, names
// neither the state directory nor a run directory carrying the renderer's pid.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, isRoot, runJson, scratchDir, step } from '../../helpers.js';

/** `renderer ARGS` with its pid, which names its run directories (run/owner.ts). */
function renderer(args: string[]): Promise<{ pid: number; status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ pid: child.pid!, status, stdout, stderr }));
  });
}

describe('/proc inside the sandbox', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let dir: ReturnType<typeof scratchDir>;
  let stateDir: string;
  let config: string;
  before(() => {
    dir = scratchDir();
    // A state directory whose path can only come from the renderer's own binds.
    stateDir = join(dir.path, 'state-dir-marker-4e1c');
    config = join(dir.path, 'config.json');
    writeFileSync(config, JSON.stringify({ stateDir }));
  });
  after(() => dir.remove());

  it('renderer sandbox: the kernel command line, symbols, timers and keys read empty', async () => {
    const hostCmdline = readFileSync('/proc/cmdline', 'utf8').trim();
    assert.ok(hostCmdline.length > 0, 'the host has a kernel command line to leak');
    // Those a step could read at all (timer_list is 0400 on some kernels, config.gz absent on others).
    const files = ['/proc/cmdline', '/proc/kallsyms', '/proc/timer_list', '/proc/keys', '/proc/key-users', '/proc/config.gz'].filter(
      (path) => existsSync(path) && (statSync(path).mode & 0o004) !== 0,
    );
    for (const path of files) {
      const r = await renderer(['sandbox', '--config', config, '--', '/bin/cat', path]);
      assert.equal(r.status, 0, `${path}: ${r.stderr}`);
      assert.equal(r.stdout, '', `${path} shows ${r.stdout.slice(0, 80)}`);
    }
    const r = await renderer(['sandbox', '--config', config, '--', '/bin/ls', '-A', '/proc/acpi']);
    if (existsSync('/proc/acpi')) assert.equal(r.stdout, '', '/proc/acpi is empty');
  });

  it('renderer sandbox: mountinfo and the rest of /proc/self name neither the state directory nor the renderer\'s pid', async () => {
    const paths = ['/proc/self/mountinfo', '/proc/self/mounts', '/proc/self/mountstats', '/proc/self/maps', '/proc/self/cgroup', '/proc/1/cmdline', '/proc/self/environ'];
    const r = await renderer(['sandbox', '--config', config, '--', '/bin/cat', ...paths]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, / \/proc proc /, 'mountinfo was read');
    assert.ok(!r.stdout.includes(stateDir), `the state directory shows:\n${r.stdout}`);
    assert.ok(!r.stdout.includes('state-dir-marker'), 'not even its name');
    // Run directories and cgroups are named "<pid base 36>_<start time>_..." (owner.ts).
    assert.doesNotMatch(r.stdout, new RegExp(`(^|[/ ])${r.pid.toString(36)}_[0-9a-z]+_`, 'm'), 'a run name with the renderer\'s pid shows');
    assert.ok(!r.stdout.includes('/runs/') && !r.stdout.includes('/runtime/'), r.stdout);
  });

  it('steps: the same masks (the JS sandbox shares the bwrap arguments)', () => {
    const noPermissionModel = join(dir.path, 'no-pm.json');
    writeFileSync(noPermissionModel, JSON.stringify({ stateDir, sandbox: { nodePermissionModel: false } }));
    const { result } = runJson(step('attack'), ['--config', noPermissionModel, '--params', JSON.stringify({ actions: [['read', '/proc/cmdline'], ['read', '/proc/kallsyms']] })]);
    assert.equal(result.outcome, 'ok', result.error ?? '');
    const seen = result.json as Record<string, string>;
    assert.equal(seen['read /proc/cmdline'], 'OK 0 bytes');
    assert.equal(seen['read /proc/kallsyms'], 'OK 0 bytes');
  });
});
