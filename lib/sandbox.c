/* The programs' own confinement: the user drop, no_new_privs, seccomp, Landlock.
 *
 * The seccomp filter is classic BPF written here (libseccomp is not a dependency): the
 * architecture is checked first, a short list of clearly dangerous calls kills the
 * process, an allow-list of what the agent and the collector were seen to call (strace
 * over the integration tests: files and inotify, sd-journal, syslog over UDP and TCP,
 * TLS, SQLite, libpq, PCRE2's JIT, YARA, signalfd, timerfd, epoll) passes, and anything
 * else fails with EPERM, which the programs report as an ordinary error. */
#include "ward/sandbox.h"
#include "ward/diag.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

/* LeakSanitizer stops the threads with ptrace at exit: sanitizer builds allow it. */
#if defined(__SANITIZE_ADDRESS__)
#define WARD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WARD_SANITIZED 1
#endif
#endif

/* ---- the user ---- */

static int cap_last(void) {
    /* the kernel's highest capability: PR_CAPBSET_READ fails with EINVAL past it */
    int c = 0;
    while (c < 64 && prctl(PR_CAPBSET_READ, (unsigned long)c + 1, 0, 0, 0) >= 0)
        c++;
    return c;
}

/* The process's capability sets into d (2 words). Returns 0 or -1 (err). */
static int caps_get(struct __user_cap_data_struct d[2], char *err, size_t errlen) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    memset(d, 0, 2 * sizeof(*d));
    if (syscall(SYS_capget, &h, d) < 0) {
        ward_errf(err, errlen, "capget: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* -1 with err naming the first capability the process still has (effective,
 * permitted, ambient; the bounding set too when bounding). */
static int check_no_caps(int bounding, char *err, size_t errlen) {
    struct __user_cap_data_struct d[2];
    if (caps_get(d, err, errlen) < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (d[i].effective || d[i].permitted) {
            uint32_t m = d[i].effective | d[i].permitted;
            int c = i * 32 + __builtin_ctz(m);
            ward_errf(err, errlen, "capability %d is still %s: refusing to run with privileges", c,
                      (d[i].effective >> (c % 32)) & 1 ? "effective" : "permitted");
            return -1;
        }
    int last = cap_last();
    for (int c = 0; c <= last; c++) {
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long)c, 0, 0) > 0) {
            ward_errf(err, errlen,
                      "capability %d is still ambient: refusing to run with privileges", c);
            return -1;
        }
        if (bounding && prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0) > 0) {
            ward_errf(err, errlen, "capability %d is still in the bounding set", c);
            return -1;
        }
    }
    return 0;
}

/* Gives up every capability a process that is not root holds (ambient, then effective,
 * permitted and inheritable). The bounding set stays: emptying it needs CAP_SETPCAP, and
 * with no capability held and no_new_privs no exec can use it. */
static int drop_caps(char *err, size_t errlen) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
        ward_errf(err, errlen, "cannot clear the ambient capabilities: %s", strerror(errno));
        return -1;
    }
    struct __user_cap_data_struct d[2];
    if (caps_get(d, err, errlen) < 0)
        return -1;
    if (!d[0].effective && !d[0].permitted && !d[0].inheritable && !d[1].effective &&
        !d[1].permitted && !d[1].inheritable)
        return 0;
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &h, d) < 0) {
        ward_errf(err, errlen, "cannot give up its capabilities: %s%s", strerror(errno),
                  errno == EPERM ? " (under systemd, a drop-in that grants capabilities needs "
                                   "SystemCallFilter=capset too)"
                                 : "");
        return -1;
    }
    return 0;
}

