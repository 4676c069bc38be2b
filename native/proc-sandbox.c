/*
 * proc-sandbox: runs one program confined by Landlock (and, without network, a seccomp filter), for the proc
 * tool (tools/proc-sandbox.ts). Built at install time by scripts/build-sandbox.mjs; valid C and C++.
 *
 *   proc-sandbox --probe
 *       prints the Landlock ABI version and exits 0, or exits 3 when the kernel has no usable Landlock.
 *   proc-sandbox [--write DIR]... [--read-root DIR]... [--read PATH]... [--device FILE]... [--hide PATH]... [--net]
 *                [--status-fd FD] -- PROGRAM ARGV0 [ARG]...
 *       forks; the child confines itself, then executes PROGRAM with argv ARGV0 ARG...; the parent stays, unconfined,
 *       as the program's parent, kills the process group it leads if the caller dies (see supervise), and exits as
 *       the program did.
 *
 * Confinement (inherited by everything the program starts, and irrevocable):
 * - the file system: every access right this kernel's Landlock knows is handled, then granted back only beneath
 *   the --write directories (all rights), the --read-root directories and --read paths (read, list, execute)
 *   and the --device files (read and write: /dev/null), never beneath a --hide path inside a --write or
 *   --read-root directory (see allow_tree). Anything else (the host's home, the kernel's store) is EACCES.
 * - without --net: TCP bind and connect are refused by Landlock (ABI 4+), and socket(2) of any family by the
 *   seccomp filter (install_filter), so UDP (DNS), raw and unix sockets are refused too (Landlock does not cover
 *   them); with it, sockets of the internet families only (a unix socket reached host daemons); with or without
 *   it, the filter refuses io_uring, prlimit on other processes, setsid and setpgid.
 * - scopes (ABI 6+): no signals to processes outside the sandbox, no abstract unix sockets outside it; ptrace of
 *   anything outside it is refused by every Landlock ABI.
 *
 * Fails closed: any step that fails exits 125 with one line on stderr and runs nothing. Messages never name a
 * path (they reach the agent as the program's stderr). With --status-fd, that descriptor is closed by the exec
 * itself, and a failure also writes one byte to it first: the caller tells "the program could not start" from
 * "the program exited 125" by whether a byte came before the descriptor closed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Defined here rather than taken from <linux/landlock.h>: an older header lacks the newer ABIs' constants. */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

#define CREATE_RULESET_VERSION (1U << 0)
#define RULE_PATH_BENEATH 1
#define RULE_NET_PORT 2

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REMOVE_DIR (1ULL << 4)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_CHAR (1ULL << 6)
#define FS_MAKE_DIR (1ULL << 7)
#define FS_MAKE_REG (1ULL << 8)
#define FS_MAKE_SOCK (1ULL << 9)
#define FS_MAKE_FIFO (1ULL << 10)
#define FS_MAKE_BLOCK (1ULL << 11)
#define FS_MAKE_SYM (1ULL << 12)
#define FS_REFER (1ULL << 13)    /* ABI 2 */
#define FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */

#define NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */

#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

struct ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

struct path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

#define MAX_PATHS 64
#define SETUP_FAILED 125

static int status_fd = -1;

static int fail(const char *what) {
  fprintf(stderr, "isokernel sandbox: %s\n", what);
  if (status_fd >= 0) {
    ssize_t written = write(status_fd, "!", 1);
    (void)written;
  }
  return SETUP_FAILED;
}

static long landlock_abi(void) {
  return syscall(__NR_landlock_create_ruleset, NULL, 0, CREATE_RULESET_VERSION);
}

#define FILE_RIGHTS (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV)

/* Adds one rule on an open O_PATH descriptor (masked to what a file may hold when it is not a directory). */
static int add_rule(int ruleset, int fd, int is_dir, uint64_t access, uint64_t handled) {
  struct path_beneath_attr rule;
  rule.allowed_access = (is_dir ? access : access & FILE_RIGHTS) & handled;
  rule.parent_fd = fd;
  if (rule.allowed_access == 0) return 0;
  return syscall(__NR_landlock_add_rule, ruleset, RULE_PATH_BENEATH, &rule, 0) == 0 ? 0 : -1;
}

