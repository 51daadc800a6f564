/*
 * renderer-launcher: the only code between the renderer and bubblewrap.
 *
 *   renderer-launcher --status-fd N --keep-fds K --uid U --gid G
 *                     [--cgroup-join FILE]... [--cgroup-into DIR] [--rlimit NAME=SOFT:HARD]...
 *                     [--nice N] [--sndbuf BYTES] -- BWRAP ARGS...
 *   renderer-launcher --version
 *
 * It exists because four things must happen in the child *before* bwrap runs, and
 * Node's spawn has no pre-exec hook:
 *   1. close every inherited fd above K (runc CVE-2024-21626: a leaked fd to a host
 *      directory is an escape);
 *   2. join the run's cgroups, so no instruction of untrusted code ever runs outside
 *      its memory and pids limits (children inherit the cgroup; joining later would race);
 *   3. set the rlimit backstops;
 *   4. drop to the unprivileged step uid/gid with no supplementary groups, lock
 *      securebits, empty the capability bounding set, set no_new_privs.
 * Then it execs bwrap, which builds the namespaces as that unprivileged user.
 *
 * Any failure writes "error <message>" to the status fd and exits 125: the renderer
 * reports sandbox_error. Nothing here ever falls back to running less isolated.
 *
 * When the renderer is not root, give this file cap_setuid,cap_setgid+ep and make it
 * executable only by the renderer's group (see Dockerfile): it refuses uid 0 and gid 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* From the kernel's uapi linux/securebits.h (a stable ABI), spelled out here because
 * musl's headers carry no linux/ directory (binding.gyp builds this against musl). */
#define SECBIT_NOROOT (1 << 0)
#define SECBIT_NOROOT_LOCKED (1 << 1)
#define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#define SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)

/* `--version` names the C library this was linked with: `renderer doctor` reports it,
 * since a glibc build starts ~0.25 ms slower (binding.gyp). */
#ifdef __GLIBC__
#define LIBC_NAME "glibc"
#else
#define LIBC_NAME "musl"
#endif

#define MAX_LIST 16
#define EXIT_SETUP_FAILED 125

static int status_fd = -1;

static void fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (status_fd >= 0) dprintf(status_fd, "error launcher: %s\n", msg);
  dprintf(2, "renderer-launcher: %s\n", msg);
  _exit(EXIT_SETUP_FAILED);
}

static long parse_long(const char *s, const char *what) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0') fail("%s must be an integer, got '%s'", what, s);
  return v;
}

static rlim_t parse_rlim(const char *s) {
  if (strcmp(s, "unlimited") == 0) return RLIM_INFINITY;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end != '\0') fail("rlimit value must be an integer or 'unlimited', got '%s'", s);
  return (rlim_t)v;
}

static int rlimit_resource(const char *name) {
  if (strcmp(name, "FSIZE") == 0) return RLIMIT_FSIZE;
  if (strcmp(name, "NOFILE") == 0) return RLIMIT_NOFILE;
  if (strcmp(name, "CORE") == 0) return RLIMIT_CORE;
  if (strcmp(name, "NPROC") == 0) return RLIMIT_NPROC;
  if (strcmp(name, "CPU") == 0) return RLIMIT_CPU;
  fail("unknown rlimit '%s' (FSIZE, NOFILE, CORE, NPROC, CPU)", name);
  return -1;
}

static void close_fds_above(int keep) {
  /* close_range(2) since Linux 5.9; the loop is the fallback for older kernels. */
  if (syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = keep + 1; fd < max; fd++) close((int)fd);
}

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL

/*
 * cgroup v2: start the rest of the launch as a child born in the run's cgroup
 * (clone3 with CLONE_INTO_CGROUP, Linux 5.7+) instead of migrating this process there.
 * A migration through cgroup.procs takes the kernel's global threadgroup lock, which can
 * wait for an RCU grace period (~18 ms a run, README); a birth in place takes neither.
 *
 * Returns in the child (now in the cgroup), or returns false in this process when the
 * kernel cannot (ENOSYS/E2BIG: clone3 or the flag unknown; EINVAL/EOPNOTSUPP/EBADF:
 * not a v2 cgroup it accepts): the caller then migrates, which isolates the same. The
 * parent never returns: it holds no fd of the run, waits for the child and ends as it
 * did, so the renderer sees one launcher as before; if the parent is killed, bwrap's
 * --die-with-parent ends the sandbox.
 */