int ward_sandbox_drop_user(const char *user, int allow_root, char *err, size_t errlen) {
    if (geteuid() != 0 && getuid() != 0) {
        if (drop_caps(err, errlen) < 0)
            return -1;
        return check_no_caps(0, err, errlen);
    }
    if (allow_root)
        return 0;
    if (!user || !*user) {
        ward_errf(err, errlen, "started as root and no user is configured to run as");
        return -1;
    }
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        ward_errf(err, errlen,
                  "started as root, and the user '%s' to run as does not exist%s%s (create it, "
                  "configure another, or pass --insecure-run-as-root)",
                  user, errno ? ": " : "", errno ? strerror(errno) : "");
        return -1;
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        ward_errf(err, errlen, "the user '%s' to run as has uid or gid 0", user);
        return -1;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    gid_t groups[256];
    int ng = (int)(sizeof(groups) / sizeof(groups[0]));
    if (getgrouplist(user, gid, groups, &ng) < 0) {
        ward_errf(err, errlen, "user '%s': more than %zu groups", user,
                  sizeof(groups) / sizeof(groups[0]));
        return -1;
    }
    for (int i = 0; i < ng; i++)
        if (groups[i] == 0) {
            ward_errf(err, errlen, "user '%s' is in group 0 (root): refusing to keep it", user);
            return -1;
        }
    /* the bounding set can be emptied only while root: afterwards no exec can bring a
     * capability back either */
    int last = cap_last();
    for (int c = 0; c <= last; c++)
        if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) < 0 && errno != EINVAL) {
            ward_errf(err, errlen, "cannot drop capability %d from the bounding set: %s", c,
                      strerror(errno));
            return -1;
        }
    if (setgroups((size_t)ng, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
        setresuid(uid, uid, uid) < 0) {
        ward_errf(err, errlen, "cannot become user '%s' (uid %u gid %u): %s", user, (unsigned)uid,
                  (unsigned)gid, strerror(errno));
        return -1;
    }
    /* verified, not assumed: root must be out of reach */
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || getuid() != uid ||
        geteuid() != uid || getgid() != gid || getegid() != gid) {
        ward_errf(err, errlen, "still able to regain root after becoming '%s'", user);
        return -1;
    }
#ifdef WARD_SANITIZED
    /* the change of user made the process non-dumpable, and LeakSanitizer's ptrace of
     * its own threads at exit needs it dumpable */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    return check_no_caps(1, err, errlen) < 0 ? -1 : 1;
}

/* ---- Landlock ---- */

void ward_sandbox_paths_init(ward_sandbox_paths *p) {
    memset(p, 0, sizeof(*p));
}

void ward_sandbox_paths_fini(ward_sandbox_paths *p) {
    for (size_t i = 0; i < p->nread; i++)
        free(p->read[i]);
    for (size_t i = 0; i < p->nwrite; i++)
        free(p->write[i]);
    free(p->read);
    free(p->write);
    memset(p, 0, sizeof(*p));
}

/* Takes s (NULL: out of memory). */
static void paths_take(ward_sandbox_paths *p, char *s, int write) {
    char ***v = write ? &p->write : &p->read;
    size_t *n = write ? &p->nwrite : &p->nread, *cap = write ? &p->write_cap : &p->read_cap;
    if (s && *n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **nv = realloc(*v, nc * sizeof(*nv));
        if (nv) {
            *v = nv;
            *cap = nc;
        }
    }
    if (!s || *n == *cap) {
        free(s);
        p->oom = 1;
        return;
    }
    (*v)[(*n)++] = s;
}

void ward_sandbox_paths_add(ward_sandbox_paths *p, const char *path, int write) {
    if (path && *path)
        paths_take(p, strdup(path), write);
}

void ward_sandbox_paths_add_dir(ward_sandbox_paths *p, const char *path, int write) {
    if (!path || !*path)
        return;
    const char *slash = strrchr(path, '/');
    if (!slash)
        paths_take(p, strdup("."), write);
    else
        paths_take(p, strndup(path, slash == path ? 1 : (size_t)(slash - path)), write);
}

void ward_sandbox_paths_add_glob(ward_sandbox_paths *p, const char *pattern) {
    if (!pattern || !*pattern)
        return;
    size_t fixed = strcspn(pattern, "*?[{");
    char *s = strndup(pattern, fixed);
    if (!s) {
        p->oom = 1;
        return;
    }
    /* a plain file: its directory, where rotation renames it; a glob: the directory its
     * fixed part ends in (/var/log/nginx/ or /var/log/app- name their directories up to
     * the last slash), where new files and directories appear */
    if (fixed)
        ward_sandbox_paths_add_dir(p, s, 0);
    else
        ward_sandbox_paths_add(p, ".", 0);
    free(s);
}

