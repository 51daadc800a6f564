// cgroup v2 (most production hosts) against a fake tree that behaves like cgroupfs
// where it matters, since this CI host has only v1 controllers; v1 is exercised for
// real by every run in the other tests. Plus the parsing of /proc/self/{mountinfo,cgroup}.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { realCgroupFs, type CgroupFs } from '../../../renderer/sandbox/cgroup/cgroup-fs.js';
import { parseMountinfo, parseProcCgroup, type V2Layout } from '../../../renderer/sandbox/cgroup/detect.js';
import { prepareV2Base, v2Driver } from '../../../renderer/sandbox/cgroup/driver.js';
import { scratchDir } from '../../helpers.js';

const CONTROLLERS = 'cpuset cpu io memory hugetlb pids rdma misc';

/** A directory tree acting like cgroup2fs: new cgroups get interface files, the
 * controllers a child may use are its parent's subtree_control, cgroup.kill empties
 * cgroup.procs, rmdir removes a cgroup with its interface files. */
function fakeCgroupFs(writes: string[]): CgroupFs {
  const populate = (dir: string): void => {
    const files: Record<string, string> = {
      'cgroup.subtree_control': '',
      'cgroup.procs': '',
      'cgroup.kill': '',
      'memory.max': 'max',
      'memory.swap.max': 'max',
      'memory.oom.group': '0',
      'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
      'memory.peak': '0',
      'memory.current': '0',
      'pids.max': 'max',
      'cpu.max': 'max 100000',
      'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
    };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  };
  return {
    ...realCgroupFs,
    // Like the kernel: what a child may use is its parent's subtree_control, live.
    async read(path) {
      if (basename(path) === 'cgroup.controllers' && !existsSync(path)) {
        const control = join(dirname(dirname(path)), 'cgroup.subtree_control');
        if (!existsSync(dirname(path))) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
        return existsSync(control) ? readFileSync(control, 'utf8') : '';
      }
      return realCgroupFs.read(path);
    },
    async mkdir(path) {
      if (existsSync(path)) return;
      mkdirSync(path, { recursive: true });
      populate(path);
    },
    async write(path, data) {
      writes.push(`${path}=${data}`);
      const name = basename(path);
      if (name === 'cgroup.subtree_control') {
        const enabled = new Set(readFileSync(path, 'utf8').split(/\s+/).filter(Boolean));
        const available = (await this.read(join(dirname(path), 'cgroup.controllers'))).split(/\s+/);
        for (const change of data.split(/\s+/).filter(Boolean)) {
          const controller = change.slice(1);
          if (!available.includes(controller)) throw Object.assign(new Error(`ENOENT ${controller}`), { code: 'ENOENT' });
          if (change.startsWith('+')) enabled.add(controller);
          else enabled.delete(controller);
        }
        writeFileSync(path, [...enabled].join(' '));
      } else if (name === 'cgroup.kill') {
        writeFileSync(join(dirname(path), 'cgroup.procs'), '');
      } else writeFileSync(path, data);
    },
    async rmdir(path) {
      if (readFileSync(join(path, 'cgroup.procs'), 'utf8').trim()) throw Object.assign(new Error('EBUSY'), { code: 'EBUSY' });
      rmSync(path, { recursive: true });
    },
  };
}