static bool born_into_cgroup(const char *dir, int keep) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open cgroup %s: %s", dir, strerror(errno));
  struct {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
  } args = {.flags = CLONE_INTO_CGROUP_FLAG, .exit_signal = SIGCHLD, .cgroup = (uint64_t)fd};
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) {
    int e = errno;
    close(fd);
    if (e == ENOSYS || e == E2BIG || e == EINVAL || e == EOPNOTSUPP || e == EBADF) return false;
    fail("cannot start in cgroup %s: %s", dir, strerror(e));
  }
  if (pid == 0) {
    close(fd);
    return true;
  }
  for (int f = 3; f <= keep; f++) close(f);
  close(fd);
  int status;
  while (waitpid((pid_t)pid, &status, 0) < 0)
    if (errno != EINTR) _exit(EXIT_SETUP_FAILED);
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  signal(sig, SIG_DFL);
  kill(getpid(), sig);
  _exit(128 + sig);
}

/* Writes "0" (the caller) to a cgroup's cgroup.procs (v2) or tasks (v1) file. For v1
 * tasks that moves the calling thread alone, without the kernel's global threadgroup
 * lock: this process has a single thread, so all of it moves, and nothing forks before. */
static void join_cgroup(const char *file) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open %s: %s", file, strerror(errno));
  if (write(fd, "0\n", 2) != 2) fail("cannot join cgroup via %s: %s", file, strerror(errno));
  close(fd);
}

static void drop_privileges(uid_t uid, gid_t gid) {
  if (uid == 0 || gid == 0) fail("refusing to run a sandbox as uid/gid 0");

  /* While still privileged: empty the bounding set and lock securebits so that no
   * later exec (a setuid-root binary, file capabilities) can hand capabilities back. */
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    fail("cannot clear ambient capabilities: %s", strerror(errno));
  if (geteuid() == 0) {
    for (int cap = 0; cap <= 63; cap++)
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
        fail("cannot drop capability %d from the bounding set: %s", cap, strerror(errno));
    if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                     SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
              0, 0, 0) != 0)
      fail("cannot lock securebits: %s", strerror(errno));
  }

  /* gid before uid: after setresuid we would no longer be allowed to change groups. */
  if (setgroups(0, NULL) != 0) fail("cannot clear supplementary groups: %s", strerror(errno));
  if (setresgid(gid, gid, gid) != 0) fail("cannot switch to gid %d: %s", (int)gid, strerror(errno));
  if (setresuid(uid, uid, uid) != 0) fail("cannot switch to uid %d: %s", (int)uid, strerror(errno));

  /* A non-root renderer runs this launcher with file capabilities (cap_setuid,
   * cap_setgid). The kernel clears capabilities on a uid change only when a uid was 0
   * before, so here they would survive setresuid and let the step's processes switch
   * uid again, to 0 included (found on a real v2 kernel by test:vm's delegated path).
   * Clear every set explicitly; the check below proves it. */
  /* The kernel's capset ABI (linux/capability.h, not in musl's headers): version 3. */
  struct { uint32_t version; int pid; } header = {0x20080522, 0};
  struct { uint32_t effective, permitted, inheritable; } none[2] = {{0, 0, 0}, {0, 0, 0}};
  if (syscall(SYS_capset, &header, none) != 0) fail("cannot clear capabilities: %s", strerror(errno));

  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || ru != uid || eu != uid || su != uid) fail("uid switch did not stick");
  if (getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid) fail("gid switch did not stick");
  if (setuid(0) == 0) fail("could regain uid 0 after dropping privileges");

  /* no_new_privs: exec can never raise privileges again (setuid bits, file caps). */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("cannot set no_new_privs: %s", strerror(errno));
}

