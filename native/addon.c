/*
 * renderer_native: the few system calls Node does not expose, for both sides.
 *
 *   mapFile(path, maxBytes) -> ArrayBuffer   copy-on-write mapping of a regular file
 *   unmap(arrayBuffer)                        detach every view, then munmap; only a live
 *                                             mapping that mapFile made
 *   installSeccomp(bpfBytes)                  no_new_privs + seccomp filter on all threads
 *   exitNow(code)                             _exit(2): end the process without Node's teardown
 *   tryLock(fd) -> boolean                    flock(LOCK_EX|LOCK_NB): host-wide leases that the
 *                                             kernel releases when their holder dies
 *   grantWrite(fd, uid)                       a POSIX ACL giving `uid` read-write access to the
 *                                             file this process owns (a non-root renderer
 *                                             cannot chown the output file to the step uid)
 *   seal()                                    one way: from now on this instance refuses
 *                                             mapFile, installSeccomp, tryLock and grantWrite
 *
 * Reviewed as security code. The renderer maps files that untrusted steps wrote, so
 * the open never follows a symlink, never blocks on a FIFO, and refuses anything but a
 * regular file no larger than the caller's limit before a single page is mapped.
 *
 * The step runtime loads this addon inside the sandbox, before step code, and keeps it.
 * Step code must be assumed to reach what the runtime keeps (with Node's permission
 * model off, the inspector reads the runtime's locals), so every function here refuses
 * what it was not made for, and the runtime seals the addon before step code runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/xattr.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PATH_MAX_BYTES 4096

typedef struct {
  void *addr;
  size_t length;
} mapping_t;

/* State of one instance of the addon: one per napi_env, i.e. per thread that loaded it
 * (the daemon's main thread, each of its worker threads, the step runtime). Sealing
 * one never affects another. */
typedef struct {
  bool sealed;
} instance_t;

/* Marks every ArrayBuffer mapFile returns. The tag is a V8 private property: no
 * JavaScript can set it, and a copy of the buffer (structuredClone, transfer) does not
 * carry it. unmap acts on nothing else: it once took any ArrayBuffer, and on a
 * WebAssembly memory it left inaccessible pages (the next read a SIGSEGV). */
static const napi_type_tag MAPPING_TAG = {0x72656e6465726572ULL, 0x5f6d617070696e67ULL};

static napi_value throw_code(napi_env env, const char *code, const char *fmt, const char *arg, int err) {
  char message[PATH_MAX_BYTES + 256];
  snprintf(message, sizeof message, fmt, arg, err ? strerror(err) : "");
  napi_throw_error(env, code, message);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *code, const char *message) {
  napi_throw_type_error(env, code, message);
  return NULL;
}

/* True when `function` may run; otherwise throws and returns false. Fails closed when
 * the instance has no state (init refuses to load without it). */
static bool allowed_unsealed(napi_env env, const char *function) {
  instance_t *instance = NULL;
  if (napi_get_instance_data(env, (void **)&instance) == napi_ok && instance != NULL && !instance->sealed) return true;
  throw_code(env, "RENDERER_ERR_NATIVE_SEALED",
             "%s is refused: this instance of the addon is sealed (the step runtime seals it before step code runs)%s",
             function, 0);
  return false;
}

static void release_mapping(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  mapping_t *m = hint;
  if (m->length > 0) munmap(m->addr, m->length);
  free(m);
}

