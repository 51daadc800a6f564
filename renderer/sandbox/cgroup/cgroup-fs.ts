// The file operations the cgroup drivers need, behind an interface so the v2 driver can
// be tested against a fake tree on hosts (like CI here) that only have cgroup v1.
import { access, readFile, writeFile, mkdir, rmdir, readdir } from 'node:fs/promises';

export interface CgroupFs {
  read(path: string): Promise<string>;
  write(path: string, data: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /** Removes an (empty of processes) cgroup directory. */
  rmdir(path: string): Promise<void>;
  listDirs(path: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
}

export const realCgroupFs: CgroupFs = {
  read: (path) => readFile(path, 'utf8'),
  // cgroup files take one value per write(2); a short write is an error the kernel reports.
  write: (path, data) => writeFile(path, data, { flag: 'w' }),
  mkdir: async (path) => {
    await mkdir(path, { recursive: true });
  },
  rmdir: (path) => rmdir(path),
  listDirs: async (path) => {
    try {
      return (await readdir(path, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  },
  exists: async (path) => {
    try {
      await access(path);
      return true;
    } catch {
      return false;
    }
  },
};

/** Parses "key value" lines (memory.events, cpu.stat, memory.oom_control). */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

export const parsePids = (text: string): number[] =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^\d+$/.test(line))
    .map(Number);

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
