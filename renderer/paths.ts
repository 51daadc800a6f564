// Where the renderer's own files are, relative to the installed package.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** dist/renderer/paths.js -> the package root. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Built by node-gyp at install: the launcher runs outside the sandbox. */
export const LAUNCHER_PATH = join(PACKAGE_ROOT, 'build', 'Release', 'renderer-launcher');
export const NATIVE_ADDON_PATH = join(PACKAGE_ROOT, 'build', 'Release', 'renderer_native.node');

/** Everything a child needs, assembled by scripts/build: bound read-only at RUNTIME_MOUNT. */
export const RUNTIME_DIR = join(PACKAGE_ROOT, 'dist', 'runtime');
export const RUNTIME_MOUNT = '/opt/renderer';
export const RUNTIME_FILES = {
  bundle: 'step-runtime.cjs',
  snapshot: 'step-runtime.blob',
  addon: 'renderer_native.node',
  reaper: 'renderer-reaper',
} as const;

export const BUNDLED_STEPS_DIR = join(PACKAGE_ROOT, 'examples', 'steps');
export const BUNDLED_DATA_DIR = join(PACKAGE_ROOT, 'examples', 'data');
