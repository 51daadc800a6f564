// The sandbox, layer by layer, probed from inside with C programs (`renderer sandbox`)
// and with JS attack steps (`renderer run`). Each assertion is chosen to fail if its
// layer were missing: e.g. the syscall probe expects EPERM where, without seccomp, the
// call would succeed or fail with another errno (see test/fixtures/probes/syscalls.c).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../../renderer/paths.js';
import { SANDBOX_ENV } from '../../../renderer/sandbox/bwrap-args.js';
import { configFrom } from '../../../renderer/config/load.js';
import { strayProcesses } from '../../../renderer/sandbox/uids.js';
import { cli, compileProbe, isRoot, runJson, scratchDir, step } from '../../helpers.js';

const { hostDir, uidRange } = configFrom({}).sandbox;
const inRange = (uid: number): boolean => uid >= uidRange.first && uid < uidRange.first + uidRange.count;

/** Processes running as a step uid that no live sandbox leases: a run's orphans. Right
 * beside other renderers too, whose live sandboxes hold their leases. */
const strays = (): number[] => strayProcesses(hostDir, uidRange).map((p) => p.pid);

const lines = (text: string): Map<string, string> =>
  new Map(text.trim().split('\n').map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));

describe('sandbox isolation (C probes through renderer sandbox)', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  let dir: ReturnType<typeof scratchDir>;
  const probes: Record<string, string> = {};
  const sandbox = (args: string[], options?: { timeoutMs?: number }) => cli(['sandbox', ...args], options);

  before(() => {
    dir = scratchDir();
    for (const name of ['status', 'syscalls', 'abi', 'net', 'files', 'procs']) probes[name] = compileProbe(name, dir.path);
  });
  after(() => dir.remove());

  it('privileges: a step uid of its own (gid the same number), no groups, no capabilities at all, no_new_privs, seccomp filter mode', () => {
    const r = sandbox(['--', probes.status!]);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    const uid = Number(/^Uid:\t(\d+)\t\1\t\1\t\1$/m.exec(out)?.[1]);
    assert.ok(inRange(uid), `uid ${uid} is in sandbox.uidRange`);
    assert.match(out, new RegExp(`^Gid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}$`, 'm'));
    assert.match(out, /^Groups:\t?\s*$/m);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.match(out, new RegExp(`^${set}:\\t0000000000000000$`, 'm'));
    assert.match(out, /^NoNewPrivs:\t1$/m);
    assert.match(out, /^Seccomp:\t2$/m);
  });

  it('niceness: sandboxed processes yield the CPU to the renderer (sandbox.niceness 10)', () => {
    // Under overload the renderer must still drain a step's pipes and time it: at 16 runs
    // on 2 cores, steps at the renderer's own priority starved it, and a step printing
    // 20 MiB ran into its 30 s timeout waiting for the renderer to read.
    const r = sandbox(['--', '/usr/bin/nice']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '10');
  });

  it('namespaces and environment: own pid namespace, own hostname, exactly the configured environment, no fd above 2', () => {
    const out = sandbox(['--', probes.status!]).stdout;
    assert.match(out, /^pid: 2$/m, 'the probe is pid 2 under the reaper: a fresh pid namespace');
    assert.match(out, /^hostname: renderer-step$/m);
    assert.match(out, /^fds: 0 1 2$/m, 'every inherited fd above 2 is closed');
    const env = [...out.matchAll(/^env: (.*)$/gm)].map((m) => m[1]).sort();
    assert.deepEqual(env, Object.entries(SANDBOX_ENV).map(([k, v]) => `${k}=${v}`).sort());
  });

  it('seccomp: every listed syscall is refused with EPERM, clone3 with ENOSYS; unix sockets, unix socket pairs and fork still work', () => {
    const r = sandbox(['--', probes.syscalls!]);
    assert.equal(r.status, 0, r.stderr);
    const results = lines(r.stdout);
    const expected = [
      'mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'unshare_net', 'setns', 'ptrace', 'process_vm_readv',
      'process_vm_writev', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'bpf',
      'perf_event_open', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'keyctl', 'add_key',
      'request_key', 'open_by_handle_at', 'name_to_handle_at', 'reboot', 'swapon', 'swapoff', 'acct', 'personality',
      'ioctl_TIOCSTI', 'ioctl_TIOCLINUX', 'socket_inet', 'socket_inet6', 'socket_netlink', 'socket_packet', 'socketpair_inet', 'socketpair_inet6', 'socketpair_netlink', 'socketpair_vsock',
      'socketpair_inet_high_bits', 'clone_newuser',
    ];
    for (const name of expected) assert.equal(results.get(name), 'EPERM', `${name}: ${results.get(name)}`);
    assert.equal(results.get('clone3'), 'ENOSYS');
    assert.equal(results.get('socket_unix'), 'OK');
    assert.equal(results.get('socketpair_unix'), 'OK');
    assert.equal(results.get('fork'), 'OK');
  });

  for (const mode of ['x32', 'i386', 'thread']) {
    it(`seccomp: a ${mode} call kills the whole process with SIGSYS`, () => {
      // Some kernels answer int 0x80 with SIGSEGV with no sandbox at all (IA32 emulation
      // off): the call never reaches seccomp. Probe the host first; assert what the
      // sandbox adds: SIGSYS where the host would run the call, and never a survivor.
      const host = spawnSync(probes.abi!, [mode], { encoding: 'utf8', timeout: 20_000 });
      const r = sandbox(['--', probes.abi!, mode]);
      assert.doesNotMatch(r.stdout, /survived/);
      if (host.signal === 'SIGSEGV') assert.ok(r.status === 128 + 11 || r.status === 128 + 31, `exit ${r.status} (the host itself answers ${mode} with SIGSEGV)`);
      else assert.equal(r.status, 128 + 31, `exit ${r.status}: ${r.stdout} (outside the sandbox: ${host.signal ?? host.status})`);
    });
  }

  describe('network', () => {
    let server: Server;
    let connections = 0;
    let port = 0;
    before(async () => {
      server = createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    after(() => server.close());

    it('no step reaches a listener on the host loopback: not from C, not from JS', () => {
      const r = sandbox(['--', probes.net!, String(port)]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /connect OK/);
      const js = runJson(step('attack'), ['--params', JSON.stringify({ actions: [['connect', '127.0.0.1', port], ['fetch', `http://127.0.0.1:${port}/`], ['connect', 'localhost', port]] })]);
      for (const outcome of Object.values(js.result.json as Record<string, string>)) assert.doesNotMatch(outcome, /^OK/);
      assert.equal(connections, 0, 'the host listener saw no connection');
    });
  });

  it('filesystem: host files are invisible, the view is read-only but for /tmp and the output file', () => {
    const marker = join(dir.path, 'host-secret');
    writeFileSync(marker, 'secret');
    const hidden = ['/etc/passwd', '/etc/shadow', '/root', '/home', '/var/lib/renderer', PACKAGE_ROOT, '/work', '/usr/lib/python3'];
    const seen = lines(sandbox(['--', probes.files!, 'exists', ...hidden, marker]).stdout);
    for (const path of [...hidden, marker]) assert.equal(seen.get(path), 'ENOENT', `${path} is visible`);

    const writes = lines(
      sandbox(['--', probes.files!, 'write', '/run/in/x', '/opt/renderer/x', '/usr/bin/node', '/newfile', '/run/out/new', '/tmp/ok', '/run/out/output.arrow', '/proc/self/uid_map', '/proc/self/gid_map', '/proc/self/setgroups']).stdout,
    );
    for (const path of ['/run/in/x', '/opt/renderer/x', '/usr/bin/node', '/newfile']) assert.equal(writes.get(path), 'EROFS', path);
    // No new entries in the output directory: renderer sandbox's /run/out lies in its
    // read-only root (no run directory behind it); a step's gets EACCES (below).
    assert.equal(writes.get('/run/out/new'), 'EROFS', 'no new entries in the output directory');
    assert.equal(writes.get('/tmp/ok'), 'OK');
    assert.equal(writes.get('/run/out/output.arrow'), 'OK');
    for (const map of ['/proc/self/uid_map', '/proc/self/gid_map', '/proc/self/setgroups']) assert.notEqual(writes.get(map), 'OK', map);
    assert.equal(existsSync('/tmp/ok'), false, 'writes to /tmp stay in the sandbox');
  });

  it('/dev holds the data devices and nothing else: no terminal, no pty, no shared memory, no disk', () => {
    const devices = ['/dev/null', '/dev/zero', '/dev/urandom'];
    const absent = ['/dev/tty', '/dev/ptmx', '/dev/pts/ptmx', '/dev/shm', '/dev/console', '/dev/kmsg', '/dev/mem', '/dev/sda', '/dev/vda', '/dev/full', '/dev/random'];
    const seen = lines(sandbox(['--', probes.files!, 'read', ...devices, ...absent]).stdout);
    for (const path of devices) assert.equal(seen.get(path), 'OK', path);
    for (const path of absent) assert.equal(seen.get(path), 'ENOENT', `${path} is reachable`);
    const writes = lines(sandbox(['--', probes.files!, 'write', '/dev/null', '/dev/planted']).stdout);
    assert.equal(writes.get('/dev/null'), 'OK');
    assert.equal(writes.get('/dev/planted'), 'EROFS');
  });

  it('one run\'s /tmp is invisible to the next', () => {
    assert.equal(lines(sandbox(['--', probes.files!, 'write', '/tmp/left-behind']).stdout).get('/tmp/left-behind'), 'OK');
    assert.equal(lines(sandbox(['--', probes.files!, 'exists', '/tmp/left-behind']).stdout).get('/tmp/left-behind'), 'ENOENT');
  });

  it('a setuid-root binary placed inside grants nothing', () => {
    const suidDir = join(dir.path, 'suid');
    mkdirSync(suidDir);
    chmodSync(suidDir, 0o755);
    const binary = join(suidDir, 'procs');
    copyFileSync(probes.procs!, binary);
    chownSync(binary, 0, 0);
    chmodSync(binary, 0o4755);
    const r = sandbox(['--bind-ro', suidDir, '--', binary, 'setuid']);
    assert.ok(inRange(Number(/^euid (\d+)$/m.exec(r.stdout)?.[1])), r.stdout);
    assert.match(r.stdout, /^setuid0 (EPERM|EINVAL)$/m, 'EINVAL: uid 0 is not even mapped in the user namespace');
  });

  it('a fork bomb hits pids.max and leaves no process behind', () => {
    const r = sandbox(['--', probes.procs!, 'forkbomb'], { timeoutMs: 60_000 });
    const made = Number(/forked (\d+)/.exec(r.stdout)?.[1]);
    assert.ok(made > 0 && made < 64, `forked ${made}`);
    assert.deepEqual(strays(), []);
  });

  it('a detached, setsid()\'d grandchild never outlives its run', () => {
    const r = sandbox(['--', probes.procs!, 'detach']);
    assert.match(r.stdout, /detached/);
    assert.deepEqual(strays(), []);
  });

  it('memory: exceeding the limit is an OOM kill (exit 137) reported as such', () => {
    const r = sandbox(['--memory-mib', '64', '--', probes.procs!, 'memory', '512']);
    assert.equal(r.status, 137);
    assert.match(r.stderr, /exceeded the memory limit of 64 MiB/);
    assert.doesNotMatch(r.stdout, /allocated/);
  });

  it('timeout: the command is killed, exit 137, with a message', () => {
    const started = Date.now();
    const r = sandbox(['--timeout-ms', '300', '--', probes.procs!, 'forkbomb']);
    assert.equal(r.status, 137);
    assert.match(r.stderr, /timed out after 300 ms/);
    assert.ok(Date.now() - started < 10_000);
  });

  it('exit statuses pass through: the command\'s code, 128+N for signal N, 125 for sandbox failure, 2 for usage', () => {
    assert.equal(sandbox(['--', '/bin/sh', '-c', 'exit 7']).status, 7);
    assert.equal(sandbox(['--', '/bin/sh', '-c', 'kill -SEGV $$']).status, 139);
    const config = join(dir.path, 'bad-bwrap.json');
    writeFileSync(config, JSON.stringify({ sandbox: { bwrapPath: '/nonexistent/bwrap' } }));
    const broken = sandbox(['--config', config, '--', '/bin/true']);
    assert.equal(broken.status, 125);
    assert.match(broken.stderr, /bubblewrap is not installed/);
    assert.equal(sandbox(['/bin/true']).status, 2);
    assert.equal(sandbox(['--', '/nonexistent/command']).status, 2);
  });
});

describe('sandbox isolation (JS attack steps through renderer run)', { skip: !isRoot && 'needs root (CI runs as root)' }, () => {
  const attack = (actions: unknown[][], config?: string): Record<string, string> => {
    const args = ['--params', JSON.stringify({ actions })];
    if (config) args.push('--config', config);
    const { result } = runJson(step('attack'), args);
    assert.equal(result.outcome, 'ok', result.error ?? '');
    return result.json as Record<string, string>;
  };
  let dir: ReturnType<typeof scratchDir>;
  let noPermissionModel: string;
  before(() => {
    dir = scratchDir();
    noPermissionModel = join(dir.path, 'no-pm.json');
    writeFileSync(noPermissionModel, JSON.stringify({ sandbox: { nodePermissionModel: false } }));
  });
  after(() => dir.remove());

  it('the step sees exactly the configured environment and runs as a step uid of its own', () => {
    const r = attack([['env'], ['uid']]);
    assert.deepEqual(JSON.parse(r.env!), { ...SANDBOX_ENV });
    const [uid, gid] = r.uid!.split(':').map(Number);
    assert.ok(inRange(uid!) && gid === uid, r.uid);
  });

  it('no inherited fd reaches user code: above the result pipe, only what Node opened itself', () => {
    const fds = JSON.parse(attack([['fds']], noPermissionModel).fds!) as Record<string, string>;
    for (const fd of ['0', '1', '2', '3']) assert.match(fds[fd] ?? '', /^socket:/, `fd ${fd} is the renderer's pipe`);
    for (const [fd, target] of Object.entries(fds)) {
      if (Number(fd) <= 3) continue;
      // Node's own epoll, eventfds, wake-up pipes and /dev/null (the sandbox's), and the
      // directory being listed. A leaked host fd would be a socket or a host path.
      assert.match(target, /^(anon_inode:\[(eventpoll|eventfd|timerfd)\]|pipe:\[\d+\]|\/dev\/null|\/proc\/\d+\/fd)$/, `fd ${fd} -> ${target}`);
    }
  });

  it('the OS layers hold even without Node\'s permission model', () => {
    const r = attack(
      [
        ['read', '/etc/passwd'],
        ['write', '/run/in/x'],
        ['write', '/opt/renderer/step-runtime.cjs'],
        ['write', '/run/out/planted'],
        ['symlink', '/etc/passwd', '/run/out/output.arrow.link'],
        ['read', '/proc/1/fd/4'],
        ['write', '/proc/self/uid_map', '0 0 1'],
      ],
      noPermissionModel,
    );
    assert.match(r['read /etc/passwd']!, /^ENOENT/);
    assert.match(r['write /run/in/x']!, /^EROFS/);
    assert.match(r['write /opt/renderer/step-runtime.cjs']!, /^EROFS/);
    assert.match(r['write /run/out/planted']!, /^EACCES/);
    assert.match(r['symlink /etc/passwd /run/out/output.arrow.link']!, /^EACCES/);
    assert.match(r['read /proc/1/fd/4']!, /^EACCES/, 'the reaper is not dumpable: its status fd is out of reach');
    assert.match(r['write /proc/self/uid_map 0 0 1']!, /^EPERM/);
  });

  it('the step\'s root is node, its libraries, the runtime and the run\'s files: read-only, nothing of the host besides', () => {
    const r = attack(
      [['readdir', '/'], ['readdir', '/dev'], ['readdir', '/run'], ['write', '/newfile'], ['write', '/usr/bin/node'], ['write', '/dev/planted'], ['read', '/dev/tty'], ['read', '/dev/null'], ['read', '/etc/hostname']],
      noPermissionModel,
    );
    const top = r['readdir /']!.replace(/^OK /, '').split(',');
    for (const expected of ['dev', 'opt', 'proc', 'run', 'tmp', 'usr']) assert.ok(top.includes(expected), `/${expected} is there`);
    for (const host of ['etc', 'home', 'root', 'var', 'sys', 'srv', 'mnt', 'boot', 'work']) assert.ok(!top.includes(host), `the host's /${host} is visible`);
    assert.equal(r['readdir /dev'], 'OK fd,null,stderr,stdin,stdout,urandom,zero');
    assert.equal(r['readdir /run'], 'OK in,out');
    for (const path of ['/newfile', '/usr/bin/node', '/dev/planted']) assert.match(r[`write ${path}`]!, /^EROFS/, path);
    assert.match(r['read /dev/tty']!, /^ENOENT/);
    assert.equal(r['read /dev/null'], 'OK 0 bytes');
    assert.match(r['read /etc/hostname']!, /^ENOENT/);
  });

  it('stage-2 seccomp: a step cannot start a process (renderer sandbox, with stage 1 only, can)', () => {
    const r = attack([['spawn', '/usr/bin/node', ['-e', '0']]], noPermissionModel);
    assert.match(r['spawn /usr/bin/node -e,0']!, /^EPERM/);
    assert.equal(cli(['sandbox', '--', '/bin/sh', '-c', '/bin/sh -c "exit 3"']).status, 3, 'stage 1 alone allows fork and exec');
  });

  it('Node\'s permission model is a layer of its own: reads outside the step\'s files are refused', () => {
    const on = attack([['readdir', '/usr/bin'], ['spawn', '/usr/bin/node'], ['worker']]);
    assert.match(on['readdir /usr/bin']!, /^ERR_ACCESS_DENIED/);
    assert.match(on['spawn /usr/bin/node']!, /^ERR_ACCESS_DENIED/);
    assert.match(on.worker!, /^ERR_ACCESS_DENIED/);
    const off = attack([['readdir', '/usr/bin']], noPermissionModel);
    assert.match(off['readdir /usr/bin']!, /^OK node$/, 'only node is there, but without the model the listing works');
  });

  it('native addons cannot be loaded by step code', () => {
    const r = attack([['dlopen', '/opt/renderer/renderer_native.node']]);
    assert.match(r['dlopen /opt/renderer/renderer_native.node']!, /^ERR_DLOPEN_DISABLED/);
  });

  // The runtime loads its own addon before step code, and the CommonJS loader cached it:
  // require() of its path handed the step the runtime's exports without any dlopen, so
  // the step could map any file past the permission model, and unmap a WebAssembly
  // memory into inaccessible pages (its next read a SIGSEGV: the step "crashed").
  it('the runtime\'s own addon is out of step code\'s reach: require() of its path loads it anew (refused), no cached module holds it', () => {
    for (const config of [undefined, noPermissionModel]) {
      const r = attack([['addon', 'require', 'mapFile', '/usr/bin/node'], ['addon', 'cache', 'mapFile', '/usr/bin/node'], ['addon', 'require', 'unmap-wasm'], ['addon', 'cache', 'unmap-wasm']], config);
      for (const route of ['require mapFile /usr/bin/node', 'require unmap-wasm']) assert.match(r[`addon ${route}`]!, /^ERR_DLOPEN_DISABLED/, route);
      for (const route of ['cache mapFile /usr/bin/node', 'cache unmap-wasm']) assert.match(r[`addon ${route}`]!, /^NOT_FOUND/, route);
    }
  });

  // Without the permission model the inspector reads the runtime's own locals, the addon
  // among them: nothing in the language keeps it out of reach, so the addon itself
  // refuses. The runtime seals it before step code runs, and unmap takes only a live
  // mapping that mapFile made.
  it('the addon the runtime keeps, reached through the inspector, is sealed: it maps nothing, installs no filter, unmaps no foreign memory', () => {
    const r = attack([['addon', 'inspector', 'mapFile', '/usr/bin/node'], ['addon', 'inspector', 'installSeccomp'], ['addon', 'inspector', 'unmap-wasm']], noPermissionModel);
    assert.match(r['addon inspector mapFile /usr/bin/node']!, /^Error RENDERER_ERR_NATIVE_SEALED: mapFile is refused/);
    assert.match(r['addon inspector installSeccomp']!, /^Error RENDERER_ERR_NATIVE_SEALED: installSeccomp is refused/);
    assert.match(r['addon inspector unmap-wasm']!, /^TypeError RENDERER_ERR_MMAP_NOT_MAPPED: .*; the memory still reads 7$/);
  });
});