int ward_sandbox_landlock_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

#define LL_FILE                                                                                    \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LANDLOCK_ACCESS_FS_TRUNCATE)
#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_WRITE                                                                                   \
    (LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                     \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |  \
     LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)

static int ll_add(int rfd, const char *path, uint64_t access, uint64_t handled, char *err,
                  size_t errlen) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EACCES)
            return 0; /* nothing there to allow; what appears later needs a restart */
        ward_errf(err, errlen, "landlock: %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ward_errf(err, errlen, "landlock: %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        access &= LL_FILE;
    struct landlock_path_beneath_attr pb;
    memset(&pb, 0, sizeof(pb));
    pb.allowed_access = access & handled;
    pb.parent_fd = fd;
    int rc = 0;
    if (pb.allowed_access &&
        syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
        ward_errf(err, errlen, "landlock: %s: %s", path, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

/* What every program reads: the libraries, the configuration of the C library, the
 * time zones, OpenSSL's CA store and configuration, /proc for its own status. */
static const char *const sys_read[] = {
    "/etc",  "/usr",         "/lib",        "/lib64",
    "/proc", "/dev/urandom", "/dev/random", "/sys/devices/system/cpu"};

int ward_sandbox_landlock(const ward_sandbox_paths *paths, int *abi, char *err, size_t errlen) {
    *abi = ward_sandbox_landlock_abi();
    if (*abi <= 0)
        return 0;
    uint64_t handled = LL_WRITE | LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                       LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                       LANDLOCK_ACCESS_FS_MAKE_BLOCK;
    if (*abi < 2)
        handled &= ~LANDLOCK_ACCESS_FS_REFER;
    if (*abi < 3)
        handled &= ~LANDLOCK_ACCESS_FS_TRUNCATE;
    struct {
        uint64_t handled_access_fs;
    } attr = {handled};
    int rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (rfd < 0) {
        ward_errf(err, errlen, "landlock: create_ruleset: %s", strerror(errno));
        return -1;
    }
    int rc = -1;
    for (size_t i = 0; i < sizeof(sys_read) / sizeof(sys_read[0]); i++)
        if (ll_add(rfd, sys_read[i], LL_READ, handled, err, errlen) < 0)
            goto fail;
    if (ll_add(rfd, "/dev/null", LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE, handled, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < paths->nread; i++)
        if (ll_add(rfd, paths->read[i], LL_READ, handled, err, errlen) < 0)
            goto fail;
    for (size_t i = 0; i < paths->nwrite; i++)
        if (ll_add(rfd, paths->write[i], LL_WRITE, handled, err, errlen) < 0)
            goto fail;
    if (syscall(SYS_landlock_restrict_self, rfd, 0) < 0) {
        ward_errf(err, errlen, "landlock: restrict_self: %s", strerror(errno));
        goto fail;
    }
    rc = 1;
fail:
    close(rfd);
    return rc;
}

/* ---- seccomp ---- */

uint32_t ward_sandbox_arch(void) {
#if defined(__x86_64__) && !defined(__ILP32__)
    return AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    return AUDIT_ARCH_AARCH64;
#else
    return 0;
#endif
}

/* Kill the process: nothing in ward does these, and an attacker would. */
static const int killed[] = {
#ifndef WARD_SANITIZED
    SYS_ptrace,
#endif
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_kexec_load,
#ifdef SYS_kexec_file_load
    SYS_kexec_file_load,
#endif
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_bpf,
    SYS_perf_event_open,
    SYS_reboot,
    SYS_swapon,
    SYS_swapoff,
    SYS_setns,
    SYS_unshare,
    SYS_open_by_handle_at,
    SYS_userfaultfd,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_acct,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_adjtimex,
    SYS_clock_adjtime,
    SYS_quotactl,
    SYS_execveat,
#ifdef SYS_iopl
    SYS_iopl,
    SYS_ioperm,
#endif
#ifdef SYS_fsopen
    SYS_fsopen,
    SYS_fsmount,
    SYS_fsconfig,
    SYS_move_mount,
    SYS_open_tree,
#endif
};

/* What both programs call (the C library, OpenSSL, the event loop, the stores). */
#define COMMON_SYSCALLS                                                                            \
    SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_preadv,             \
        SYS_pwritev, SYS_openat, SYS_close, SYS_close_range, SYS_fstat, SYS_newfstatat, SYS_statx, \
        SYS_fstatfs, SYS_statfs, SYS_lseek, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap,        \
        SYS_madvise, SYS_brk, SYS_msync, SYS_mincore, SYS_ppoll, SYS_pselect6, SYS_epoll_create1,  \
        SYS_epoll_ctl, SYS_epoll_pwait, SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn,    \
        SYS_rt_sigpending, SYS_rt_sigtimedwait, SYS_sigaltstack, SYS_ioctl, SYS_fcntl, SYS_flock,  \
        SYS_fsync, SYS_fdatasync, SYS_ftruncate, SYS_truncate, SYS_fallocate, SYS_fadvise64,       \
        SYS_sync_file_range, SYS_getdents64, SYS_getcwd, SYS_chdir, SYS_fchdir, SYS_renameat,      \
        SYS_renameat2, SYS_mkdirat, SYS_unlinkat, SYS_linkat, SYS_readlinkat, SYS_fchmod,          \
        SYS_fchmodat, SYS_umask, SYS_faccessat, SYS_faccessat2, SYS_utimensat, SYS_gettimeofday,   \
        SYS_clock_gettime, SYS_clock_getres, SYS_clock_nanosleep, SYS_nanosleep, SYS_getpid,       \
        SYS_getppid, SYS_gettid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid, SYS_getgroups,  \
        SYS_getresuid, SYS_getresgid, SYS_capget, SYS_uname, SYS_sysinfo, SYS_getrlimit,           \
        SYS_prlimit64, SYS_getrusage, SYS_times, SYS_socket, SYS_connect, SYS_accept4, SYS_bind,   \
        SYS_listen, SYS_getsockname, SYS_getpeername, SYS_sendto, SYS_recvfrom, SYS_sendmsg,       \
        SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg, SYS_shutdown, SYS_setsockopt, SYS_getsockopt,     \
        SYS_socketpair, SYS_pipe2, SYS_dup, SYS_dup3, SYS_signalfd4, SYS_timerfd_create,           \
        SYS_timerfd_settime, SYS_timerfd_gettime, SYS_eventfd2, SYS_getrandom, SYS_futex,          \
        SYS_set_robust_list, SYS_get_robust_list, SYS_rseq, SYS_exit, SYS_exit_group, SYS_tgkill,  \
        SYS_restart_syscall, SYS_sched_yield, SYS_sched_getaffinity, SYS_prctl, SYS_clone,         \
        SYS_clone3, SYS_wait4, SYS_set_tid_address, SYS_membarrier, SYS_memfd_create,              \
        SYS_name_to_handle_at, SYS_getpriority, SYS_sched_getparam, SYS_sched_getscheduler,        \
        SYS_mlock, SYS_munlock, SYS_seccomp, SYS_pidfd_open, SYS_waitid, SYS_inotify_init1,        \
        SYS_inotify_add_watch, SYS_inotify_rm_watch

/* The calls that exist on x86_64 only, in their old forms (aarch64 has only the *at and
 * p* ones, listed above). */
#ifdef SYS_open
#define LEGACY_SYSCALLS                                                                            \
    , SYS_open, SYS_stat, SYS_lstat, SYS_poll, SYS_select, SYS_access, SYS_pipe, SYS_dup2,         \
        SYS_epoll_wait, SYS_epoll_create, SYS_unlink, SYS_rename, SYS_mkdir, SYS_rmdir,            \
        SYS_readlink, SYS_getdents, SYS_time, SYS_chmod, SYS_link, SYS_signalfd, SYS_eventfd,      \
        SYS_inotify_init, SYS_alarm, SYS_arch_prctl, SYS_getpgrp, SYS_utimes
#else
#define LEGACY_SYSCALLS
#endif

#ifdef WARD_SANITIZED
#define SANITIZER_SYSCALLS , SYS_ptrace /* LeakSanitizer stops the threads at exit */
#else
#define SANITIZER_SYSCALLS
#endif

static const int allowed[] = {COMMON_SYSCALLS LEGACY_SYSCALLS SANITIZER_SYSCALLS};

const int *ward_sandbox_allowed(int who, size_t *n) {
    (void)who; /* one list: the collector's extra calls (listen, accept4) are the agent's
                * too, for syslog over TCP */
    *n = sizeof(allowed) / sizeof(allowed[0]);
    return allowed;
}

const int *ward_sandbox_killed(size_t *n) {
    *n = sizeof(killed) / sizeof(killed[0]);
    return killed;
}

#define X32_BIT 0x40000000U

long ward_sandbox_bpf(uint32_t arch, const int *kill, size_t nkill, const int *allow, size_t nallow,
                      struct sock_filter *out, size_t cap) {
    size_t need = 4 + (arch == AUDIT_ARCH_X86_64 ? 2 : 0) + 2 * (nkill + nallow) + 1;
    if (need > cap || need > BPF_MAXINSNS)
        return -1;
    size_t i = 0;
    struct sock_filter ld_arch = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4); /* seccomp_data.arch */
    struct sock_filter jarch = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0);
    struct sock_filter rkill = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    struct sock_filter ld_nr = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0); /* seccomp_data.nr */
    struct sock_filter rallow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_filter reperm = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & 0xffff));
    out[i++] = ld_arch;
    out[i++] = jarch;
    out[i++] = rkill;
    out[i++] = ld_nr;
    if (arch == AUDIT_ARCH_X86_64) {
        struct sock_filter jx32 = BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1);
        out[i++] = jx32;
        out[i++] = rkill;
    }
    for (size_t k = 0; k < nkill; k++) {
        struct sock_filter j = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)kill[k], 0, 1);
        out[i++] = j;
        out[i++] = rkill;
    }
    for (size_t k = 0; k < nallow; k++) {
        struct sock_filter j = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)allow[k], 0, 1);
        out[i++] = j;
        out[i++] = rallow;
    }
    out[i++] = reperm;
    return (long)i;
}

