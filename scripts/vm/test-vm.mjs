#!/usr/bin/env node
// npm run test:vm [-- --timeout-min N] [-- FILE.test.js ...]
//
// The sandbox's tests on a real cgroup v2 kernel: boots Debian's kernel under qemu (KVM
// where /dev/kvm exists, TCG otherwise) on the host's own files (scripts/vm/boot.mjs),
// mounts only cgroup2, and runs the chosen compiled test files there as root. Prints
// `cgroup v2 (kernel X): N passed, M failed` and exits non-zero on any failure, on a
// guest that did not finish, or when the tests did not run at all.
//
// Needs `npm run build` first (the guest runs dist/), qemu-system-x86 and busybox-static
// (scripts/setup --test installs both), and apt access for the kernel package once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boot, ensureKernel } from './boot.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** What runs inside, chosen to fit ≤ 12 minutes of TCG on 2 cores (README, "cgroup v2"). */
const DEFAULT_FILES = ['dist/test/vm/cgroup-v2.test.js', 'dist/test/renderer/sandbox/isolation.test.js'];

function parseArgs(argv) {
  const files = [];
  let timeoutMin = 20;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--timeout-min') {
      timeoutMin = Number(argv[++i]);
      if (!(timeoutMin > 0)) throw new Error('--timeout-min takes a positive number of minutes');
    } else if (argv[i].startsWith('-')) throw new Error(`unknown option ${argv[i]} (known: --timeout-min N, then test files)`);
    else files.push(argv[i]);
  }
  return { files: files.length ? files : DEFAULT_FILES, timeoutMin };
}

const say = (line) => process.stdout.write(`test:vm: ${line}\n`);

async function main() {
  const { files, timeoutMin } = parseArgs(process.argv.slice(2));
  const cache = process.env.RENDERER_VM_CACHE ?? (process.getuid?.() === 0 ? '/var/cache/renderer-vm' : join(tmpdir(), 'renderer-vm-cache'));
  const kernel = ensureKernel(cache, say);
  const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  const job = [
    `cd ${quote(ROOT)} || exit 90`,
    'export CI=true RENDERER_TEST_VM=1 RENDERER_TEST_NEIGHBOUR=0 NODE_OPTIONS=',
    `node --test --test-concurrency=1 --test-reporter=tap ${files.map(quote).join(' ')}`,
  ].join('\n');
  const workDir = mkdtempSync(join(tmpdir(), 'renderer-vm-'));
  const started = Date.now();
  say(`booting ${kernel.release} with ${files.length} test file(s); timeout ${timeoutMin} min`);
  let pass = null;
  let fail = null;
  const failures = [];
  let inFailure = false;
  try {
    const { status, output, accel } = await boot({
      kernel,
      job,
      workDir,
      timeoutMs: timeoutMin * 60_000,
      onLine: (line) => {
        const clean = line.replace(/\x1b(\[[0-9;?]*[a-zA-Z]|[a-zA-Z])/g, '').replace(/^.*?(?=renderer-vm: )/, '');
        const counted = /^# (pass|fail) (\d+)/.exec(clean);
        if (counted) counted[1] === 'pass' ? (pass = Number(counted[2])) : (fail = Number(counted[2]));
        // Progress: each test as it ends, with the guest's elapsed time.
        const result = /^(\s*)(not ok|ok) \d+ - (.*)$/.exec(clean);
        if (result) {
          inFailure = result[2] === 'not ok';
          process.stdout.write(`  [${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${result[1]}${result[2]} - ${result[3]}\n`);
        } else if (inFailure && /^\s+(error|actual|expected|location|stack|code|failureType):|^\s{6,}\S/.test(clean)) {
          failures.push(clean);
          process.stdout.write(`         ${clean}\n`);
        } else if (/^renderer-vm: /.test(clean)) say(clean.slice('renderer-vm: '.length));
        else if (/^\s+# (?!Subtest:)\S/.test(clean)) process.stdout.write(`         ${clean.trim()}\n`);
      },
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    const ran = pass !== null && fail !== null;
    say(`guest finished in ${seconds} s (${accel}); job status ${status ?? 'none'}`);
    process.stdout.write(`cgroup v2 (kernel ${kernel.release}): ${pass ?? 0} passed, ${fail ?? 0} failed\n`);
    if (!ran || status === null) {
      process.stdout.write(`${output.slice(-4000)}\n`);
      say(status === null ? 'the guest did not finish its job (see the console above)' : 'the tests did not report a count (see the console above)');
      return 1;
    }
    return status === 0 && fail === 0 ? 0 : 1;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`test:vm: ${error.message}\n`);
    process.exit(2);
  },
);
