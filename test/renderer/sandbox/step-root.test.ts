// The prepared root of step sandboxes (step-root.ts): host files are the host's own
// inodes, a file that cannot be linked is bound instead, and a changed host file makes
// a new root rather than changing one in use.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareStepRoot } from '../../../renderer/sandbox/step-root.js';
import { scratchDir } from '../../helpers.js';

describe('step root', () => {
  let dir: ReturnType<typeof scratchDir>;
  let host: string;
  let runtimeDir: string;
  before(() => {
    dir = scratchDir();
    host = join(dir.path, 'host');
    runtimeDir = join(dir.path, 'runtime');
    mkdirSync(join(host, 'usr', 'bin'), { recursive: true });
    mkdirSync(join(host, 'lib'), { recursive: true });
    mkdirSync(runtimeDir);
    writeFileSync(join(host, 'usr', 'bin', 'node'), 'node binary');
    writeFileSync(join(host, 'lib', 'libc.so.6'), 'libc');
    writeFileSync(join(runtimeDir, 'step-runtime.cjs'), 'runtime');
  });
  after(() => dir.remove());

  const spec = (hostFiles: string[], stateDir = join(dir.path, 'state')) => ({
    stateDir,
    runtimeDir,
    hostFiles,
    mountDirs: ['/tmp', '/proc', '/run/in', '/run/out'],
  });

  it('holds links to the host files and the runtime, the mount points, and nothing else', () => {
    const node = join(host, 'usr', 'bin', 'node');
    const libc = join(host, 'lib', 'libc.so.6');
    const root = prepareStepRoot(spec([node, libc]));
    assert.deepEqual(root.binds, [], 'everything could be linked');
    for (const file of [node, libc]) assert.equal(statSync(join(root.dir, file)).ino, statSync(file).ino, `${file} is the host's inode`);
    assert.equal(statSync(join(root.dir, 'opt/renderer/step-runtime.cjs')).ino, statSync(join(runtimeDir, 'step-runtime.cjs')).ino);
    for (const mount of ['tmp', 'proc', 'run/in', 'run/out']) assert.ok(statSync(join(root.dir, mount)).isDirectory(), mount);
    assert.deepEqual(readdirSync(join(root.dir, 'dev')).sort(), ['fd', 'null', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']);
    assert.equal(readlinkSync(join(root.dir, 'dev', 'fd')), '/proc/self/fd');
    assert.deepEqual(readdirSync(root.dir).sort(), [...new Set(['dev', 'opt', 'proc', 'run', 'tmp', host.split('/')[1]!])].sort());
    assert.equal(statSync(root.dir).mode & 0o777, 0o755, 'readable by the step user, writable by nobody else');
    assert.equal(prepareStepRoot(spec([node, libc])).dir, root.dir, 'the same inputs find the same root');
  });

  it('a changed host file makes a new root; the old one keeps the old file', () => {
    const node = join(host, 'usr', 'bin', 'node');
    const before = prepareStepRoot(spec([node]));
    const oldInode = statSync(node).ino;
    // An upgrade replaces the file: dpkg renames a new one into place.
    writeFileSync(`${node}.new`, 'upgraded node');
    renameSync(`${node}.new`, node);
    const afterUpgrade = prepareStepRoot(spec([node]));
    assert.notEqual(afterUpgrade.dir, before.dir);
    assert.equal(statSync(join(afterUpgrade.dir, node)).ino, statSync(node).ino);
    assert.equal(statSync(join(before.dir, node)).ino, oldInode, 'a root in use never changes under a run');
  });

  it('a host file that cannot be linked (another filesystem) is bound onto a stub instead', { skip: !existsSync('/dev/shm') && 'no /dev/shm' }, (t) => {
    const shmDir = join('/dev/shm', `renderer-step-root-${process.pid}`);
    mkdirSync(shmDir, { recursive: true });
    const foreign = join(shmDir, 'libforeign.so');
    writeFileSync(foreign, 'elsewhere');
    try {
      if (statSync(shmDir).dev === statSync(dir.path).dev) {
        t.skip('/dev/shm and the scratch directory share a filesystem here: every file links');
        return;
      }
      const root = prepareStepRoot(spec([foreign], join(dir.path, 'state-foreign')));
      assert.deepEqual(root.binds, [{ source: foreign, dest: foreign }]);
      const stub = lstatSync(join(root.dir, foreign));
      assert.ok(stub.isFile() && stub.size === 0, 'an empty stub to bind onto');
    } finally {
      rmSync(shmDir, { recursive: true, force: true });
    }
  });
});
