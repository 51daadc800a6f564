// Turning what an API caller names into host paths, refusing anything outside what
// they may name: steps by name from the steps directory, inputs by table id or by a
// path relative to the data root (no `..`, no absolute path, no symlink leading out).
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { RendererError } from '../errors.js';
import type { TableStore } from './table-store.js';

export const STEP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export type StepRef = { name: string } | { code: string };
export type InputRef = { tableId: string } | { path: string } | null;

export class References {
  constructor(
    private readonly stepsDir: string,
    private readonly dataRoot: string,
    private readonly tables: TableStore,
  ) {}

  /** Step names available in the steps directory. */
  stepNames(): string[] {
    try {
      return readdirSync(this.stepsDir)
        .filter((f) => /\.(mjs|js)$/.test(f))
        .map((f) => f.replace(/\.(mjs|js)$/, ''))
        .filter((n) => STEP_NAME.test(n))
        .sort();
    } catch {
      return [];
    }
  }

  /** The host file of a named step. */
  stepFile(name: string): string {
    if (STEP_NAME.test(name) && !name.includes('..'))
      for (const ext of ['.mjs', '.js']) {
        const path = join(this.stepsDir, name + ext);
        if (existsSync(path) && statSync(path).isFile()) return path;
      }
    throw new RendererError('RENDERER_ERR_STEP_NOT_FOUND', `no step named ${JSON.stringify(name)} in the steps directory`);
  }

  /** The host file of an input, or null for none. */
  input(ref: InputRef): string | null {
    if (ref === null) return null;
    if ('tableId' in ref) return this.tables.resolve(ref.tableId);
    return this.dataPath(ref.path);
  }

  dataPath(path: string): string {
    const refuse = (why: string): never => {
      throw new RendererError('RENDERER_ERR_PATH_OUTSIDE_DATA_ROOT', `input path ${JSON.stringify(path)} ${why}`);
    };
    if (path.includes('\0')) refuse('contains a NUL byte');
    if (isAbsolute(path)) refuse('is absolute; give it relative to the data root');
    if (path.split(/[\\/]/).includes('..')) refuse('contains `..`');
    let root: string;
    let real: string;
    try {
      root = realpathSync(this.dataRoot);
      real = realpathSync(join(root, path));
    } catch {
      throw new RendererError('RENDERER_ERR_INPUT_UNREADABLE', `input path ${JSON.stringify(path)} does not exist under the data root`);
    }
    // A symlink inside the data root must not lead out of it.
    const inside = relative(root, real);
    if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside)) refuse('leads outside the data root');
    if (!statSync(real).isFile()) throw new RendererError('RENDERER_ERR_INPUT_UNREADABLE', `input path ${JSON.stringify(path)} is not a regular file`);
    return real;
  }
}
