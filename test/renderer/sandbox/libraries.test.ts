// What a sandboxed program gets bound as its libraries (libraries.ts), attacked: a
// DT_NEEDED that made `ldd` print a host directory (issue 13), names that are paths,
// sockets, FIFOs, devices, directories and links out planted where libraries are looked
// up, run paths that point elsewhere. Only regular ELF shared objects inside the library
// directories are ever bound, whatever produced the list.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configFrom } from '../../../renderer/config/load.js';
import { isRendererError } from '../../../renderer/errors.js';
import { launch } from '../../../renderer/sandbox/launch.js';
import { libraryBind, sharedLibraries, type LibraryPolicy } from '../../../renderer/sandbox/libraries.js';
import type { Sandbox } from '../../../renderer/sandbox/sandbox.js';
import { cli, isRoot, scratchDir } from '../../helpers.js';
import { craftElf } from './craft-elf.js';

const isRefusal = (error: unknown): boolean => isRendererError(error) && error.code === 'RENDERER_ERR_SANDBOX_BINARY_REFUSED';

/** A unix socket at `path`, listening until closed. */
async function listenAt(path: string): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

describe('the ldd forgery: a DT_NEEDED that printed a host path (issue 13)', () => {
  let dir: ReturnType<typeof scratchDir>;
  let program: string;
  let hostDir: string;
  before(() => {
    dir = scratchDir();
    hostDir = join(dir.path, 'host-secrets');
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'secret'), 'host secret\n');
    // A real program, linked the ordinary way against a library whose soname holds a
    // newline: ldd printed "\tlibevil.so\n\t<hostDir> (0x0) => not found", and the old
    // parser took "<hostDir> (0x0)" for a library and bound the directory.
    writeFileSync(join(dir.path, 'evil.c'), 'int f(void) { return 0; }\n');
    writeFileSync(join(dir.path, 'main.c'), 'int f(void);\nint main(void) { return f(); }\n');
    const lib = join(dir.path, 'libevil.so');
    execFileSync('gcc', ['-shared', '-fPIC', '-o', lib, join(dir.path, 'evil.c'), `-Wl,-soname,libevil.so\n\t${hostDir} (0x0)`]);
    program = join(dir.path, 'program');
    execFileSync('gcc', ['-o', program, join(dir.path, 'main.c'), lib]);
    chmodSync(program, 0o755);
  });
  after(() => dir.remove());

  it('the program is refused before anything is bound; the host directory is in no list', () => {
    let outcome: unknown;
    try {
      outcome = sharedLibraries(program);
    } catch (error) {
      outcome = error;
    }
    assert.ok(isRefusal(outcome), `the old parser listed ${JSON.stringify(outcome)}, the host directory among them`);
  });

  it('renderer sandbox refuses it with the code\'s message and exit 125', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
    const r = cli(['sandbox', '--', program]);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /needs a library named "libevil\.so\\n\\t/);
    assert.match(r.stderr, /Only ELF64 x86-64 programs/);
  });
});

