// The runtime's own native addon (native/addon.c), loaded before step code and then
// kept where only the runtime holds it.
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface RuntimeNative {
  mapFile(path: string, maxBytes: number): ArrayBuffer;
  unmap(buffer: ArrayBuffer): void;
  installSeccomp(program: Buffer): void;
  /** After it, mapFile, installSeccomp and tryLock refuse (for this process's addon). */
  seal(): void;
  exitNow(code: number): never;
}

/**
 * Loads renderer_native.node, then erases it from the CommonJS loader. The loader caches
 * a module by its path and hands the cached exports to anyone who requires that path
 * again, without a new dlopen: step code calling
 * `createRequire(import.meta.url)('/opt/renderer/renderer_native.node')`, or walking
 * `require.cache`, got the runtime's exports although process.dlopen is disabled for it.
 * Out of the cache, requiring the path means a fresh dlopen, which the runtime disables
 * before step code runs (child.ts). The cached module's exports are emptied too, so
 * whatever else still points at that module object (its parent's `children`) holds
 * nothing. The loader's other caches (resolved paths) hold strings only.
 */
export function loadRuntimeNative(runtimeDir: string): RuntimeNative {
  const require = createRequire(join(runtimeDir, 'x.js'));
  const native = require(join(runtimeDir, 'renderer_native.node')) as RuntimeNative;
  let erased = 0;
  for (const [path, module] of Object.entries(require.cache)) {
    if (module?.exports !== native) continue;
    delete require.cache[path];
    module.exports = {};
    erased++;
  }
  // Fail closed: a Node release that caches elsewhere must not leave the addon in reach.
  if (erased === 0) throw new Error('the native addon is not in the module cache it was loaded into; it cannot be kept from step code');
  return native;
}