describe('cgroup v2 driver (fake cgroup2 tree)', () => {
  let dir: ReturnType<typeof scratchDir>;
  let mount: string;
  const writes: string[] = [];
  const fs = fakeCgroupFs(writes);

  before(() => {
    dir = scratchDir();
    mount = join(dir.path, 'sys-fs-cgroup');
    mkdirSync(mount);
    writeFileSync(join(mount, 'cgroup.controllers'), CONTROLLERS);
    writeFileSync(join(mount, 'cgroup.subtree_control'), '');
    writeFileSync(join(mount, 'cgroup.procs'), '');
  });
  after(() => dir.remove());

  const layout = (own: string): V2Layout => ({ version: 2, mount, own, controllers: CONTROLLERS.split(' ') });

  it('prepares <mount>/renderer as root would: enables memory, pids and cpu down to it', async () => {
    const base = join(mount, 'renderer');
    const enabled = await prepareV2Base(layout(join(mount, 'user.slice')), base, fs);
    assert.deepEqual(enabled, ['memory', 'pids', 'cpu']);
    assert.equal(readFileSync(join(mount, 'cgroup.subtree_control'), 'utf8'), 'memory pids cpu');
    assert.equal(readFileSync(join(base, 'cgroup.subtree_control'), 'utf8'), 'memory pids cpu');
  });

  it('with systemd Delegate=yes, moves itself out of its own cgroup first (no internal processes)', async () => {
    const service = join(mount, 'system.slice', 'renderer.service');
    await fs.mkdir(join(mount, 'system.slice'));
    await fs.write(join(mount, 'system.slice', 'cgroup.subtree_control'), '+memory +pids +cpu');
    await fs.mkdir(service);
    await prepareV2Base(layout(service), service, fs);
    assert.equal(readFileSync(join(service, 'supervisor', 'cgroup.procs'), 'utf8'), String(process.pid));
    assert.equal(readFileSync(join(service, 'cgroup.subtree_control'), 'utf8'), 'memory pids cpu');
  });

  it('names the missing controller when the delegation lacks one', async () => {
    const poor = join(mount, 'poor');
    await fs.mkdir(poor);
    await fs.write(join(mount, 'cgroup.subtree_control'), '-pids');
    try {
      await assert.rejects(prepareV2Base(layout(join(mount, 'x')), join(poor, 'renderer'), fs), /does not offer pids/);
    } finally {
      await fs.write(join(mount, 'cgroup.subtree_control'), '+pids');
    }
  });

  it('creates a run cgroup with every limit: memory, swap off, group OOM kill, pids, CPU quota', async () => {
    const base = join(mount, 'renderer');
    const driver = v2Driver(base, fs, ['memory', 'pids', 'cpu']);
    const run = await driver.create('run-abc', { memoryBytes: 256 * 1024 * 1024, maxProcesses: 64, cpuCores: 0.5 });
    const dirOf = join(base, 'run-abc');
    assert.deepEqual(run.joinFiles, [], 'v2: born in the cgroup (clone3), not migrated');
    assert.equal(run.intoDir, dirOf);
    assert.equal(readFileSync(join(dirOf, 'memory.max'), 'utf8'), String(256 * 1024 * 1024));
    assert.equal(readFileSync(join(dirOf, 'memory.swap.max'), 'utf8'), '0');
    assert.equal(readFileSync(join(dirOf, 'memory.oom.group'), 'utf8'), '1');
    assert.equal(readFileSync(join(dirOf, 'pids.max'), 'utf8'), '64');
    assert.equal(readFileSync(join(dirOf, 'cpu.max'), 'utf8'), '50000 100000');

    // The kernel's own counters are the only source of oom_killed and peak memory.
    writeFileSync(join(dirOf, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    writeFileSync(join(dirOf, 'memory.peak'), '123456');
    writeFileSync(join(dirOf, 'cpu.stat'), 'usage_usec 2500000\n');
    writeFileSync(join(dirOf, 'pids.events'), 'max 7\n');
    assert.deepEqual(await run.stats(), { oomKills: 1, peakMemoryBytes: 123456, memoryBytes: 0, cpuSeconds: 2.5, pidsLimitHits: 7 });

    writeFileSync(join(dirOf, 'cgroup.procs'), '999999\n');
    await run.kill();
    assert.ok(writes.includes(`${join(dirOf, 'cgroup.kill')}=1`), 'cgroup.kill, not a pid hunt');
    await run.remove();
    assert.equal(existsSync(dirOf), false);
  });

  it('reports peak memory as null (not a guess) where memory.peak does not exist', async () => {
    const driver = v2Driver(join(mount, 'renderer'), fs, ['memory', 'pids']);
    const run = await driver.create('run-old-kernel', { memoryBytes: 1 << 26, maxProcesses: 8 });
    rmSync(join(mount, 'renderer', 'run-old-kernel', 'memory.peak'));
    assert.equal((await run.stats()).peakMemoryBytes, null);
    await run.remove();
  });

  it('removes a crashed predecessor\'s run cgroups, and only those', async () => {
    const base = join(mount, 'renderer');
    const driver = v2Driver(base, fs, ['memory', 'pids']);
    for (const name of ['run-old-1', 'run-old-2', 'run-live']) await driver.create(name, { memoryBytes: 1 << 26, maxProcesses: 8 });
    await fs.mkdir(join(base, 'not-a-run'));
    const removed = await driver.removeStale((name) => name === 'run-live');
    assert.deepEqual(removed.sort(), ['run-old-1', 'run-old-2']);
    assert.ok(existsSync(join(base, 'run-live')));
    assert.ok(existsSync(join(base, 'not-a-run')));
  });
});

describe('cgroup detection', () => {
  it('parses a pure cgroup v2 host', () => {
    const mounts = parseMountinfo('30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n');
    assert.deepEqual(mounts, [{ root: '/', point: '/sys/fs/cgroup', fstype: 'cgroup2', superOptions: ['rw', 'nsdelegate', 'memory_recursiveprot'] }]);
    assert.equal(parseProcCgroup('0::/system.slice/renderer.service\n').get(''), '/system.slice/renderer.service');
  });

  it('parses this kind of v1 host (separate hierarchies, a cgroup2 mount without controllers)', () => {
    const text = [
      '36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory',
      '37 25 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct',
      '40 25 0:35 / /sys/fs/cgroup/unified rw,relatime shared:18 - cgroup2 cgroup2 rw',
    ].join('\n');
    const mounts = parseMountinfo(text);
    assert.equal(mounts.length, 3);
    assert.deepEqual(mounts[1]!.superOptions, ['rw', 'cpu', 'cpuacct']);
    const own = parseProcCgroup('4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/\n');
    assert.equal(own.get('memory'), '/process_api/abc');
    assert.equal(own.get('cpuacct'), '/');
  });
});