describe('looking libraries up like the loader, only inside the library directories', () => {
  let dir: ReturnType<typeof scratchDir>;
  let first: string;
  let second: string;
  let outside: string;
  let runpathDir: string;
  let policy: LibraryPolicy;
  const servers: Server[] = [];
  const program = (name: string, spec: Parameters<typeof craftElf>[0]): string => {
    const path = join(dir.path, name);
    writeFileSync(path, craftElf({ type: 'executable', ...spec }), { mode: 0o755 });
    return path;
  };

  before(async () => {
    dir = scratchDir();
    [first, second, outside, runpathDir] = ['lib-first', 'lib-second', 'outside', 'lib-first/sub'].map((name) => {
      mkdirSync(join(dir.path, name), { recursive: true });
      return join(dir.path, name);
    }) as [string, string, string, string];
    policy = { allowedDirs: [first, second], searchDirs: [first, second] };
    // In the first directory, under library names: everything that is not a library.
    servers.push(await listenAt(join(first, 'libsock.so')));
    execFileSync('mkfifo', [join(first, 'libfifo.so')]);
    if (isRoot) execFileSync('mknod', [join(first, 'libdev.so'), 'c', '1', '3']);
    mkdirSync(join(first, 'libdir.so'));
    writeFileSync(join(outside, 'liblink.so'), craftElf());
    symlinkSync(join(outside, 'liblink.so'), join(first, 'liblink.so'));
    writeFileSync(join(first, 'lib32.so'), craftElf({ elfClass: 1 }));
    writeFileSync(join(first, 'libtext.so'), 'not a library\n');
    // In the second, the real ones, which the loader would find next.
    for (const name of ['libsock.so', 'libfifo.so', 'libdev.so', 'libdir.so', 'liblink.so', 'lib32.so', 'libtext.so'])
      writeFileSync(join(second, name), craftElf());
    // A cycle, a run path inside the allowed directories and one outside.
    writeFileSync(join(second, 'liba.so'), craftElf({ needed: ['libb.so'] }));
    writeFileSync(join(second, 'libb.so'), craftElf({ needed: ['liba.so'] }));
    writeFileSync(join(runpathDir, 'librun.so'), craftElf());
    writeFileSync(join(outside, 'libout.so'), craftElf());
  });
  after(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    dir.remove();
  });

  it('a socket, FIFO, device, directory, link out or foreign ELF under a library\'s name is skipped, never listed', () => {
    const names = ['libsock.so', 'libfifo.so', 'libdev.so', 'libdir.so', 'liblink.so', 'lib32.so', 'libtext.so'];
    const found = sharedLibraries(program('planted', { needed: names }), policy);
    assert.deepEqual(found, names.map((name) => join(second, name)), 'each found where the loader would find it next');
    assert.deepEqual(sharedLibraries(program('planted-only', { needed: names }), { allowedDirs: [first], searchDirs: [first] }), []);
  });

  it('transitive, each object once: a dependency cycle ends', () => {
    assert.deepEqual(sharedLibraries(program('cycle', { needed: ['liba.so'] }), policy), [join(second, 'liba.so'), join(second, 'libb.so')]);
  });

  it('run paths: entries inside the directories are searched first; $ORIGIN and anything outside are ignored', () => {
    const runpath = `$ORIGIN/../outside:${outside}:${runpathDir}`;
    assert.deepEqual(sharedLibraries(program('runpath', { needed: ['librun.so', 'libout.so'], runpath }), policy), [join(runpathDir, 'librun.so')]);
    assert.deepEqual(sharedLibraries(program('rpath', { needed: ['librun.so'], rpath: `${runpathDir}/../sub` }), policy), [], 'a run path with .. is ignored');
  });

  it('a library name that is a path, or holds "..", a control character, a space or a non-ASCII byte refuses the program', () => {
    for (const name of ['/etc/passwd', 'lib/x.so', '..', 'lib..so', 'libx.so\n\t/etc (0x0)', 'lib\x1b[2Jx.so', 'lib x.so', 'lib\xe9.so', ''])
      assert.throws(() => sharedLibraries(program('bad-name', { needed: ['liba.so', name] }), policy), isRefusal, JSON.stringify(name));
  });

  it('an interpreter outside the directories, or not a plain path, or not a regular file refuses the program', () => {
    writeFileSync(join(second, 'ld.so'), craftElf());
    assert.deepEqual(sharedLibraries(program('interp-ok', { interpreter: join(second, 'ld.so') }), policy), [join(second, 'ld.so')]);
    for (const interpreter of [join(outside, 'libout.so'), `${second}/../outside/libout.so`, join(first, 'libsock.so'), join(first, 'libdir.so'), 'ld.so', `${second}/ld.so\n`])
      assert.throws(() => sharedLibraries(program('interp-bad', { interpreter }), policy), isRefusal, interpreter);
  });

  it('a 32-bit or foreign program is refused; a script or a static program needs nothing', () => {
    assert.throws(() => sharedLibraries(program('elf32', { elfClass: 1 }), policy), isRefusal);
    assert.throws(() => sharedLibraries(program('arm64', { machine: 183 }), policy), isRefusal);
    writeFileSync(join(dir.path, 'script'), '#!/bin/sh\n');
    assert.deepEqual(sharedLibraries(join(dir.path, 'script'), policy), []);
    assert.deepEqual(sharedLibraries(program('static', { dynamic: false }), policy), []);
  });

  it('libraryBind, the check of every library bind: a regular file inside the directories, nothing else', () => {
    assert.deepEqual(libraryBind(join(second, 'liba.so'), [second]), { source: join(second, 'liba.so'), dest: join(second, 'liba.so') });
    const refusedPaths = [
      join(first, 'libsock.so'), join(first, 'libfifo.so'), join(first, 'libdir.so'), join(first, 'liblink.so'),
      ...(isRoot ? [join(first, 'libdev.so')] : []),
      join(outside, 'libout.so'), `${first}/../outside/libout.so`, 'lib/liba.so', `${second}/liba.so\n`, first,
    ];
    for (const path of refusedPaths) assert.throws(() => libraryBind(path, [first, second]), isRefusal, path);
  });
});

