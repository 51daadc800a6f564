/*
 * renderer-reaper: pid 1 of every sandbox (bwrap --as-pid-1).
 *
 *   renderer-reaper --status-fd N --keep-fds K -- COMMAND ARGS...
 *
 * Why it exists: bwrap reports a child killed by signal N as exit status 128+N, so
 * `process.exit(137)` and a SIGKILL would look the same. The reaper forks the command,
 * waits for it and writes its true wait status to the status fd, which the command
 * itself never holds (FD_CLOEXEC) and cannot reach through /proc/1/fd either
 * (PR_SET_DUMPABLE 0 makes /proc/1 root-owned and unptraceable for the step's uid).
 *
 * Records, one line each: "started", then "exited CODE" or "signaled SIGNO [core]".
 * When the command exits, the reaper exits too; as pid 1 its exit makes the kernel
 * SIGKILL everything left in the pid namespace, so no detached child outlives a run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long parse_fd(const char *s) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0 || v > 1 << 20) {
    dprintf(2, "renderer-reaper: bad fd '%s'\n", s);
    _exit(125);
  }
  return v;
}

static void close_range_except(int from, int except) {
  /* Every inherited fd above `from` is closed but the status fd. */
  if (except > from) {
    if (except - 1 >= from + 1) syscall(SYS_close_range, (unsigned)from + 1, (unsigned)except - 1, 0);
    syscall(SYS_close_range, (unsigned)except + 1, ~0U, 0);
  } else {
    syscall(SYS_close_range, (unsigned)from + 1, ~0U, 0);
  }
}

int main(int argc, char **argv) {
  int status_fd = -1, keep = 2, i = 1;
  for (; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--status-fd") == 0)
      status_fd = (int)parse_fd(argv[i + 1]);
    else if (strcmp(argv[i], "--keep-fds") == 0)
      keep = (int)parse_fd(argv[i + 1]);
    else
      break;
  }
  if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc || status_fd < 0) {
    dprintf(2, "usage: renderer-reaper --status-fd N --keep-fds K -- COMMAND ARGS...\n");
    return 125;
  }
  char **command = &argv[i + 1];

  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  close_range_except(keep, status_fd);
  if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) {
    dprintf(2, "renderer-reaper: status fd %d: %s\n", status_fd, strerror(errno));
    return 125;
  }
  dprintf(status_fd, "started\n");

  pid_t child = fork();
  if (child < 0) {
    dprintf(status_fd, "error reaper: fork failed: %s\n", strerror(errno));
    return 125;
  }
  if (child == 0) {
    execv(command[0], command);
    dprintf(2, "renderer-reaper: cannot exec %s: %s\n", command[0], strerror(errno));
    _exit(127);
  }

  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      dprintf(status_fd, "error reaper: waitpid: %s\n", strerror(errno));
      return 125;
    }
    if (pid != child) continue; /* an orphan re-parented to pid 1: reaped, nothing to report */
    if (WIFEXITED(status)) {
      dprintf(status_fd, "exited %d\n", WEXITSTATUS(status));
      return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
      dprintf(status_fd, "signaled %d%s\n", WTERMSIG(status), WCOREDUMP(status) ? " core" : "");
      return 128 + WTERMSIG(status);
    }
  }
}