/* mapFile(path: string, maxBytes: number): ArrayBuffer */
static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  /* Sealed: step code holding the addon must not read files past Node's permission model. */
  if (!allowed_unsealed(env, "mapFile")) return NULL;
  if (argc != 2) return throw_code(env, "RENDERER_ERR_MMAP_ARGS", "mapFile(path, maxBytes) needs 2 arguments%s%s", "", 0);

  char path[PATH_MAX_BYTES];
  size_t path_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok)
    return throw_code(env, "RENDERER_ERR_MMAP_ARGS", "mapFile: path must be a string%s%s", "", 0);
  if (path_len == 0 || path_len >= sizeof path - 1 || strlen(path) != path_len)
    return throw_code(env, "RENDERER_ERR_MMAP_ARGS", "mapFile: path is empty, too long or contains NUL%s%s", "", 0);
  double max_bytes = 0;
  if (napi_get_value_double(env, argv[1], &max_bytes) != napi_ok || !(max_bytes >= 0))
    return throw_code(env, "RENDERER_ERR_MMAP_ARGS", "mapFile: maxBytes must be a non-negative number%s%s", "", 0);

  /* O_NOFOLLOW: a symlink planted by a step is refused (ELOOP), never followed
   * (judge0 CVE-2024-28185). O_NONBLOCK: opening a FIFO must not hang the renderer. */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP) return throw_code(env, "RENDERER_ERR_MMAP_SYMLINK", "%s is a symbolic link%s", path, 0);
    return throw_code(env, "RENDERER_ERR_MMAP_OPEN", "cannot open %s: %s", path, err);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return throw_code(env, "RENDERER_ERR_MMAP_OPEN", "cannot stat %s: %s", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return throw_code(env, "RENDERER_ERR_MMAP_NOT_REGULAR", "%s is not a regular file%s", path, 0);
  }
  if ((double)st.st_size > max_bytes) {
    close(fd);
    return throw_code(env, "RENDERER_ERR_MMAP_TOO_LARGE", "%s is larger than the limit%s", path, 0);
  }

  mapping_t *m = calloc(1, sizeof *m);
  if (m == NULL) {
    close(fd);
    return throw_code(env, "RENDERER_ERR_MMAP_NOMEM", "out of memory mapping %s%s", path, 0);
  }
  m->length = (size_t)st.st_size;
  if (m->length > 0) {
    /* Opened read-only, mapped private: pages are the page cache's own (zero-copy,
     * shared with every other mapping) until someone writes one. A write, e.g. a step
     * mutating its input table in place, gets a private copy instead of a SIGSEGV
     * from a PROT_READ page, and the file itself can never change. */
    m->addr = mmap(NULL, m->length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m->addr == MAP_FAILED) {
      int err = errno;
      free(m);
      close(fd);
      return throw_code(env, "RENDERER_ERR_MMAP_FAILED", "cannot map %s: %s", path, err);
    }
  }
  close(fd); /* the mapping keeps the file alive; no fd outlives this call */

  napi_value result;
  /* A zero-length file still yields a (zero-length) ArrayBuffer so callers have one shape. */
  static char empty;
  if (napi_create_external_arraybuffer(env, m->length ? m->addr : &empty, m->length, release_mapping, m, &result) !=
      napi_ok) {
    release_mapping(env, NULL, m);
    return throw_code(env, "RENDERER_ERR_MMAP_FAILED", "cannot wrap the mapping of %s%s", path, 0);
  }
  /* Untagged it would be unusable (unmap refuses it); its finalizer still unmaps at GC. */
  if (napi_type_tag_object(env, result, &MAPPING_TAG) != napi_ok)
    return throw_code(env, "RENDERER_ERR_MMAP_FAILED", "cannot tag the mapping of %s%s", path, 0);
  return result;
}

/* unmap(buffer): releases the file's pages now instead of at garbage collection.
 * Only a buffer that mapFile returned (tagged) and that is still attached: a detached
 * tagged buffer was unmapped already (or handed its memory to a copy, which carries no
 * tag), so a tagged attached buffer's memory is always a mapping of ours.
 * Order matters. First the range is replaced in place (MAP_FIXED) by an inaccessible
 * anonymous reservation: the file is unmapped, yet the addresses stay ours, so whenever
 * the finalizer runs (at detach or at GC) its munmap frees only that reservation and can
 * never hit a mapping another thread placed there meanwhile. Then the buffer is detached,
 * which zeroes every view's length: no JS code can reach the range again. */
static napi_value unmap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_ab = false;
  if (argc != 1 || napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab)
    return throw_type(env, "RENDERER_ERR_MMAP_ARGS", "unmap(buffer) needs an ArrayBuffer from mapFile");
  bool ours = false;
  if (napi_check_object_type_tag(env, argv[0], &MAPPING_TAG, &ours) != napi_ok || !ours)
    return throw_type(env, "RENDERER_ERR_MMAP_NOT_MAPPED",
                      "unmap: this ArrayBuffer is not a mapping made by mapFile; refusing to unmap memory the addon does not own");
  bool detached = true;
  if (napi_is_detached_arraybuffer(env, argv[0], &detached) != napi_ok || detached)
    return throw_type(env, "RENDERER_ERR_MMAP_NOT_MAPPED", "unmap: this mapping is already unmapped (its ArrayBuffer is detached)");
  void *data = NULL;
  size_t length = 0;
  napi_get_arraybuffer_info(env, argv[0], &data, &length);
  if (length > 0) {
    void *r = mmap(data, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return throw_code(env, "RENDERER_ERR_MMAP_FAILED", "unmap failed%s: %s", "", errno);
  }
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok)
    return throw_code(env, "RENDERER_ERR_MMAP_ARGS", "unmap: buffer cannot be detached%s%s", "", 0);
  return NULL;
}

/* installSeccomp(program: Buffer of struct sock_filter): applies to every thread
 * (TSYNC), because Node already runs V8 and libuv threads; a filter on the main thread
 * alone would leave them unfiltered. */
static napi_value install_seccomp(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  /* Sealed: step code must not stack filters of its own onto the runtime's threads. */
  if (!allowed_unsealed(env, "installSeccomp")) return NULL;
  void *data = NULL;
  size_t length = 0;
  bool is_buffer = false;
  if (argc != 1 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok)
    return throw_code(env, "RENDERER_ERR_SECCOMP_ARGS", "installSeccomp(program) needs a Buffer%s%s", "", 0);
  if (length == 0 || length % sizeof(struct sock_filter) != 0 || length / sizeof(struct sock_filter) > BPF_MAXINSNS)
    return throw_code(env, "RENDERER_ERR_SECCOMP_ARGS", "installSeccomp: program size is not a valid BPF program%s%s", "", 0);

  struct sock_fprog prog = {
      .len = (unsigned short)(length / sizeof(struct sock_filter)),
      .filter = (struct sock_filter *)data,
  };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return throw_code(env, "RENDERER_ERR_SECCOMP_INSTALL", "no_new_privs failed%s: %s", "", errno);
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  if (rc != 0) {
    /* With TSYNC a positive return is the id of a thread that could not be synchronised. */
    if (rc > 0) return throw_code(env, "RENDERER_ERR_SECCOMP_INSTALL", "seccomp TSYNC failed on a thread%s%s", "", 0);
    return throw_code(env, "RENDERER_ERR_SECCOMP_INSTALL", "seccomp failed%s: %s", "", errno);
  }
  return NULL;
}

