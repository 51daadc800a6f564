// Generated code is committed; regenerating it must change nothing (drift check).
// Skipped, with the reason, only where the generator is not installed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { PACKAGE_ROOT } from '../../renderer/paths.js';

const hasThrift = spawnSync('thrift', ['--version']).status === 0;
const hasHeaders = existsSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h');

it('thrift/gen matches what the thrift compiler makes from thrift/step.thrift', { skip: !hasThrift && 'thrift compiler not installed (apt-get install thrift-compiler)' }, () => {
  const r = spawnSync(join(PACKAGE_ROOT, 'scripts', 'gen-thrift'), ['--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

it('the x86_64 syscall table matches the kernel headers', { skip: !hasHeaders && 'linux-libc-dev headers not installed' }, () => {
  const r = spawnSync(join(PACKAGE_ROOT, 'scripts', 'gen-syscalls'), ['--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