int main(int argc, char **argv) {
  const char *cgroups[MAX_LIST];
  const char *rlimits[MAX_LIST];
  const char *cgroup_into = NULL;
  int n_cgroups = 0, n_rlimits = 0, keep = 2;
  long uid = -1, gid = -1, nice_level = 0, sndbuf = 0;
  int i = 1;
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("renderer-launcher %s\n", LIBC_NAME);
    return 0;
  }
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (i + 1 >= argc) fail("option %s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--status-fd") == 0)
      status_fd = (int)parse_long(v, "--status-fd");
    else if (strcmp(a, "--keep-fds") == 0)
      keep = (int)parse_long(v, "--keep-fds");
    else if (strcmp(a, "--uid") == 0)
      uid = parse_long(v, "--uid");
    else if (strcmp(a, "--gid") == 0)
      gid = parse_long(v, "--gid");
    else if (strcmp(a, "--nice") == 0)
      nice_level = parse_long(v, "--nice");
    else if (strcmp(a, "--sndbuf") == 0)
      sndbuf = parse_long(v, "--sndbuf");
    else if (strcmp(a, "--cgroup-join") == 0 && n_cgroups < MAX_LIST)
      cgroups[n_cgroups++] = v;
    else if (strcmp(a, "--cgroup-into") == 0 && cgroup_into == NULL)
      cgroup_into = v;
    else if (strcmp(a, "--rlimit") == 0 && n_rlimits < MAX_LIST)
      rlimits[n_rlimits++] = v;
    else
      fail("unknown or repeated option %s", a);
  }
  if (i >= argc) fail("no command after --");
  if (uid < 0 || gid < 0) fail("--uid and --gid are required");
  if (keep < 2 || (status_fd >= 0 && status_fd > keep)) fail("--keep-fds must be >= 2 and cover --status-fd");

  close_fds_above(keep);

  for (int c = 0; c < n_cgroups; c++) join_cgroup(cgroups[c]);
  if (cgroup_into != NULL && !born_into_cgroup(cgroup_into, keep)) {
    char procs[4096];
    if (snprintf(procs, sizeof procs, "%s/cgroup.procs", cgroup_into) >= (int)sizeof procs) fail("cgroup path too long");
    join_cgroup(procs);
  }

  for (int r = 0; r < n_rlimits; r++) {
    char spec[128];
    snprintf(spec, sizeof spec, "%s", rlimits[r]);
    char *eq = strchr(spec, '=');
    char *colon = eq ? strchr(eq + 1, ':') : NULL;
    if (!eq || !colon) fail("--rlimit wants NAME=SOFT:HARD, got '%s'", rlimits[r]);
    *eq = '\0';
    *colon = '\0';
    struct rlimit rl = {.rlim_cur = parse_rlim(eq + 1), .rlim_max = parse_rlim(colon + 1)};
    if (setrlimit(rlimit_resource(spec), &rl) != 0) fail("cannot set rlimit %s: %s", spec, strerror(errno));
  }

  /* Steps yield the CPU to the renderer: under overload the renderer must still drain
   * their pipes, answer and time them, or their own slowness would be blamed on them
   * (a step printing 20 MiB timed out at 16 runs on 2 cores). Inherited by every
   * process of the sandbox; raising it needs no privilege, lowering it would. */
  if (nice_level < 0 || nice_level > 19) fail("--nice must be from 0 to 19, got %ld", nice_level);
  if (nice_level > 0 && setpriority(PRIO_PROCESS, 0, (int)nice_level) != 0) fail("cannot set nice %ld: %s", nice_level, strerror(errno));

  /* A larger send buffer on the step's stdout and stderr (sockets to the renderer): a
   * step's blocking writes then need the renderer to wake once per megabyte, not once
   * per ~200 KiB. On a host with every core busy each such wake-up waits its turn in
   * the run queue, and a step printing 20 MiB timed out waiting for them. FORCE (still
   * root here) passes net.core.wmem_max; a failure (not a socket) changes nothing. */
  if (sndbuf > 0)
    for (int fd = 1; fd <= 2; fd++) {
      int size = (int)sndbuf;
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }

  drop_privileges((uid_t)uid, (gid_t)gid);

  /* The status fd must reach the reaper inside the sandbox; everything else <= keep is
   * the renderer's deliberate stdio. */
  execv(argv[i], &argv[i]);
  fail("cannot exec %s: %s", argv[i], strerror(errno));
  return EXIT_SETUP_FAILED;
}
