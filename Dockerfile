# syntax=docker/dockerfile:1
# The renderer daemon. Build: docker build -t renderer .
# Run (the container must allow bwrap's user namespaces and give a writable cgroup v2):
#   docker run -p 8080:8080 -e RENDERER_TOKEN=$(openssl rand -hex 24) \
#     --cgroupns=private --cap-add SYS_ADMIN \
#     --security-opt seccomp=unconfined \
#     --security-opt apparmor=unconfined \
#     renderer
# Why each option:
#   seccomp=unconfined   Docker's default profile refuses unshare(CLONE_NEWUSER) and
#                        clone with namespace flags to a process without CAP_SYS_ADMIN;
#                        bwrap needs them. (A custom profile allowing them works too.)
#                        Every step still gets the renderer's own, much stricter filter.
#   apparmor=unconfined  Ubuntu 23.10+ hosts restrict unprivileged user namespaces
#                        (kernel.apparmor_restrict_unprivileged_userns=1) unless allowed.
#   cgroupns=private     the container's own cgroup as /sys/fs/cgroup (the default on v2
#                        hosts), still under Docker's memory, CPU and pids limits. Never
#                        bind the host's /sys/fs/cgroup: that escapes those limits, and two
#                        containers would share one renderer/ tree.
#   cap-add SYS_ADMIN    lets the entrypoint (root, before it drops to `renderer` with no
#                        capabilities) remount that cgroup read-write and delegate a
#                        subtree to the renderer (per-run memory and pids limits, OOM
#                        detection); the cgroup namespace confines it to the container's
#                        own subtree. Without it runs end as sandbox_error (requireCgroups).
#                        deploy/docker/entrypoint.sh is tested on a real v2 kernel by
#                        `npm run test:vm`; Docker itself is not (no engine in CI).
# `renderer doctor` inside the container says what is missing.

FROM node:20-bookworm-slim AS build
# musl-tools: binding.gyp links the launcher and reaper against musl (faster start-up).
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ musl-tools && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/renderer
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
# npm ci runs the package's install script: node-gyp builds native/ (no prebuilt download).
RUN npm ci --no-audit --no-fund
COPY . .
# The V8 start-up snapshot is built here, for this image's node.
RUN npm run build && npm prune --omit=dev && rm -rf build/Release/obj.target build/Release/.deps

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap libcap2-bin tini \
    && rm -rf /var/lib/apt/lists/*
# The renderer runs as `renderer`; each sandbox as a uid of its own from
# sandbox.uidRange (config.json), numbers no account holds. /run/renderer holds their
# leases: to share one range between several containers on a host, bind-mount one host
# directory there in each (-v /run/renderer:/run/renderer), or give each its own range.
RUN groupadd --system renderer && useradd --system --gid renderer --home-dir /var/lib/renderer renderer \
    && install -d -o renderer -g renderer -m 0711 /var/lib/renderer \
    && install -d -o renderer -g renderer -m 0700 /run/renderer
COPY --from=build /opt/renderer /opt/renderer
COPY deploy/docker/config.json /etc/renderer/config.json
COPY deploy/docker/entrypoint.sh /usr/local/bin/renderer-entrypoint
# The one privileged piece: the launcher may switch to the step user (it refuses uid 0),
# and only the renderer's group may run it. Everything else runs unprivileged.
RUN chown root:renderer /opt/renderer/build/Release/renderer-launcher \
    && chmod 0750 /opt/renderer/build/Release/renderer-launcher \
    && setcap cap_setuid,cap_setgid+ep /opt/renderer/build/Release/renderer-launcher \
    && chmod -R a-w /opt/renderer
EXPOSE 8080
# Ready, not just alive: the sandbox works and a child is warm (/readyz). The port is
# the config's (deploy/docker/config.json); change both together.
HEALTHCHECK CMD node -e "fetch('http://127.0.0.1:8080/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["tini", "--", "renderer-entrypoint"]
CMD ["serve", "--config", "/etc/renderer/config.json"]