/* Paths that stay out of reach although a granted directory holds them (the kernel's store inside a root). */
static const char *hidden[MAX_PATHS];
static int nhidden = 0;
static int nrules = 0;

/*
 * 1 when `path` is hidden (or lies beneath a hidden path: review 94 rooted the tools inside an excluded directory,
 * which was then granted whole), 2 when a hidden path lies strictly beneath it, 0 otherwise.
 */
static int hidden_relation(const char *path) {
  size_t len = strlen(path);
  int beneath = 0;
  for (int k = 0; k < nhidden; k++) {
    size_t hlen = strlen(hidden[k]);
    if (strcmp(hidden[k], path) == 0) return 1;
    if (strncmp(hidden[k], path, hlen) == 0 && (path[hlen] == '/' || (hlen == 1 && hidden[k][0] == '/'))) return 1;
    if (strncmp(hidden[k], path, len) == 0 && (hidden[k][len] == '/' || (len == 1 && path[0] == '/'))) beneath = 1;
  }
  return beneath ? 2 : 0;
}

/*
 * Grants `access` beneath the directory `fd` (at `path`) except beneath hidden paths. Landlock rights always
 * extend to everything beneath a rule, so a directory above a hidden path gets only READ_DIR (its names, the
 * hidden directory's names included) and each of its other entries gets `access` in its own rule: the program
 * cannot create or remove entries directly in such a directory. Symbolic links are never followed (a rule on
 * a link's target would grant that target). Fails closed past MAX_RULES.
 */
#define MAX_RULES 100000
static int allow_tree(int ruleset, int fd, const char *path, uint64_t access, uint64_t handled) {
  int relation = hidden_relation(path);
  if (relation == 1) return 0;
  if (++nrules > MAX_RULES) return -1;
  if (relation == 0) return add_rule(ruleset, fd, 1, access, handled);
  if (add_rule(ruleset, fd, 1, access & FS_READ_DIR, handled) != 0) return -1;
  int listing = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing < 0) return -1;
  DIR *dir = fdopendir(listing);
  if (dir == NULL) {
    close(listing);
    return -1;
  }
  int rc = 0;
  struct dirent *entry;
  while (rc == 0 && (entry = readdir(dir)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    char child[PATH_MAX];
    int n = snprintf(child, sizeof child, "%s/%s", strcmp(path, "/") == 0 ? "" : path, entry->d_name);
    if (n < 0 || (size_t)n >= sizeof child) {
      rc = -1;
      break;
    }
    int child_fd = openat(fd, entry->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (child_fd < 0) {
      if (errno != ENOENT) rc = -1; /* removed since the listing: nothing to grant */
      continue;
    }
    struct stat st;
    if (fstat(child_fd, &st) != 0) rc = -1;
    else if (S_ISDIR(st.st_mode)) rc = allow_tree(ruleset, child_fd, child, access, handled);
    else if (!S_ISLNK(st.st_mode) && hidden_relation(child) != 1) {
      rc = ++nrules > MAX_RULES ? -1 : add_rule(ruleset, child_fd, 0, access, handled);
    }
    close(child_fd);
  }
  closedir(dir);
  return rc;
}

/*
 * Grants `access` beneath `path`, real-pathed first (so `/lib` on a merged-/usr system is the `/usr/lib` a hidden
 * path may lie under), through allow_tree for a directory: a hidden path under any granted path, a system
 * directory or a host's read path included, stays out of reach (red-team pass 93 read the root key of a store
 * under /usr). Returns 0 (also for a missing `optional` path), or -1.
 */
static int allow(int ruleset, const char *path, uint64_t access, uint64_t handled, int optional) {
  char real[PATH_MAX];
  if (realpath(path, real) == NULL) return optional && errno == ENOENT ? 0 : -1;
  int fd = open(real, O_PATH | O_CLOEXEC);
  if (fd < 0) return optional && errno == ENOENT ? 0 : -1;
  struct stat st;
  int rc = -1;
  if (fstat(fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) rc = allow_tree(ruleset, fd, real, access, handled);
    else rc = hidden_relation(real) == 1 ? 0 : add_rule(ruleset, fd, 0, access, handled);
  }
  close(fd);
  return rc;
}

#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#define CLOSE_RANGE_CLOEXEC (1U << 2)

/*
 * Marks every descriptor above 2 close-on-exec. Landlock checks a file when it is opened, so a descriptor the
 * kernel's process left open (classic-level opens its LevelDB files without O_CLOEXEC) would reach the program
 * whatever the rules say: red-team pass 93 wrote a record into the kv store's write-ahead log through one, with
 * only `sed` allowed.
 */
static int close_inherited(void) {
  if (syscall(__NR_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) return -1;
  int listing = dirfd(dir);
  int rc = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    int fd = atoi(entry->d_name);
    if (fd < 3 || fd == listing) continue;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 && errno != EBADF) rc = -1;
  }
  closedir(dir);
  return rc;
}

