/* The programs' own confinement, applied at start-up once the configuration is loaded and
 * the files and sockets are open: leave root for an unprivileged user, no new privileges,
 * a seccomp allow-list of system calls and, where the kernel has it, Landlock over the
 * file system. The systemd units add their own sandbox around this one. */
#ifndef WARD_SANDBOX_H
#define WARD_SANDBOX_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

/* The environment variable that allows running as root, for test suites and the demo
 * (the programs' --insecure-run-as-root does the same). */
#define WARD_SANDBOX_ROOT_ENV "WARD_INSECURE_RUN_AS_ROOT"

/* Started as root (euid 0): drops to user (its uid, its primary group, its supplementary
 * groups from the group database: the agent's adm and systemd-journal), empties the
 * capability bounding set first, and checks that root cannot be regained and that no
 * capability is left; with allow_root, stays root (the caller warns). Started as another
 * user: gives up every capability it holds (systemd's AmbientCapabilities=, for a port
 * below 1024 bound before this call) and checks that none is left (effective, permitted,
 * ambient).
 * Returns 1 when it dropped to user, 0 when nothing needed doing (or allow_root), -1
 * with err ("user 'ward' does not exist", "capability 12 is still effective") when the
 * program must not go on. */
int ward_sandbox_drop_user(const char *user, int allow_root, char *err, size_t errlen);

/* The paths Landlock lets the program reach: read reads files and lists directories
 * beneath each path, write also creates, writes, renames, truncates and removes. A path
 * that does not exist is skipped (a journal directory this system does not have); a
 * path that is a file gets the file rights only. The system's read-only trees (/etc,
 * /usr, the libraries, /proc, /dev/urandom) are added by ward_sandbox_apply. */
typedef struct ward_sandbox_paths {
    char **read; /* owned */
    size_t nread, read_cap;
    char **write; /* owned */
    size_t nwrite, write_cap;
    int oom; /* an add failed: ward_sandbox_apply refuses */
} ward_sandbox_paths;

void ward_sandbox_paths_init(ward_sandbox_paths *p);
void ward_sandbox_paths_fini(ward_sandbox_paths *p);
/* Adds a copy of path (NULL and "" are ignored); write: 1 for write. */
void ward_sandbox_paths_add(ward_sandbox_paths *p, const char *path, int write);
/* Adds the directory of path ("." for a bare name, "/" for /x): for files that are
 * replaced by rename (a configuration, a certificate, an output file) or not there yet. */
void ward_sandbox_paths_add_dir(ward_sandbox_paths *p, const char *path, int write);
/* Adds, to read, the directory a file glob's fixed part names: /var/log/nginx for
 * /var/log/nginx/x*, /var/log for /var/log/syslog (where it is rotated). */
void ward_sandbox_paths_add_glob(ward_sandbox_paths *p, const char *pattern);

/* Which system calls the filter allows. */
enum { WARD_SANDBOX_AGENT = 1, WARD_SANDBOX_COLLECTOR = 2 };

/* Confines the calling process (every thread): PR_SET_NO_NEW_PRIVS, Landlock over paths
 * when the kernel offers it (info gets "landlock: not available" or the ABI version),
 * then the seccomp filter of who. Irreversible. Returns 0, or -1 with err. */
int ward_sandbox_apply(int who, const ward_sandbox_paths *paths, char *info, size_t infolen,
                       char *err, size_t errlen);

/* Landlock only: 1 applied (*abi its version), 0 the kernel has none, -1 err. */
int ward_sandbox_landlock(const ward_sandbox_paths *paths, int *abi, char *err, size_t errlen);

/* The highest Landlock ABI the kernel offers, 0 when none. */
int ward_sandbox_landlock_abi(void);

/* The seccomp filter only (needs no_new_privs or CAP_SYS_ADMIN). Returns 0 or -1. */
int ward_sandbox_seccomp(int who, char *err, size_t errlen);

/* Builds a classic BPF seccomp program into out (cap instructions): a system call of
 * another architecture than arch (an AUDIT_ARCH_ value) kills the process, so do the
 * numbers in kill (and, on x86_64, the x32 ones); those in allow are allowed; any other
 * fails with EPERM. Returns the number of instructions, or -1 when cap is too small. */
long ward_sandbox_bpf(uint32_t arch, const int *kill, size_t nkill, const int *allow, size_t nallow,
                      struct sock_filter *out, size_t cap);

/* The system calls of who: the allow-list (and its length) and the kill list. Static
 * storage. */
const int *ward_sandbox_allowed(int who, size_t *n);
const int *ward_sandbox_killed(size_t *n);

/* The AUDIT_ARCH_ value of the architecture this was built for, 0 when unknown (then
 * ward_sandbox_seccomp fails). */
uint32_t ward_sandbox_arch(void);

#endif
