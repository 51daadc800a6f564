// The file operations the cgroup drivers need, behind an interface so the v2 driver can
// be tested against a fake tree on hosts (like CI here) that only have cgroup v1.
import { accessSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';

export interface CgroupFs {
  read(path: string): Promise<string>;
  write(path: string, data: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /** Removes an (empty of processes) cgroup directory. */
  rmdir(path: string): Promise<void>;
  listDirs(path: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
}

// Synchronous calls behind the async interface, on purpose: cgroupfs lives in kernel
// memory and answers in microseconds, while a libuv thread-pool round trip per file
// cost ~0.1 ms each, ~1.7 ms on every run's critical path (create, stats, kill check).
// The exception is rmdir: removing a used cgroup makes the kernel take it offline
// (~0.2 ms per hierarchy after a run, in a CPU profile), after the result is out,
// where the thread pool keeps it off the event loop.
export const realCgroupFs: CgroupFs = {
  read: async (path) => readFileSync(path, 'utf8'),
  // cgroup files take one value per write(2); a short write is an error the kernel reports.
  write: async (path, data) => writeFileSync(path, data, { flag: 'w' }),
  mkdir: async (path) => {
    mkdirSync(path, { recursive: true });
  },
  rmdir: (path) => rmdir(path),
  listDirs: async (path) => {
    try {
      return readdirSync(path, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  },
  exists: async (path) => {
    try {
      accessSync(path);
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
