#!/usr/bin/env node
// After tsc: bundles the CLI and assembles the step runtime.
//
// dist/bundle/: the `renderer` CLI as one ESM bundle split per subcommand. Loading
// ~300 small modules (execa, apache-arrow, ...) costs ~200 ms; the bundle ~40 ms, and
// every `renderer run` pays it.
//
// dist/runtime/: everything a step child needs and nothing else, bound read-only into
// every sandbox at /opt/renderer.
//   step-runtime.cjs     the runtime and apache-arrow, bundled into one file
//   step-runtime.blob    the same as a V8 start-up snapshot (optional: children start
//                        ~20 ms faster; the renderer falls back to the .cjs without it)
//   renderer_native.node the mmap/seccomp addon;  renderer-reaper  pid 1 of the sandbox
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// tsc compiles the .ts files; the CommonJS thrift runtime and generated code are copied.
for (const file of ['thrift/runtime.cjs', 'thrift/gen/step_types.cjs']) {
  mkdirSync(dirname(join(root, 'dist', file)), { recursive: true });
  copyFileSync(join(root, file), join(root, 'dist', file));
}

// Chunk names change with their content: start empty, or stale chunks pile up.
rmSync(join(root, 'dist', 'bundle'), { recursive: true, force: true });

// The validation worker is an entry of its own: the pool starts it as
// ./validate-worker.js beside whichever chunk holds validation-pool.ts.
await build({
  entryPoints: { main: join(root, 'renderer', 'main.ts'), 'validate-worker': join(root, 'renderer', 'arrow', 'validate-worker.ts') },
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: join(root, 'dist', 'bundle'),
  // A native addon found through `bindings` (by the path of its own package): loaded
  // from node_modules as it is, never bundled.
  external: ['better-sqlite3'],
  // CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __renderer_require } from 'node:module'; const require = __renderer_require(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});

const out = join(root, 'dist', 'runtime');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(root, 'step-runtime', 'main.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: join(out, 'step-runtime.cjs'),
  logLevel: 'warning',
  legalComments: 'none',
});

for (const name of ['renderer_native.node', 'renderer-reaper']) {
  const source = join(root, 'build', 'Release', name);
  if (!existsSync(source)) {
    console.error(`build: ${source} is missing; run npm install (node-gyp builds it)`);
    process.exit(1);
  }
  copyFileSync(source, join(out, name));
}

try {
  const { CHILD_V8_FLAGS } = await import('../dist/renderer/run/child-v8-flags.js');
  execFileSync(process.execPath, [...CHILD_V8_FLAGS, '--snapshot-blob', join(out, 'step-runtime.blob'), '--build-snapshot', join(out, 'step-runtime.cjs')], {
    cwd: out,
    env: {},
    stdio: ['ignore', 'ignore', 'pipe'],
  });
} catch (error) {
  rmSync(join(out, 'step-runtime.blob'), { force: true });
  console.warn(`build: no start-up snapshot (children load the bundle instead): ${String(error.stderr ?? error).trim()}`);
}

// Readable by the unprivileged step user, writable by nobody but the owner.
chmodSync(out, 0o755);
for (const name of ['step-runtime.cjs', 'step-runtime.blob', 'renderer_native.node', 'renderer-reaper'])
  if (existsSync(join(out, name))) chmodSync(join(out, name), name === 'renderer-reaper' ? 0o755 : 0o644);
const sizes = ['step-runtime.cjs', 'step-runtime.blob'].filter((n) => existsSync(join(out, n))).map((n) => `${n} ${(statSync(join(out, n)).size / 1048576).toFixed(1)} MiB`);
console.log(`build: dist/runtime ready (${sizes.join(', ')})`);