static volatile pid_t supervised = 0;

/*
 * Kills the process group this helper leads (the program and all it started, which cannot leave it), itself too. A
 * helper that leads no group (started in its caller's, as for git's repository check) kills only its program: the
 * group is its caller's.
 */
static void kill_group(int sig) {
  (void)sig;
  if (getpgrp() == getpid()) kill(0, SIGKILL);
  else if (supervised > 0) kill(supervised, SIGKILL);
  _exit(137);
}

/* Closes every descriptor from 3 up (not just marks them close-on-exec: this process never execs). */
static void close_from_3(void) {
#ifndef PROC_SANDBOX_TEST_NO_CLOSE_RANGE
  if (syscall(__NR_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  /* Without close_range (before Linux 5.9, or refused by a seccomp filter): list /proc/self/fd, a batch at a time
     (closing while listing would skip entries), until a listing holds none; each batch closes what it listed. */
  for (;;) {
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL) {
      for (int fd = 3; fd < 65536; fd++) close(fd);
      return;
    }
    int listing = dirfd(dir);
    int fds[4096];
    int n = 0;
    struct dirent *entry;
    while (n < 4096 && (entry = readdir(dir)) != NULL) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      int fd = atoi(entry->d_name);
      if (fd >= 3 && fd != listing) fds[n++] = fd;
    }
    closedir(dir);
    for (int k = 0; k < n; k++) close(fds[k]);
    if (n == 0) return;
  }
}

/*
 * SIGKILLs every other process of the group this helper leads, until none is left (a member may fork while the scan
 * runs), by reading each process's group from /proc: the group's kill (kill(0)) would take this process, which must
 * live to report the program's status. Gives up after many rounds, and then kills the group, itself included.
 */
static void kill_rest_of_group(void) {
  pid_t self = getpid();
  for (int round = 0; round < 100; round++) {
    /* Every other member descends from the program (none can leave the group) and its orphans come here: with no
       child left, not even one to reap, there is none, and the scan of every process is skipped. */
    pid_t reaped;
    while ((reaped = waitpid(-1, NULL, WNOHANG)) > 0) {
    }
    if (reaped < 0 && errno == ECHILD) return;
    int found = 0;
    DIR *proc = opendir("/proc");
    if (proc == NULL) kill_group(0);
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
      if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
      pid_t pid = (pid_t)atoi(entry->d_name);
      if (pid == self) continue;
      /* 511 bytes hold what is read: the pid, the command name (at most 15 characters, in parentheses), then
         state, ppid and pgrp; a longer line cut short loses only later fields. */
      char path[64], stat[512];
      snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t got = read(fd, stat, sizeof stat - 1);
      close(fd);
      if (got <= 0) continue;
      stat[got] = '\0';
      /* After the command name (in parentheses, which it may hold too): state, ppid, pgrp. */
      char *close_paren = strrchr(stat, ')');
      int ppid = 0, pgrp = 0;
      char state = 0;
      if (close_paren == NULL || sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
      if (pgrp != self || state == 'Z') continue;
      kill(pid, SIGKILL);
      found = 1;
    }
    closedir(proc);
    /* Reap what reparented here (this process is a subreaper), so zombies do not count as members. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (!found) return;
    /* A killed process takes a moment to die. */
    usleep(1000);
  }
  kill_group(0);
}