describe('launch: no list of libraries, however produced, binds anything else', () => {
  let dir: ReturnType<typeof scratchDir>;
  let socketPath: string | null = null;
  let server: Server | null = null;
  before(async () => {
    dir = scratchDir();
    // A socket inside a real library directory (as root), where only a forged list could name it.
    if (isRoot && existsSync('/usr/local/lib')) {
      socketPath = `/usr/local/lib/renderer-test-${process.pid}.so`;
      server = await listenAt(socketPath);
    }
  });
  after(async () => {
    if (server) await new Promise((resolve) => server!.close(resolve));
    if (socketPath) rmSync(socketPath, { force: true });
    dir.remove();
  });

  const fakeSandbox = (libraries: string[]): Sandbox =>
    ({
      librariesFor: () => libraries,
      nodePath: '/usr/bin/node',
      runtimeDir: dir.path,
      stepRoot: { dir: dir.path, binds: [] },
      settings: { ...configFrom({}).sandbox, bwrapPath: '/bin/false' },
      cgroups: null,
      seccompProgram: Buffer.alloc(0),
    }) as unknown as Sandbox;
  const spec = {
    runId: 'libraries-test',
    lease: { uid: 2_000_000_000, gid: 2_000_000_000, release: () => undefined, abandon: () => undefined },
    limits: configFrom({}).limits,
    mode: 'command' as const,
    binds: [],
    command: ['/bin/true'],
  };

  it('a host directory in the list (the forged ldd line) is refused before anything starts', async () => {
    await assert.rejects(launch(fakeSandbox(['/lib/x86_64-linux-gnu/libc.so.6', dir.path]), spec), isRefusal);
  });

  it('a unix socket inside a library directory is refused before anything starts', { skip: !isRoot && 'needs root to place a socket in /usr/local/lib' }, async () => {
    assert.ok(socketPath);
    await assert.rejects(launch(fakeSandbox([socketPath]), spec), isRefusal);
  });
});

describe('programs that must still run', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let dir: ReturnType<typeof scratchDir>;
  before(() => (dir = scratchDir()));
  after(() => dir.remove());

  it('a static binary (gcc -static) and a dynamic one run under renderer sandbox', () => {
    writeFileSync(join(dir.path, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n');
    for (const flags of [['-static'], []]) {
      const binary = join(dir.path, `hello${flags.join('')}`);
      execFileSync('gcc', [...flags, '-o', binary, join(dir.path, 'hello.c')]);
      chmodSync(binary, 0o755);
      const r = cli(['sandbox', '--', binary]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'hello\n');
    }
  });
});
