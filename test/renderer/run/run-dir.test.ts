// The run directory a non-root renderer makes: it cannot chown the output file to the
// step uid (EPERM; found on a real v2 kernel by test:vm's delegated path), so it gives
// that uid alone an ACL entry. The step uid can write it; another uid cannot.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../../renderer/paths.js';
import { isRoot, scratchDir } from '../../helpers.js';

const RUN_DIR_MODULE = join(PACKAGE_ROOT, 'dist', 'renderer', 'run', 'run-dir.js');
const [RENDERER_UID, STEP_UID, OTHER_UID] = [1_999_000_001, 1_999_000_002, 1_999_000_003];

const as = (uid: number, args: string[]) => spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...args], { encoding: 'utf8' });

describe('run directories of a non-root renderer', { skip: !isRoot && 'needs root to act as three uids' }, () => {
  const dir = scratchDir();
  after(() => dir.remove());

  it('the output file is writable by the step uid alone, through an ACL', () => {
    const runs = join(dir.path, 'runs');
    mkdirSync(runs, { mode: 0o711 });
    chownSync(runs, RENDERER_UID, RENDERER_UID);
    spawnSync('chmod', ['o+x', dir.path]);
    const made = as(RENDERER_UID, [process.execPath, '--input-type=module', '-e', `const { createRunDir } = await import(${JSON.stringify(RUN_DIR_MODULE)}); console.log(createRunDir(${JSON.stringify(runs)}, 'r1', ${STEP_UID}, ${STEP_UID}).outputFile);`]);
    assert.equal(made.status, 0, made.stderr);
    const output = made.stdout.trim();
    assert.equal(as(STEP_UID, ['sh', '-c', `printf step > ${output}`]).status, 0, 'the step uid writes its output');
    assert.equal(readFileSync(output, 'utf8'), 'step');
    assert.notEqual(as(OTHER_UID, ['sh', '-c', `printf other > ${output}`]).status, 0, 'another uid cannot');
    assert.notEqual(as(OTHER_UID, ['cat', output]).status, 0, 'nor read it');
  });
});
