#!/bin/sh
# Container entrypoint: as root, delegate a cgroup v2 subtree to the renderer the way
# systemd's Delegate=yes would, then drop to the unprivileged renderer user.
#
#   /sys/fs/cgroup/init               tini (pid 1): v2 allows no processes in a cgroup
#                                     that hands controllers to its children
#   /sys/fs/cgroup/renderer/          owned by renderer: memory, pids, cpu enabled
#   /sys/fs/cgroup/renderer/supervisor  the renderer itself
#   /sys/fs/cgroup/renderer/run-*     one per run, made by the renderer
set -eu
cg=/sys/fs/cgroup
if [ "$(id -u)" = 0 ] && [ -f "$cg/cgroup.controllers" ] && [ -w "$cg/cgroup.procs" ]; then
  mkdir -p "$cg/init" "$cg/renderer/supervisor"
  echo 1 > "$cg/init/cgroup.procs"
  echo $$ > "$cg/renderer/supervisor/cgroup.procs"
  for c in memory pids cpu; do
    grep -qw "$c" "$cg/cgroup.controllers" && echo "+$c" > "$cg/cgroup.subtree_control" || true
  done
  chown -R renderer:renderer "$cg/renderer"
else
  echo "renderer-entrypoint: no writable cgroup v2 at $cg; runs will be sandbox_error (see the Dockerfile's header)" >&2
fi
[ "$(id -u)" = 0 ] && exec setpriv --reuid renderer --regid renderer --init-groups -- node /opt/renderer/bin/renderer.js "$@"
exec node /opt/renderer/bin/renderer.js "$@"