int ward_sandbox_seccomp(int who, char *err, size_t errlen) {
    uint32_t arch = ward_sandbox_arch();
    if (!arch) {
        ward_errf(err, errlen, "seccomp: this architecture has no filter (build without it)");
        return -1;
    }
    size_t nallow, nkill;
    const int *allow = ward_sandbox_allowed(who, &nallow);
    const int *kill = ward_sandbox_killed(&nkill);
    size_t cap = 8 + 2 * (nallow + nkill);
    struct sock_filter *prog = calloc(cap, sizeof(*prog));
    long n = prog ? ward_sandbox_bpf(arch, kill, nkill, allow, nallow, prog, cap) : -1;
    if (n < 0) {
        ward_errf(err, errlen, "seccomp: %s", prog ? "the filter does not fit" : "out of memory");
        free(prog);
        return -1;
    }
    struct sock_fprog fp = {(unsigned short)n, prog};
    /* every thread, and the kernel's audit log records what the filter refuses */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG, &fp) != 0 &&
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0) {
        ward_errf(err, errlen, "seccomp: %s", strerror(errno));
        free(prog);
        return -1;
    }
    free(prog); /* the kernel keeps its own copy */
    return 0;
}

int ward_sandbox_apply(int who, const ward_sandbox_paths *paths, char *info, size_t infolen,
                       char *err, size_t errlen) {
    if (paths->oom) {
        ward_errf(err, errlen, "sandbox: out of memory");
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        ward_errf(err, errlen, "no_new_privs: %s", strerror(errno));
        return -1;
    }
    int abi = 0;
    int ll = ward_sandbox_landlock(paths, &abi, err, errlen);
    if (ll < 0)
        return -1;
    if (ward_sandbox_seccomp(who, err, errlen) < 0)
        return -1;
    if (ll)
        ward_errf(info, infolen, "sandbox: no_new_privs, seccomp, landlock ABI %d", abi);
    else
        ward_errf(info, infolen, "sandbox: no_new_privs, seccomp; landlock not available");
    return 0;
}
