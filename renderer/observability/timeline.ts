// Outcome counts per minute over the last hour, for the status page's chart. Totals and
// the exit-status breakdown come from the Prometheus counters (metrics.ts) instead:
// one source for each figure.
const MINUTE = 60_000;

export interface TimelineBucket {
  minute: string;
  outcomes: Record<string, number>;
}

export class OutcomeTimeline {
  private readonly buckets = new Map<number, Record<string, number>>();

  constructor(private readonly minutes = 60) {}

  record(outcome: string, at = Date.now()): void {
    const minute = Math.floor(at / MINUTE) * MINUTE;
    const bucket = this.buckets.get(minute) ?? {};
    bucket[outcome] = (bucket[outcome] ?? 0) + 1;
    this.buckets.set(minute, bucket);
    const oldest = minute - (this.minutes - 1) * MINUTE;
    for (const key of this.buckets.keys()) if (key < oldest) this.buckets.delete(key);
  }

  /** One bucket per minute, oldest first, empty minutes included. */
  series(now = Date.now()): TimelineBucket[] {
    const last = Math.floor(now / MINUTE) * MINUTE;
    return Array.from({ length: this.minutes }, (_, i) => {
      const minute = last - (this.minutes - 1 - i) * MINUTE;
      return { minute: new Date(minute).toISOString(), outcomes: { ...(this.buckets.get(minute) ?? {}) } };
    });
  }
}
