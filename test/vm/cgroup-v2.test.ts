// The sandbox on a real cgroup v2 kernel (issue 14). Runs only inside the VM that
// `npm run test:vm` boots (scripts/vm/): Debian's kernel, cgroup2 mounted alone with
// every controller. Elsewhere it is skipped, saying where it runs. Each outcome is read
// from the v2 file that is its evidence: oom_killed from memory.events, the peak from
// memory.peak, the timeout's kill through cgroup.kill, a fork bomb stopped by pids.max,
// and nothing left behind in the hierarchy.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configFrom } from '../../renderer/config/load.js';
import { LAUNCHER_PATH, PACKAGE_ROOT } from '../../renderer/paths.js';
import { detectCgroups } from '../../renderer/sandbox/cgroup/detect.js';
import { runStep } from '../../renderer/run/run-step.js';
import { Runner } from '../../renderer/run/runner.js';
import { BIN, scratchDir, startDaemon, step } from '../helpers.js';

const IN_VM = process.env.RENDERER_TEST_VM === '1';
const skip = !IN_VM && 'runs in the cgroup v2 VM: npm run test:vm';

/** Run cgroups left under the renderer's base, by any renderer of this boot. */
function runCgroupsLeft(): string[] {
  const base = '/sys/fs/cgroup/renderer';
  return existsSync(base) ? readdirSync(base).filter((name) => name.startsWith('run-')) : [];
}

describe('cgroup v2 on a real kernel', { skip }, () => {
  let runner: Runner;
  let dir: ReturnType<typeof scratchDir>;
  before(async () => {
    dir = scratchDir();
    runner = await Runner.create(configFrom({ stateDir: dir.path }));
  });
  after(async () => {
    await runner.settle();
    dir.remove();
  });
  const limits = (overrides: Record<string, number> = {}) => ({ ...runner.limits(), timeoutMs: 120_000, ...overrides });

  it('the host is pure v2: cgroup2 alone, with memory, pids and cpu; the driver is v2', async () => {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.doesNotMatch(mounts, / - cgroup /, 'no v1 hierarchy is mounted');
    const layout = await detectCgroups();
    assert.equal(layout.version, 2);
    assert.ok(layout.version === 2 && ['memory', 'pids', 'cpu'].every((c) => layout.controllers.includes(c)));
    assert.match(runner.sandbox!.cgroups!.description, /^cgroup v2 under /);
    const doctor = spawnSync(process.execPath, [BIN, 'doctor', '--json'], { encoding: 'utf8', timeout: 300_000 });
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ name: string; detail: string }> }).checks;
    assert.match(checks.find((c) => c.name === 'cgroups')!.detail, /^root on v2 at \/sys\/fs\/cgroup: /, 'renderer doctor names the path');
  });

  it('ok: peakMemoryBytes comes from memory.peak, cpuSeconds from cpu.stat', async () => {
    const result = await runStep(runner, { step: { code: 'export function render() { globalThis.k = Buffer.alloc(48 << 20, 1); return { json: 1 }; }' }, limits: limits({ memoryMiB: 256 }) });
    assert.equal(result.outcome, 'ok', result.error ?? '');
    assert.ok(result.peakMemoryBytes! >= 48 << 20 && result.peakMemoryBytes! <= 256 << 20, `peak ${result.peakMemoryBytes}`);
    assert.ok(result.cpuSeconds! > 0);
  });

  it('oom_killed: the memory bomb is counted by memory.events oom_kill, under the limit', async () => {
    const result = await runStep(runner, { step: { path: step('memory-bomb') }, limits: limits({ memoryMiB: 96 }) });
    assert.equal(result.outcome, 'oom_killed', `${result.outcome}: ${result.error}`);
    assert.ok(result.peakMemoryBytes! <= 96 << 20, `peak ${result.peakMemoryBytes}`);
  });

  it('timeout: a spinning step is killed whole through cgroup.kill at its limit', async () => {
    const result = await runStep(runner, { step: { path: step('hangs') }, limits: limits({ timeoutMs: 3000 }) });
    assert.equal(result.outcome, 'timeout', `${result.outcome}: ${result.error}`);
    assert.equal(result.signal, 'SIGKILL');
  });

  it('a fork bomb in renderer sandbox stops at pids.max and leaves nothing', () => {
    const r = spawnSync(process.execPath, [BIN, 'sandbox', '--timeout-ms', '60000', '--', '/bin/sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 5; echo survived'], { encoding: 'utf8', timeout: 180_000 });
    assert.notEqual(r.status, null, 'renderer sandbox ended');
    assert.equal(runCgroupsLeft().length, 0, `left: ${runCgroupsLeft().join(', ')}`);
    const stray = spawnSync('ps', ['-eo', 'uid=']).stdout?.toString().split('\n').map(Number).filter((uid) => uid >= 2_000_000_000) ?? [];
    assert.deepEqual(stray, [], 'no process of a step uid is left');
  });

  it('nothing is left behind: no run cgroup, no run directory', async () => {
    await runner.settle();
    assert.deepEqual(runCgroupsLeft(), []);
    assert.deepEqual(readdirSync(join(dir.path, 'runs')), []);
  });
});

