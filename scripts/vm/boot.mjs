// Boots Debian's own kernel under qemu with the host's root shared read-only over 9p (a
// tmpfs overlay on top, so the guest can write) and runs one shell job in it as root,
// on cgroup v2 alone. Used by scripts/vm/test-vm.mjs (`npm run test:vm`).
//
// The kernel comes from Debian's linux-image-amd64, fetched with `apt-get download` and
// unpacked into a cache directory; it is never installed on the host. The initramfs is
// busybox-static, the few modules 9p and overlayfs need, and scripts/vm/{init,stage2}:
// written here as a newc cpio, so no cpio tool is needed.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));
export const MODULES = ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', '9pnet', '9pnet_virtio', 'netfs', 'fscache', '9p', 'overlay'];

const run = (cmd, args, options = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });

/** The kernel package linux-image-amd64 points at, e.g. linux-image-6.1.0-57-amd64. */
function kernelPackage() {
  let depends = '';
  try {
    depends = run('apt-cache', ['depends', 'linux-image-amd64']);
  } catch {
    /* no package lists yet */
  }
  if (!/Depends: linux-image-[0-9]/.test(depends)) {
    run('apt-get', ['update', '-qq']);
    depends = run('apt-cache', ['depends', 'linux-image-amd64']);
  }
  const match = /Depends: (linux-image-[0-9][^\s]*)/.exec(depends);
  if (!match) throw new Error(`apt-cache knows no kernel for linux-image-amd64 (run apt-get update):\n${depends}`);
  return match[1];
}

/** Fetches and unpacks the kernel into `cache` once; returns its vmlinuz and modules. */
export function ensureKernel(cache, log) {
  mkdirSync(cache, { recursive: true });
  const pkg = kernelPackage();
  const dir = join(cache, pkg);
  if (!existsSync(join(dir, '.complete'))) {
    log(`fetching ${pkg} with apt-get download (unpacked into ${dir}, not installed)`);
    const staging = `${dir}.partial`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    // _apt cannot write into a root-only directory; the download is a plain file fetch.
    run('apt-get', ['download', '-o', 'APT::Sandbox::User=root', pkg], { cwd: staging });
    const deb = readdirSync(staging).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${staging}`);
    run('dpkg-deb', ['-x', join(staging, deb), join(staging, 'root')]);
    rmSync(join(staging, deb));
    writeFileSync(join(staging, '.complete'), `${pkg}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  }
  const boot = join(dir, 'root', 'boot');
  const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
  const release = vmlinuz.slice('vmlinuz-'.length);
  const modulesDir = join(dir, 'root', 'lib', 'modules', release, 'kernel');
  const modules = new Map();
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(d, entry.name));
      else if (entry.name.endsWith('.ko') && MODULES.includes(entry.name.slice(0, -3))) modules.set(entry.name.slice(0, -3), join(d, entry.name));
    }
  };
  walk(modulesDir);
  const missing = MODULES.filter((m) => !modules.has(m));
  if (missing.length) throw new Error(`kernel ${release} lacks modules ${missing.join(', ')} (built in? then drop them from MODULES)`);
  return { release, vmlinuz: join(boot, vmlinuz), modules };
}

/** A newc cpio archive of `entries` ({path, mode, data?} ; directories have no data). */
export function cpio(entries) {
  const chunks = [];
  let ino = 1;
  const pad4 = (n) => (4 - (n % 4)) % 4;
  const header = (name, mode, size) => {
    const fields = [ino++, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, name.length + 1, 0];
    const text = `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}${name}\0`;
    chunks.push(Buffer.from(text + '\0'.repeat(pad4(text.length))));
  };
  for (const { path, mode, data } of entries) {
    header(path, mode, data ? data.length : 0);
    if (data) chunks.push(data, Buffer.alloc(pad4(data.length)));
  }
  header('TRAILER!!!', 0, 0);
  return Buffer.concat(chunks);
}

/** The initramfs: busybox, the modules, init and stage2, and this boot's job. */
export function initramfs(kernel, job) {
  const busybox = '/bin/busybox';
  let installed = '';
  try {
    installed = run('dpkg-query', ['-W', '-f=${Status}', 'busybox-static']);
  } catch {
    /* not installed */
  }
  if (!installed.includes('install ok installed') || !existsSync(busybox))
    throw new Error('busybox-static is needed for the guest (apt-get install busybox-static)');
  const dir = (path) => ({ path, mode: 0o40755 });
  const file = (path, data, mode = 0o100755) => ({ path, mode, data });
  return gzipSync(
    cpio([
      dir('bin'), dir('dev'), dir('proc'), dir('sys'), dir('modules'), dir('renderer-vm'),
      file('bin/busybox', readFileSync(busybox)),
      file('init', readFileSync(join(HERE, 'init'))),
      ...[...kernel.modules].map(([name, path]) => file(`modules/${name}.ko`, readFileSync(path), 0o100644)),
      file('renderer-vm/stage2', readFileSync(join(HERE, 'stage2'))),
      file('renderer-vm/job', Buffer.from(job), 0o100644),
    ]),
    { level: 1 },
  );
}

/**
 * Boots the guest and runs `job` (a shell script) in it. Resolves with the job's exit
 * status (null when the guest died or timed out) and everything it printed. `onLine`
 * sees each console line as it comes (progress for the caller).
 */
export function boot({ kernel, job, workDir, memoryMiB = 4096, cpus = 2, timeoutMs, onLine = () => undefined }) {
  mkdirSync(workDir, { recursive: true });
  const initrd = join(workDir, 'initrd.gz');
  writeFileSync(initrd, initramfs(kernel, job));
  const kvm = existsSync('/dev/kvm') && (() => { try { return statSync('/dev/kvm').isCharacterDevice(); } catch { return false; } })();
  const args = [
    '-machine', `q35,accel=${kvm ? 'kvm' : 'tcg'}`, '-cpu', kvm ? 'host' : 'max', '-smp', String(cpus), '-m', String(memoryMiB),
    '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
    '-kernel', kernel.vmlinuz, '-initrd', initrd,
    '-append', 'console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init',
    '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-rng-pci',
  ];
  return new Promise((resolve, reject) => {
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let pending = '';
    let status = null;
    const take = (chunk) => {
      const text = chunk.toString('utf8');
      output += text;
      pending += text;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop();
      for (const line of lines) {
        const exit = /^renderer-vm: exit (\d+)/.exec(line);
        if (exit) status = Number(exit[1]);
        onLine(line);
      }
    };
    qemu.stdout.on('data', take);
    qemu.stderr.on('data', take);
    const timer = setTimeout(() => {
      onLine(`renderer-vm: no result after ${timeoutMs} ms; stopping the guest`);
      qemu.kill('SIGKILL');
    }, timeoutMs);
    qemu.on('error', (error) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? new Error('qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)') : error);
    });
    qemu.on('close', () => {
      clearTimeout(timer);
      if (pending) take(Buffer.from('\n'));
      resolve({ status, output, accel: kvm ? 'kvm' : 'tcg' });
    });
  });
}
