// renderer doctor [--json] [--config FILE]
// What this host supports, what will fail, and how to fix it: so an operator sees why
// a run would end as sandbox_error before any run does. Exit 0 when steps can run.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { availableParallelism, totalmem } from 'node:os';
import type { Config } from '../config/config-schema.js';
import { LAUNCHER_PATH } from '../paths.js';
import { runStep } from '../run/run-step.js';
import { Runner } from '../run/runner.js';
import { detectCgroups, favorsDynamicModifications } from '../sandbox/cgroup/detect.js';
import { defaultPoolSize } from '../daemon/daemon.js';
import { isExecutable } from '../sandbox/host.js';
import { strayProcesses } from '../sandbox/uids.js';
import { parseFlags, parseOrReport, UsageError, writeLine } from './args.js';

/**
 * Which of the three v2 paths this renderer is on (README, "Operating it"): root on the
 * host's hierarchy, root in a container's own cgroup namespace, or an ordinary user with
 * a delegated subtree (systemd Delegate=yes).
 */
function cgroupPathName(own: string, mount: string): string {
  if (process.getuid?.() !== 0) {
    let writable = false;
    try {
      accessSync(join(own, 'cgroup.subtree_control'), constants.W_OK);
      writable = true;
    } catch {
      /* not delegated */
    }
    return writable ? `delegated v2 (own cgroup ${own})` : `v2, but ${own} is not delegated to this user`;
  }
  // A cgroup namespace whose root is not the host's: that root is an ordinary cgroup,
  // which has cgroup.type (the real root has none). Marker files such as /.dockerenv
  // say nothing here: a VM booted on a container's files has them too.
  const nsRoot = resolve(own) === resolve(mount) && existsSync(join(mount, 'cgroup.type'));
  return nsRoot ? `container v2 (cgroup namespace root ${mount}; processes move into init/)` : 'root on v2';
}

export interface Check {
  name: string;
  ok: boolean;
  /** Fails the doctor when not ok (others are warnings). */
  required: boolean;
  detail: string;
  fix?: string;
}

const readText = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
};

/** The C library the launcher was linked with (`renderer-launcher --version`). */
function launcherLibc(): string | null {
  try {
    return /^renderer-launcher (\w+)$/m.exec(execFileSync(LAUNCHER_PATH, ['--version'], { encoding: 'utf8', timeout: 5000 }))?.[1] ?? null;
  } catch {
    return null;
  }
}