/** An unprivileged renderer user, as deploy/ sets one up: a home, a private hostDir, and
 * the launcher executable by its group only, with cap_setuid,cap_setgid. */
const user = 'renderer-vm';
const home = '/tmp/renderer-vm-home';
function prepareUser(): void {
  const script = [
    `(id ${user} >/dev/null 2>&1 || useradd --system --home-dir ${home} ${user})`,
    `mkdir -p ${home} /run/renderer-vm && chown ${user}: ${home} /run/renderer-vm && chmod 700 /run/renderer-vm`,
    `echo '{"sandbox": {"hostDir": "/run/renderer-vm"}}' > ${home}/config.json`,
    `echo '{"stateDir": "${home}/docker-state", "sandbox": {"hostDir": "/run/renderer-vm", "cgroupRoot": "/sys/fs/cgroup/renderer"}}' > ${home}/docker.json`,
    `chgrp ${user} ${LAUNCHER_PATH} && chmod 0750 ${LAUNCHER_PATH} && setcap cap_setuid,cap_setgid+ep ${LAUNCHER_PATH}`,
  ].join(' && ');
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

describe('clone3(CLONE_INTO_CGROUP): the launcher\'s child is born in the run cgroup', { skip }, () => {
  const dir = '/sys/fs/cgroup/renderer/clone3-probe';
  const launcher = (join: string[], command: string[]) =>
    spawnSync(LAUNCHER_PATH, ['--status-fd', '3', '--keep-fds', '3', '--uid', '1999000020', '--gid', '1999000020', ...join, '--', ...command], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  before(() => spawnSync('mkdir', ['-p', dir]));
  after(() => spawnSync('rmdir', [dir]));

  it('the command runs in the cgroup while the launcher that started it stays outside', () => {
    const r = launcher(['--cgroup-into', dir], ['/bin/sh', '-c', `cat /proc/self/cgroup; cat /proc/$PPID/comm; grep -qx $PPID ${dir}/cgroup.procs && echo parent-inside || echo parent-outside`]);
    assert.equal(r.status, 0, `${r.stderr}${String(r.output[3] ?? '')}`);
    assert.match(r.stdout, /^0::\/renderer\/clone3-probe$/m);
    assert.match(r.stdout, /^renderer-launch/m, 'the parent is the launcher that cloned it: no migration of the launcher itself');
    assert.match(r.stdout, /^parent-outside$/m);
  });

  it('the exit status and a killing signal pass through the waiting parent', () => {
    assert.equal(launcher(['--cgroup-into', dir], ['/bin/sh', '-c', 'exit 7']).status, 7);
    assert.equal(launcher(['--cgroup-into', dir], ['/bin/sh', '-c', 'kill -9 $$']).signal, 'SIGKILL');
  });

  it('cost against migrating through cgroup.procs, measured in the same run (printed, not asserted)', (t) => {
    const time = (join: string[]): number => {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 60; i++) assert.equal(launcher(join, ['/bin/true']).status, 0);
      return Number(process.hrtime.bigint() - started) / 1e6 / 60;
    };
    time(['--cgroup-into', dir]);
    const migrate = time(['--cgroup-join', `${dir}/cgroup.procs`]);
    const clone = time(['--cgroup-into', dir]);
    t.diagnostic(`launch into a v2 cgroup: clone3 ${clone.toFixed(2)} ms, migration ${migrate.toFixed(2)} ms, ratio ${(clone / migrate).toFixed(2)}`);
  });
});

describe('the container path: a cgroup namespace of its own whose root holds the container', { skip }, () => {
  /** Runs `command` as a "container": in a cgroup `name` under the real root, then in a
   * cgroup and mount namespace of its own with cgroup2 mounted afresh, as
   * `docker run --cgroupns=private` leaves it (its root holding the container's processes). */
  const inContainer = (name: string, command: string) => {
    const script = [
      `mkdir -p /sys/fs/cgroup/${name}`,
      `echo $$ > /sys/fs/cgroup/${name}/cgroup.procs`,
      `exec unshare --cgroup --mount --propagation private --fork sh -c 'umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && ${command}'`,
    ].join(' && ');
    return spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', timeout: 300_000 });
  };

  it('the renderer moves the container into a leaf, enables controllers at the namespace root, and its limits hold', () => {
    const r = inContainer('ctr-a', `${process.execPath} ${BIN} run --json --memory-mib 96 ${step('memory-bomb')}`);
    assert.equal(JSON.parse(r.stdout).outcome, 'oom_killed', r.stderr);
    assert.ok(existsSync('/sys/fs/cgroup/ctr-a/renderer'), 'run cgroups live under the container\'s own cgroup');
    assert.ok(existsSync('/sys/fs/cgroup/ctr-a/init'), 'the container\'s processes moved into a leaf');
    assert.deepEqual(readdirSync('/sys/fs/cgroup/ctr-a/renderer').filter((n) => n.startsWith('run-')), []);
  });

  it('deploy/docker/entrypoint.sh there: delegates renderer/ to the unprivileged user, whose limits hold', () => {
    prepareUser();
    const entrypoint = join(PACKAGE_ROOT, 'deploy', 'docker', 'entrypoint.sh');
    const r = inContainer('ctr-d', `RENDERER_HOME=${PACKAGE_ROOT} RENDERER_USER=${user} ${entrypoint} run --json --config ${home}/docker.json --memory-mib 96 ${step('memory-bomb')}`);
    assert.equal(JSON.parse(r.stdout || '{}').outcome, 'oom_killed', `${r.stdout}\n${r.stderr}`);
    assert.ok(existsSync('/sys/fs/cgroup/ctr-d/renderer/supervisor'), 'the renderer moved into renderer/supervisor');
    assert.ok(existsSync('/sys/fs/cgroup/ctr-d/init'), 'the container\'s other processes moved into init/');
  });

  it('two containers side by side never share a renderer cgroup', () => {
    for (const name of ['ctr-b', 'ctr-c']) {
      const r = inContainer(name, `${process.execPath} ${BIN} sandbox -- /bin/true`);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(existsSync(`/sys/fs/cgroup/${name}/renderer`), name);
    }
  });
});

describe('the delegated path: an ordinary user owning a delegated subtree (systemd Delegate=yes)', { skip }, () => {
  it('the renderer as a non-root user, the launcher with cap_setuid,cap_setgid only: limits hold, runs live under its subtree', () => {
    const unit = '/sys/fs/cgroup/renderer-vm.service';
    const config = `${home}/config.json`;
    // What systemd does for a Delegate=yes service, and what deploy/systemd says to do.
    prepareUser();
    const setup = [
      `mkdir -p ${unit} && echo '+memory +pids +cpu' > /sys/fs/cgroup/cgroup.subtree_control`,
      `chown ${user}: ${unit} ${unit}/cgroup.procs ${unit}/cgroup.subtree_control ${unit}/cgroup.threads`,
      `echo $$ > ${unit}/cgroup.procs`,
      `exec setpriv --reuid ${user} --regid ${user} --init-groups --inh-caps=-all env HOME=${home} ${process.execPath} ${BIN} run --json --config ${config} --memory-mib 96 ${step('memory-bomb')}`,
    ].join(' && ');
    const r = spawnSync('/bin/sh', ['-c', setup], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(JSON.parse(r.stdout || '{}').outcome, 'oom_killed', `${r.stdout}\n${r.stderr}`);
    assert.ok(existsSync(`${unit}/supervisor`), 'the renderer moved itself into supervisor/ of its own cgroup');
    assert.deepEqual(readdirSync(unit).filter((n) => n.startsWith('run-')), [], 'its run cgroup was under its subtree, and is gone');
  });
});

describe('a short daemon soak on cgroup v2', { skip }, () => {
  it('20 runs, 2 at a time, from a warm pool: all ok, nothing left', { timeout: 600_000 }, async () => {
    const d = await startDaemon({ pool: { size: 2 }, server: { port: 0, maxConcurrentRuns: 2 }, limits: { timeoutMs: 120_000 } });
    try {
      const outcomes: string[] = [];
      const one = async (): Promise<void> => {
        const response = await d.inject({ method: 'POST', url: '/v1/runs', payload: JSON.stringify({ step: { name: 'example-sum' }, input: { path: 'sample.arrow' } }), headers: { 'content-type': 'application/json' } });
        outcomes.push(response.json().outcome ?? response.body);
      };
      for (let i = 0; i < 10; i++) await Promise.all([one(), one()]);
      assert.deepEqual([...new Set(outcomes)], ['ok'], outcomes.join(', '));
    } finally {
      await d.stop();
    }
    assert.deepEqual(runCgroupsLeft(), []);
  });
});
