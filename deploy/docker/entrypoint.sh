#!/bin/sh
# Container entrypoint: as root, delegate a cgroup v2 subtree to the renderer the way
# systemd's Delegate=yes would, then drop to the unprivileged renderer user.
#
# The container must have a cgroup namespace of its own (docker run --cgroupns=private,
# the default on v2 hosts): /sys/fs/cgroup is then the container's own cgroup, under
# Docker's memory, CPU and pids limits, never the host's root (binding the host's
# /sys/fs/cgroup would escape those limits, and two containers would share one tree).
# Docker mounts it read-only; with CAP_SYS_ADMIN the entrypoint remounts it writable (the
# cgroup namespace keeps that to the container's own subtree).
#
#   /sys/fs/cgroup/init               every process already here (tini, pid 1): v2 allows
#                                     no processes in a cgroup that hands controllers down
#   /sys/fs/cgroup/renderer/          owned by renderer: memory, pids, cpu enabled
#   /sys/fs/cgroup/renderer/supervisor  the renderer itself (it moves there)
#   /sys/fs/cgroup/renderer/run-*     one per run, made by the renderer
#
# Tested on a real v2 kernel by `npm run test:vm` (test/vm/cgroup-v2.test.ts).
set -eu
home=${RENDERER_HOME:-/opt/renderer}
user=${RENDERER_USER:-renderer}
cg=/sys/fs/cgroup
if [ "$(id -u)" = 0 ] && [ -f "$cg/cgroup.controllers" ]; then
  [ -w "$cg/cgroup.procs" ] || mount -o remount,rw "$cg" 2>/dev/null || true
fi
if [ "$(id -u)" = 0 ] && [ -f "$cg/cgroup.controllers" ] && [ -w "$cg/cgroup.procs" ]; then
  mkdir -p "$cg/init" "$cg/renderer"
  for pid in $(cat "$cg/cgroup.procs"); do echo "$pid" > "$cg/init/cgroup.procs" 2>/dev/null || true; done
  echo $$ > "$cg/renderer/cgroup.procs"
  for c in memory pids cpu; do
    grep -qw "$c" "$cg/cgroup.controllers" && echo "+$c" > "$cg/cgroup.subtree_control" || true
  done
  chown -R "$user:$user" "$cg/renderer"
else
  echo "renderer-entrypoint: no writable cgroup v2 at $cg (run with --cgroupns=private and --cap-add SYS_ADMIN); runs will be sandbox_error (see the Dockerfile's header)" >&2
fi
[ "$(id -u)" = 0 ] && exec setpriv --reuid "$user" --regid "$user" --init-groups --inh-caps=-all -- node "$home/bin/renderer.js" "$@"
exec node "$home/bin/renderer.js" "$@"
