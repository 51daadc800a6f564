// V8 flags of every step child. They are part of the start-up snapshot's identity: the
// snapshot is built with exactly these (scripts/build-runtime.mjs) and children run with
// exactly these, or V8 refuses the snapshot.
//
// The heap limit sits far above any sensible cgroup memory limit on purpose: a memory
// bomb must meet the kernel's OOM killer in the run's cgroup (reported as oom_killed),
// not V8's own "heap out of memory" abort (a crash). V8 sizes its GC work from the live
// heap, not from this cap, so a high cap does not delay collection.
export const CHILD_V8_FLAGS: readonly string[] = Object.freeze(['--max-old-space-size=65536']);