/*
 * Forks the program's process and stays as its parent and its group's leader, unconfined, so that the group dies
 * with the kernel's process: the kernel killed the group when a call ended, but a kernel that died first (killed,
 * out of memory) left it running, writing files no later process on the store knew of (review 101). PR_SET_PDEATHSIG
 * wakes this process when the kernel's thread that started it exits; it then kills the group. The program cannot
 * leave the group (the filter refuses setsid and setpgid) nor, on Landlock ABI 6+, signal this process (outside its
 * domain), and it dies with this process (its own PR_SET_PDEATHSIG: a caller that kills this pid, as a timed-out
 * `execFile` does, takes the program too, review 104). When the program exits, the rest of the group is killed before
 * this process reports it (a background member that outlived the program lived on if the kernel died before it saw
 * the exit). Returns 0 in the child, which goes on to confine itself and run the program; the parent never returns:
 * it exits as the program did (its code, or the signal that ended it), so the caller sees the program's status.
 */
static int supervise(void) {
  pid_t parent = getppid();
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = kill_group;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGUSR1, &action, NULL) != 0) return -1;
  /* Held until `supervised` is set: a death signal between the fork and it would kill nothing (review 104). */
  sigset_t usr1, before;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &usr1, &before) != 0) return -1;
  if (prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0) != 0) return -1;
  int leader = getpgrp() == getpid();
  /* Orphans of the program come here, where the end of the program can find and kill them. */
  if (leader && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return -1;
  pid_t supervisor = getpid();
  pid_t child = fork();
  if (child < 0) return -1;
  if (child == 0) {
    signal(SIGUSR1, SIG_DFL);
    sigprocmask(SIG_SETMASK, &before, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return -1;
    if (getppid() != supervisor) _exit(137);
    return 0;
  }
  supervised = child;
  sigprocmask(SIG_SETMASK, &before, NULL);
  /* The kernel may have died before its death signal was asked for. */
  if (getppid() != parent) kill_group(0);
  /* Nothing of the kernel's stays open here (its pipes would not close while the program runs); the start report is
     the child's to give or to close at its exec. */
  close_from_3();
  int status = 0;
  for (;;) {
    int got_status = 0;
    /* Any child: orphans of the program that reparented here are reaped as they end. */
    pid_t got = waitpid(leader ? -1 : child, &got_status, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      kill_group(0);
    }
    if (got != child) continue;
    if (WIFEXITED(got_status) || WIFSIGNALED(got_status)) {
      status = got_status;
      break;
    }
    /* Stopped as a tracee of this process (PTRACE_TRACEME): no program of the kernel's stops its supervisor. */
    kill(child, SIGKILL);
  }
  if (leader) kill_rest_of_group();
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  /* Ended by a signal: end by the same one, without a core file of this process. */
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
  _exit(128 + sig);
}

/*
 * A helper run as root (or with any capability) leaves none to the program: with them, a confined root made a
 * character device in its root (mknod) and read and wrote the host's kernel log through it (pass 93). Securebits
 * first so that uid 0 gains nothing at exec, and the bounding set, where CAP_SETPCAP allows (best effort: a
 * container's root may lack it); then, always, the ambient set and the process's own sets. With them empty,
 * no_new_privs caps what any exec may give at what the process had, nothing, root's exec included; an
 * unprivileged helper has none to drop.
 */
static int drop_capabilities(void) {
  struct __user_cap_header_struct header;
  struct __user_cap_data_struct data[2];
  memset(&header, 0, sizeof header);
  memset(data, 0, sizeof data);
  header.version = _LINUX_CAPABILITY_VERSION_3;
  if (syscall(SYS_capget, &header, data) != 0) return -1;
  int privileged = geteuid() == 0 || data[0].permitted != 0 || data[1].permitted != 0;
  if (!privileged) return 0;
  const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                             SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0 && errno != EPERM) return -1;
  for (unsigned long cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break; /* past the last capability this kernel knows */
      if (errno != EPERM) return -1;
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
  memset(data, 0, sizeof data);
  return syscall(SYS_capset, &header, data) == 0 ? 0 : -1;
}

#if defined(__x86_64__)
#define AUDIT_ARCH_SELF 0xC000003EU /* AUDIT_ARCH_X86_64 */
#define X32_SYSCALL_BIT 0x40000000U
#elif defined(__aarch64__)
#define AUDIT_ARCH_SELF 0xC00000B7U /* AUDIT_ARCH_AARCH64 */
#endif

/*
 * The seccomp filter, always installed. Refused with EACCES: io_uring_setup (its operations would bypass this
 * filter), socket(2) of any family without `net` and of any but AF_INET and AF_INET6 with it, and truncate(2) below
 * Landlock ABI 3 (which cannot refuse it: review 94 emptied a hidden audit log by path). Refused with EPERM:
 * prlimit64 on any process but the caller's own (review 94: `prlimit --pid $PPID --cpu=1:1` killed the kernel;
 * Landlock does not cover it), setsid and setpgid (leaving the process group the call's end kills). A syscall made
 * through another ABI (int 0x80, x32) kills the process.
 */
#define MAX_FILTER 32
static int install_filter(int net, long abi) {
#if defined(AUDIT_ARCH_SELF)
  struct sock_filter filter[MAX_FILTER];
  unsigned short n = 0;
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_SELF, 1, 0);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(X32_SYSCALL_BIT)
  filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
  /* prlimit64(pid, ...): pid 0 (the caller) only; pid_t is 32 bits, in the low word of args[0] here. */
  filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prlimit64, 0, 4);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
  filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  /* setsid(2) and setpgid(2), EPERM: the call's end kills its process group, and a program that left it lived on,
   * writing in its root after the kernel stopped counting the call's writes as unseen (red-team pass 100). */
  filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setsid, 1, 0);
  filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setpgid, 0, 1);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  /* With `net`, socket(2) of AF_INET and AF_INET6 only, EACCES for any other family: Landlock (up to ABI 6) does not
   * cover connecting to a named unix socket, so with every family open a program could have asked a host daemon
   * (the user's systemd bus, docker's socket) to run work outside the sandbox (review 101). */
  if (net) {
    filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 5);
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0);
    filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0);
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA));
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  unsigned int denied[3];
  unsigned char ndenied = 0;
  denied[ndenied++] = __NR_io_uring_setup;
  if (!net) denied[ndenied++] = __NR_socket;
  if (abi < 3) denied[ndenied++] = __NR_truncate;
  /* Each match jumps over the rest of the list and the ALLOW to the EACCES return. */
  for (unsigned char k = 0; k < ndenied; k++) {
    filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, denied[k], (unsigned char)(ndenied - k), 0);
  }
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA));
  struct sock_fprog program;
  program.len = n;
  program.filter = filter;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) == 0 ? 0 : -1;