export async function hostChecks(config: Readonly<Config>): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (check: Check): void => void checks.push(check);

  add({
    name: 'platform',
    ok: process.platform === 'linux' && process.arch === 'x64',
    required: true,
    detail: `${process.platform} ${process.arch}, node ${process.version}`,
    fix: 'the seccomp policy covers Linux x86_64 only',
  });

  const bwrap = config.sandbox.bwrapPath;
  let bwrapVersion = '';
  try {
    bwrapVersion = execFileSync(bwrap, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    /* reported below */
  }
  add({ name: 'bubblewrap', ok: bwrapVersion !== '', required: true, detail: bwrapVersion || `${bwrap} missing`, fix: 'apt-get install bubblewrap' });

  const maxUserNs = readText('/proc/sys/user/max_user_namespaces');
  const debianSwitch = readText('/proc/sys/kernel/unprivileged_userns_clone');
  const apparmor = readText('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  const userNs = maxUserNs !== null && Number(maxUserNs) > 0 && debianSwitch !== '0' && apparmor !== '1';
  add({
    name: 'user namespaces',
    ok: userNs,
    required: true,
    detail: `max_user_namespaces=${maxUserNs ?? 'n/a'}${debianSwitch !== null ? `, unprivileged_userns_clone=${debianSwitch}` : ''}${apparmor !== null ? `, apparmor_restrict_unprivileged_userns=${apparmor}` : ''}`,
    fix: 'sysctl user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1 (in a container: allow unshare in its seccomp/AppArmor profile)',
  });

  const actions = readText('/proc/sys/kernel/seccomp/actions_avail') ?? '';
  add({
    name: 'seccomp',
    ok: /\bkill_process\b/.test(actions) && /\berrno\b/.test(actions),
    required: true,
    detail: actions ? `actions: ${actions}` : 'no /proc/sys/kernel/seccomp (kernel without CONFIG_SECCOMP_FILTER?)',
    fix: 'a kernel with seccomp filters and SECCOMP_RET_KILL_PROCESS (Linux 4.14+)',
  });

  const layout = await detectCgroups();
  add({
    name: 'cgroups',
    ok: layout.version !== 0,
    required: config.sandbox.requireCgroups,
    detail:
      layout.version === 0
        ? layout.reason
        : layout.version === 1
          ? `root on v1: ${Object.keys(layout.own).join(', ')}`
          : `${cgroupPathName(layout.own, layout.mount)} at ${layout.mount}: ${layout.controllers.join(' ')}`,
    fix: 'mount cgroup v2 with the memory and pids controllers, and run as root or with a delegated subtree (systemd Delegate=yes, see README)',
  });

  // v1 joins through `tasks` without the global lock (native/launcher.c); v2 joins
  // through cgroup.procs, which takes it.
  if (layout.version === 2) {
    const fast = await favorsDynamicModifications();
    add({
      name: 'cgroup migration',
      ok: fast,
      required: false,
      detail: fast ? 'favordynmods: joining a run cgroup is fast' : 'joining a run cgroup can wait for an RCU grace period (~10-20 ms a run)',
      fix: 'mount -o remount,favordynmods <a cgroup mount> (Linux 6.0+; forks and exits get slightly dearer)',
    });
  }

  const helpers = isExecutable(LAUNCHER_PATH);
  add({
    name: 'native helpers',
    ok: helpers,
    required: true,
    detail: LAUNCHER_PATH,
    fix: 'npm install (node-gyp builds native/)',
  });
  if (helpers) {
    const libc = launcherLibc();
    add({
      name: 'helper start-up',
      ok: libc === 'musl',
      required: false,
      detail:
        libc === 'musl'
          ? 'launcher and reaper linked against musl: they start in ~0.15 ms'
          : `launcher and reaper linked against ${libc ?? 'an unknown C library'}: glibc probes the CPU at start-up, ~0.5 ms more per run on a virtual machine`,
      fix: 'apt-get install musl-tools, then npm rebuild',
    });
  }

  add({
    name: 'privileges',
    ok: process.getuid?.() === 0,
    required: false,
    detail: `renderer uid ${process.getuid?.()}, each sandbox as a uid of its own from ${config.sandbox.uidRange.first} to ${config.sandbox.uidRange.first + config.sandbox.uidRange.count - 1}`,
    fix: 'not root: give build/Release/renderer-launcher cap_setuid,cap_setgid+ep and delegate a cgroup subtree (see Dockerfile)',
  });

  add(uidRangeCheck(config));

  // The end-to-end check: a trivial step through every layer.
  let runner: Runner | null = null;
  try {
    runner = await Runner.create(config, { warn: () => undefined });
  } catch (error) {
    add({ name: 'state directory', ok: false, required: true, detail: (error as Error).message });
  }
  if (runner) {
    if (!runner.sandbox) add({ name: 'sandbox', ok: false, required: true, detail: runner.sandboxProblem ?? 'unavailable' });
    else {
      const started = performance.now();
      const result = await runStep(runner, {
        step: { code: 'export function render(t, p, ctx) { return { json: { ok: true } }; }' },
        limits: runner.limits(),
      });
      await runner.settle();
      add(await poolMemoryCheck(config, runner));
      add({
        name: 'trivial step',
        ok: result.outcome === 'ok',
        required: true,
        detail:
          result.outcome === 'ok'
            ? `ok in ${(performance.now() - started).toFixed(0)} ms (${runner.sandbox.cgroups?.description ?? 'no cgroups'}, snapshot ${runner.sandbox.snapshotAvailable ? 'yes' : 'no'})`
            : `${result.outcome}: ${result.error}`,
      });
    }
  }
  return checks;
}

/** Who else uses a uid or gid of the range: accounts, groups, subordinate id ranges. */
export function uidRangeUsers(range: { first: number; count: number }, files = { passwd: '/etc/passwd', group: '/etc/group', subuid: '/etc/subuid', subgid: '/etc/subgid' }): string[] {
  const last = range.first + range.count - 1;
  const inRange = (id: number): boolean => id >= range.first && id <= last;
  const found: string[] = [];
  for (const [what, file] of [['account', files.passwd], ['group', files.group]] as const)
    for (const line of (readText(file) ?? '').split('\n')) {
      const [name, , id] = line.split(':');
      if (id !== undefined && /^\d+$/.test(id) && inRange(Number(id))) found.push(`${what} ${name} (${id}) in ${file}`);
    }
  for (const file of [files.subuid, files.subgid])
    for (const line of (readText(file) ?? '').split('\n')) {
      const [name, start, count] = line.split(':');
      if (!start || !count || !/^\d+$/.test(start) || !/^\d+$/.test(count)) continue;
      const [a, b] = [Number(start), Number(start) + Number(count) - 1];
      if (a <= last && b >= range.first) found.push(`${name}'s range ${a}-${b} in ${file}`);
    }
  return found;
}

/** The step-uid range must belong to no one else: a host account or a container's
 * subordinate ids sharing a uid with a step could reach its files and processes. */
function uidRangeCheck(config: Readonly<Config>): Check {
  const { uidRange, hostDir } = config.sandbox;
  const users = uidRangeUsers(uidRange);
  let strays: string[] = [];
  try {
    strays = strayProcesses(hostDir, uidRange).slice(0, 5).map((p) => `process ${p.pid} runs as ${p.uid} with no sandbox lease`);
  } catch (error) {
    strays = [`the leases under ${hostDir} cannot be read: ${(error as Error).message}`];
  }
  const problems = [...users, ...strays];
  return {
    name: 'step uids',
    ok: problems.length === 0,
    required: true,
    detail: problems.length
      ? `sandbox.uidRange ${uidRange.first}-${uidRange.first + uidRange.count - 1} is used: ${problems.join('; ')}`
      : `${uidRange.count} uids from ${uidRange.first}, leased one per live sandbox under ${hostDir}/uids; no account, subordinate range or other process uses them`,
    fix: 'set sandbox.uidRange.first to a block of uids nobody on this host uses (every renderer on the host must share one range and one sandbox.hostDir)',
  };
}

/** What the warm pool costs: one warm child's memory, measured, times the pool size. */
async function poolMemoryCheck(config: Readonly<Config>, runner: Runner): Promise<Check> {
  const size = config.pool.size ?? defaultPoolSize(availableParallelism());
  let perChild: number | null = null;
  try {
    const child = await runner.spawnChild(runner.limits());
    let timer: NodeJS.Timeout | undefined;
    const ready = await Promise.race([child.ready.then(() => true, () => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 15_000)))]);
    clearTimeout(timer);
    if (ready) perChild = (await child.process.cgroup?.stats())?.memoryBytes ?? null;
    await child.discard();
  } catch {
    /* reported as unmeasured */
  }
  const mib = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MiB`;
  if (perChild === null) return { name: 'pool memory', ok: false, required: false, detail: `pool.size ${size}: a warm child's memory could not be measured (no cgroup)` };
  const total = perChild * size;
  const share = total / totalmem();
  return {
    name: 'pool memory',
    ok: share <= 0.25,
    required: false,
    detail: `pool.size ${size} x ${mib(perChild)} per warm child = ${mib(total)} (${(share * 100).toFixed(1)}% of ${mib(totalmem())})`,
    fix: 'lower pool.size: past a few warm children per core a larger pool buys no latency',
  };
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const parsed = parseOrReport('doctor', () => {
    const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' }, config: { type: 'string' } });
    if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
    return values;
  });
  if (!parsed) return 2;
  const checks = await hostChecks(parsed.config);
  const healthy = checks.every((c) => c.ok || !c.required);
  if (parsed.args.json) writeLine(process.stdout, JSON.stringify({ healthy, checks }));
  else {
    for (const c of checks)
      writeLine(process.stdout, `${c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn'}  ${c.name.padEnd(16)} ${c.detail}${!c.ok && c.fix ? `\n                       fix: ${c.fix}` : ''}`);
    writeLine(process.stdout, healthy ? 'steps can run on this host' : 'steps cannot run on this host: fix the FAIL lines');
  }
  return healthy ? 0 : 1;
}
