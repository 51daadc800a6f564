// Facts about this host that the sandbox needs: where commands and node are. (The
// shared libraries a binary needs: libraries.ts.)
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Resolves a command like execvp would, against the host's PATH. */
export function resolveCommand(command: string, pathEnv = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  if (command.includes('/')) {
    const absolute = isAbsolute(command) ? command : join(process.cwd(), command);
    return isExecutable(absolute) ? absolute : null;
  }
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/** The node binary children run: this process's own, with symlinks resolved. */
export const nodeBinary = (): string => realpathSync(process.execPath);
