// Whether this renderer can start sandboxes right now, from what recent starts did:
// a host that ran out of something (uids, pids, memory, namespaces) or is overloaded
// shows it as runs ending `sandbox_error` and warm spawns failing, long before a
// probe would. The daemon turns not-ready ("degraded") on it: /readyz answers 503
// and the status page stops showing green, so a load balancer and on-call both see it.

/** Starts remembered; the verdict is over these. */
const WINDOW = 20;
/** Failed starts within the window that make the renderer degraded. */
const DEGRADED_AT = 3;

export class StartHealth {
  private readonly recent: boolean[] = [];
  private lastProblem: string | null = null;

  /** A run ended (any outcome but sandbox_error means its sandbox started), or a warm spawn failed. */
  record(started: boolean, problem?: string | null): void {
    this.recent.push(started);
    if (this.recent.length > WINDOW) this.recent.shift();
    if (!started) this.lastProblem = problem ?? 'unknown';
  }

  /** A readiness problem, or null when starts are healthy. */
  problem(): string | null {
    const failed = this.recent.filter((ok) => !ok).length;
    if (failed < DEGRADED_AT) return null;
    return `degraded: ${failed} of the last ${this.recent.length} sandbox starts failed (runs ending sandbox_error, warm spawns failing); last: ${this.lastProblem}`;
  }
}