#else
  /* No filter for this architecture: without it sockets and prlimit would stay open, so refuse to run at all. */
  (void)net;
  (void)abi;
  return -1;
#endif
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--probe") == 0) {
    long abi = landlock_abi();
    if (abi < 1) {
      printf("0\n");
      return 3;
    }
    printf("%ld\n", abi);
    return 0;
  }

  const char *writes[MAX_PATHS], *read_roots[MAX_PATHS], *reads[MAX_PATHS], *devices[MAX_PATHS];
  int nwrites = 0, nread_roots = 0, nreads = 0, ndevices = 0, net = 0, i = 1;
  for (; i < argc; i++) {
    const char *flag = argv[i];
    if (strcmp(flag, "--") == 0) break;
    if (strcmp(flag, "--net") == 0) {
      net = 1;
      continue;
    }
    if (i + 1 >= argc) return fail("bad arguments");
    const char *value = argv[++i];
    if (strcmp(flag, "--status-fd") == 0) {
      status_fd = atoi(value);
      if (status_fd < 3 || fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) {
        status_fd = -1;
        return fail("bad arguments");
      }
    } else if (strcmp(flag, "--write") == 0 && nwrites < MAX_PATHS) writes[nwrites++] = value;
    else if (strcmp(flag, "--read-root") == 0 && nread_roots < MAX_PATHS) read_roots[nread_roots++] = value;
    else if (strcmp(flag, "--read") == 0 && nreads < MAX_PATHS) reads[nreads++] = value;
    else if (strcmp(flag, "--hide") == 0 && nhidden < MAX_PATHS) hidden[nhidden++] = value;
    else if (strcmp(flag, "--device") == 0 && ndevices < MAX_PATHS) devices[ndevices++] = value;
    else return fail("bad arguments");
  }
  /* "--", the program, its argv[0]. */
  if (i + 2 >= argc) return fail("bad arguments");
  const char *program = argv[i + 1];
  char **program_argv = &argv[i + 2];

  long abi = landlock_abi();
  if (abi < 1) return fail("Landlock is not available");
  /* Before any rule is made: the child's paths are its own (/proc/self names the process that opens it). */
  if (supervise() != 0) return fail("cannot start the program's process");

  uint64_t fs = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_READ_DIR | FS_REMOVE_DIR | FS_REMOVE_FILE |
                FS_MAKE_CHAR | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SOCK | FS_MAKE_FIFO | FS_MAKE_BLOCK | FS_MAKE_SYM;
  if (abi >= 2) fs |= FS_REFER;
  if (abi >= 3) fs |= FS_TRUNCATE;
  if (abi >= 5) fs |= FS_IOCTL_DEV;
  struct ruleset_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.handled_access_fs = fs;
  if (abi >= 4 && !net) attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
  if (abi >= 6) attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
  /* The struct's size for this ABI: an older kernel refuses fields it does not know, even zero ones on some. */
  size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? offsetof(struct ruleset_attr, scoped)
                                                  : offsetof(struct ruleset_attr, handled_access_net);
  int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
  if (ruleset < 0) return fail("cannot create the Landlock ruleset");

  const uint64_t read_access = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR;
  /* No device nodes: made in the root, one would open a device the rules never name. */
  const uint64_t write_access = fs & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK);
  for (int k = 0; k < nwrites; k++) {
    if (allow(ruleset, writes[k], write_access, fs, 0) != 0) return fail("cannot grant a directory to write in");
  }
  for (int k = 0; k < nread_roots; k++) {
    if (allow(ruleset, read_roots[k], read_access, fs, 0) != 0) return fail("cannot grant a directory to read");
  }
  for (int k = 0; k < nreads; k++) {
    if (allow(ruleset, reads[k], read_access, fs, 1) != 0) return fail("cannot open a path to allow");
  }
  for (int k = 0; k < ndevices; k++) {
    if (allow(ruleset, devices[k], FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE, fs, 1) != 0) {
      return fail("cannot open a device to allow");
    }
  }
  if (close_inherited() != 0) return fail("cannot close inherited descriptors");
  if (drop_capabilities() != 0) return fail("cannot drop capabilities");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("cannot set no_new_privs");
  if (install_filter(net, abi) != 0) return fail("cannot install the seccomp filter");
  if (syscall(__NR_landlock_restrict_self, ruleset, 0) != 0) return fail("cannot enforce the Landlock ruleset");
  close(ruleset);

  execv(program, program_argv);
  return fail(errno == EACCES ? "the program is outside the paths it may read" : "cannot execute the program");
}
