// Live resource use of a running step, for GET /v1/runs/{id} and the run's log line.
// Two sources, labelled and never mixed: the run's cgroup (kernel accounting for every
// process of the run, the authoritative figure) and /proc/<pid>/stat of those processes
// (CPU percent and RSS as ps would show them).
//
// /proc is read here rather than through pidusage, which kept an open fd per sampled
// pid for its `maxage` (60 s by default) in one module-wide history: the daemon's fds
// grew with its throughput (~96 more after 160 runs), its clear() drops the history
// without closing them, and maxage 0 makes it loop. Here each read opens and closes its
// file, and the CPU history of a run lives in that run's sampler: when sampling stops,
// nothing of the run is left.
import { readFileSync } from 'node:fs';
import type { StepChild } from '../run/step-child.js';

// The kernel reports process times in USER_HZ (100 on x86_64 and arm64, whatever the
// kernel's HZ) and rss in pages (4 KiB on x86_64, the one architecture the seccomp
// policy supports).
const USER_HZ = 100;
const PAGE_BYTES = 4096;

export interface Usage {
  sampledAt: string;
  cgroup: { memoryBytes: number | null; peakMemoryBytes: number | null; cpuSeconds: number | null } | null;
  process: { pids: number; cpuPercent: number; rssBytes: number } | null;
}

/** What one process had used at a moment: CPU ticks, and when it was read. */
interface CpuReading {
  start: number;
  ticks: number;
  at: number;
}

export interface ProcessSample {
  cpuPercent: number;
  rssBytes: number;
  reading: CpuReading;
}

const uptimeSeconds = (): number => Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);

/**
 * CPU and RSS of one process from /proc/<pid>/stat; null if it is gone. CPU percent is
 * over the time since `previous` (the same process, read earlier), else over the
 * process's life, as ps shows it.
 */
export function sampleProcess(pid: number, previous?: CpuReading): ProcessSample | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // Fields after the command name, which may hold spaces or ')': state is [0], utime
  // (field 14) is [11], stime [12], starttime (22) [19], rss (24) [21].
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const start = Number(fields[19]);
  const at = uptimeSeconds() * USER_HZ;
  const since = previous && previous.start === start ? previous : { ticks: 0, at: start };
  const elapsed = at - since.at;
  return {
    cpuPercent: elapsed > 0 ? Math.max(0, ((ticks - since.ticks) / elapsed) * 100) : 0,
    rssBytes: Number(fields[21]) * PAGE_BYTES,
    reading: { start, ticks, at },
  };
}

/** Samples a run once; `history` (per pid) makes CPU percent cover the time since the
 * last sample of the same history, and is updated. */
export async function sampleUsage(child: StepChild, history?: Map<number, CpuReading>): Promise<Usage> {
  const cgroup = child.process.cgroup;
  const usage: Usage = { sampledAt: new Date().toISOString(), cgroup: null, process: null };
  if (!cgroup) return usage;
  try {
    const stats = await cgroup.stats();
    usage.cgroup = { memoryBytes: stats.memoryBytes, peakMemoryBytes: stats.peakMemoryBytes, cpuSeconds: stats.cpuSeconds };
    const pids = await cgroup.pids();
    const samples = pids.flatMap((pid) => {
      const sample = sampleProcess(pid, history?.get(pid));
      return sample ? [[pid, sample] as const] : [];
    });
    if (history) {
      history.clear();
      for (const [pid, sample] of samples) history.set(pid, sample.reading);
    }
    if (samples.length)
      usage.process = {
        pids: samples.length,
        cpuPercent: Math.round(samples.reduce((sum, [, s]) => sum + s.cpuPercent, 0) * 10) / 10,
        rssBytes: samples.reduce((sum, [, s]) => sum + s.rssBytes, 0),
      };
  } catch {
    /* the run ended while we looked */
  }
  return usage;
}

/** Peaks of the process figures; null when no sample found a process (a run shorter
 * than the interval, or one whose processes were gone), never a measured-looking 0. */
export interface UsagePeaks {
  maxCpuPercent: number | null;
  maxRssBytes: number | null;
}

/** Samples `child` every `intervalMs` while it runs; returns the peaks on stop(). */
export function sampleWhileRunning(child: StepChild, intervalMs = 500): { stop: () => UsagePeaks } {
  const peaks: UsagePeaks = { maxCpuPercent: null, maxRssBytes: null };
  const history = new Map<number, CpuReading>();
  let busy = false;
  let stopped = false;
  const tick = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    const usage = await sampleUsage(child, history);
    busy = false;
    if (stopped || !usage.process) return;
    peaks.maxCpuPercent = Math.max(peaks.maxCpuPercent ?? 0, usage.process.cpuPercent);
    peaks.maxRssBytes = Math.max(peaks.maxRssBytes ?? 0, usage.process.rssBytes);
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
      history.clear();
      return { ...peaks };
    },
  };
}