/* exitNow(code): the step runtime's last call, after its result and logs are written
 * with blocking writes. Node's own exit (handlers, isolate and platform teardown) costs
 * several milliseconds per run that nobody waits for the benefit of. */
static napi_value exit_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 70;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc == 1) napi_get_value_int32(env, argv[0], &code);
  _exit(code & 0xff);
}

/* tryLock(fd): true when this process now holds an exclusive flock on fd, false when
 * another open file description holds one. The renderer's host-wide leases (step uids,
 * live instances: renderer/sandbox/host-lock.ts) rest on it because the kernel drops
 * the lock when its holder dies, whatever pid namespace the holder was in, so no
 * liveness is ever guessed from a pid that another namespace may reuse. */
static napi_value try_lock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  /* Sealed: the step runtime takes no locks, so nothing that runs after it may. */
  if (!allowed_unsealed(env, "tryLock")) return NULL;
  if (argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0)
    return throw_code(env, "RENDERER_ERR_LOCK_ARGS", "tryLock(fd) needs a file descriptor%s%s", "", 0);
  int rc;
  do rc = flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  napi_value result;
  if (rc != 0 && errno != EWOULDBLOCK) return throw_code(env, "RENDERER_ERR_LOCK", "flock failed%s: %s", "", errno);
  napi_get_boolean(env, rc == 0, &result);
  return result;
}

/* seal(): the step runtime's lockdown, once its input is mapped and its filters are
 * installed, before step code runs. One way: nothing unseals. unmap (of its own
 * mappings) and exitNow keep working; the runtime still needs them. */
/*
 * A renderer that is not root cannot chown a run's output file to the run's step uid
 * (EPERM), but as its owner it may give that uid an ACL entry: user::rw, user:UID:rw,
 * group::---, mask::rw, other::---. Nobody else gains anything (group and other stay
 * empty). On an fd the renderer opened with O_NOFOLLOW|O_EXCL, so no path is re-resolved.
 * The xattr format is the kernel's (include/uapi/linux/posix_acl_xattr.h), entries in
 * tag order, little-endian as the host.
 */
static napi_value grant_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  uint32_t uid = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!allowed_unsealed(env, "grantWrite")) return NULL;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_uint32(env, argv[1], &uid) != napi_ok || uid == 0 || uid == (uint32_t)-1)
    return throw_code(env, "RENDERER_ERR_ACL_ARGS", "grantWrite(fd, uid) needs a file descriptor and a non-root uid%s%s", "", 0);
  struct { uint16_t tag; uint16_t perm; uint32_t id; } __attribute__((packed)) entries[5] = {
      {0x01, 6, (uint32_t)-1}, /* ACL_USER_OBJ rw */
      {0x02, 6, uid},          /* ACL_USER uid rw */
      {0x04, 0, (uint32_t)-1}, /* ACL_GROUP_OBJ --- */
      {0x10, 6, (uint32_t)-1}, /* ACL_MASK rw */
      {0x20, 0, (uint32_t)-1}, /* ACL_OTHER --- */
  };
  unsigned char blob[4 + sizeof entries];
  uint32_t version = 2; /* POSIX_ACL_XATTR_VERSION */
  memcpy(blob, &version, 4);
  memcpy(blob + 4, entries, sizeof entries);
  if (fsetxattr(fd, "system.posix_acl_access", blob, sizeof blob, 0) != 0)
    return throw_code(env, "RENDERER_ERR_ACL", "cannot give the step uid access to its output file%s: %s (the state directory's filesystem needs POSIX ACLs, or run the renderer as root)", "", errno);
  return NULL;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  (void)info;
  instance_t *instance = NULL;
  if (napi_get_instance_data(env, (void **)&instance) == napi_ok && instance != NULL) instance->sealed = true;
  return NULL;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value init(napi_env env, napi_value exports) {
  instance_t *instance = calloc(1, sizeof *instance);
  if (instance == NULL || napi_set_instance_data(env, instance, free_instance, NULL) != napi_ok) {
    free(instance);
    return throw_code(env, "RENDERER_ERR_NATIVE_INIT", "renderer_native cannot keep its state%s%s", "", 0);
  }
  napi_property_descriptor props[] = {
      {"mapFile", NULL, map_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmap", NULL, unmap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"installSeccomp", NULL, install_seccomp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"exitNow", NULL, exit_now, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tryLock", NULL, try_lock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"grantWrite", NULL, grant_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, seal, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
