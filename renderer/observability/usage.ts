// Live resource use of a running step, for GET /v1/runs/{id} and the run's log line.
// Two sources, labelled and never mixed: the run's cgroup (kernel accounting for every
// process of the run, the authoritative figure) and pidusage over those processes
// (CPU percent and RSS as ps would show them).
import pidusage from 'pidusage';
import type { StepChild } from '../run/step-child.js';

export interface Usage {
  sampledAt: string;
  cgroup: { memoryBytes: number | null; peakMemoryBytes: number | null; cpuSeconds: number | null } | null;
  process: { pids: number; cpuPercent: number; rssBytes: number } | null;
}

export async function sampleUsage(child: StepChild): Promise<Usage> {
  const cgroup = child.process.cgroup;
  const usage: Usage = { sampledAt: new Date().toISOString(), cgroup: null, process: null };
  if (!cgroup) return usage;
  try {
    const stats = await cgroup.stats();
    usage.cgroup = { memoryBytes: stats.memoryBytes, peakMemoryBytes: stats.peakMemoryBytes, cpuSeconds: stats.cpuSeconds };
    const pids = await cgroup.pids();
    if (pids.length) {
      const perPid = await pidusage(pids);
      const samples = Object.values(perPid).filter(Boolean);
      usage.process = {
        pids: samples.length,
        cpuPercent: Math.round(samples.reduce((sum, s) => sum + s.cpu, 0) * 10) / 10,
        rssBytes: samples.reduce((sum, s) => sum + s.memory, 0),
      };
    }
  } catch {
    /* the run ended while we looked */
  }
  return usage;
}

/** Drops pidusage's history and its interval timer, which would keep a stopping
 * process alive for up to a minute. */
export const stopSampling = (): void => pidusage.clear();

/** Samples `child` every `intervalMs` while it runs; returns the peaks on stop(). */
export function sampleWhileRunning(child: StepChild, intervalMs = 500): { stop: () => { maxCpuPercent: number; maxRssBytes: number } } {
  let maxCpuPercent = 0;
  let maxRssBytes = 0;
  let busy = false;
  const tick = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    const usage = await sampleUsage(child);
    maxCpuPercent = Math.max(maxCpuPercent, usage.process?.cpuPercent ?? 0);
    maxRssBytes = Math.max(maxRssBytes, usage.process?.rssBytes ?? 0);
    busy = false;
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return { maxCpuPercent, maxRssBytes };
    },
  };
}
