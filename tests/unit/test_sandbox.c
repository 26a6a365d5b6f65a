/* The sandbox: the BPF program the builder writes (run through a small interpreter of
 * classic BPF), the filter installed in a forked child (a refused call fails with EPERM,
 * a dangerous one kills), Landlock in a forked child (a file outside the paths cannot be
 * read, a read path cannot be written), the directories the paths helpers derive, and
 * the user drop (a missing user refused; root dropped to nobody for good). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ward/sandbox.h"

/* ---- a classic BPF interpreter, for the instructions the builder uses ---- */

static uint32_t run_bpf(const struct sock_filter *f, long n, uint32_t arch, uint32_t nr) {
    uint32_t acc = 0;
    for (long pc = 0; pc < n; pc++) {
        const struct sock_filter *i = &f[pc];
        switch (i->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            assert_true(i->k == 0 || i->k == 4);
            acc = i->k == 0 ? nr : arch;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += acc == i->k ? i->jt : i->jf;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            pc += acc >= i->k ? i->jt : i->jf;
            break;
        case BPF_RET | BPF_K:
            return i->k;
        default:
            fail_msg("unexpected BPF instruction %#x at %ld", i->code, pc);
        }
    }
    fail_msg("the program runs off its end");
    return 0;
}

#define EPERM_RET (SECCOMP_RET_ERRNO | EPERM)

static void test_sandbox_bpf_verdicts(void **state) {
    (void)state;
    const int kill[] = {101, 102};
    const int allow[] = {0, 1, 2, 300};
    struct sock_filter f[64];
    long n = ward_sandbox_bpf(AUDIT_ARCH_X86_64, kill, 2, allow, 4, f, 64);
    assert_true(n > 0);
    assert_int_equal(run_bpf(f, n, AUDIT_ARCH_X86_64, 0), SECCOMP_RET_ALLOW);
    assert_int_equal(run_bpf(f, n, AUDIT_ARCH_X86_64, 300), SECCOMP_RET_ALLOW);
    assert_int_equal(run_bpf(f, n, AUDIT_ARCH_X86_64, 102), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(run_bpf(f, n, AUDIT_ARCH_X86_64, 3), EPERM_RET);
    /* another architecture's numbers mean other calls: killed whatever the number */
    assert_int_equal(run_bpf(f, n, AUDIT_ARCH_I386, 0), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(run_bpf(f, n, AUDIT_ARCH_AARCH64, 1), SECCOMP_RET_KILL_PROCESS);
    /* x32 calls on x86_64 */
    assert_int_equal(run_bpf(f, n, AUDIT_ARCH_X86_64, 0x40000000U | 1), SECCOMP_RET_KILL_PROCESS);
    /* aarch64: no x32 check, the same lists */
    long m = ward_sandbox_bpf(AUDIT_ARCH_AARCH64, kill, 2, allow, 4, f, 64);
    assert_true(m > 0 && m < n);
    assert_int_equal(run_bpf(f, m, AUDIT_ARCH_AARCH64, 2), SECCOMP_RET_ALLOW);
    assert_int_equal(run_bpf(f, m, AUDIT_ARCH_AARCH64, 101), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(run_bpf(f, m, AUDIT_ARCH_AARCH64, 0x40000001U), EPERM_RET);
    assert_int_equal(run_bpf(f, m, AUDIT_ARCH_X86_64, 2), SECCOMP_RET_KILL_PROCESS);
    /* too small a buffer is refused, not overrun */
    assert_int_equal(ward_sandbox_bpf(AUDIT_ARCH_X86_64, kill, 2, allow, 4, f, (size_t)n - 1), -1);
}

/* The programs' lists: no call is both killed and allowed, the calls an attacker wants
 * are killed, and those the event loop needs pass. */
static void test_sandbox_lists(void **state) {
    (void)state;
    size_t na, nk;
    const int *a = ward_sandbox_allowed(WARD_SANDBOX_AGENT, &na);
    const int *k = ward_sandbox_killed(&nk);
    assert_true(na > 50 && nk > 10);
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nk; j++)
            assert_int_not_equal(a[i], k[j]);
    uint32_t arch = ward_sandbox_arch();
    if (!arch)
        skip();
    struct sock_filter f[1024];
    long n = ward_sandbox_bpf(arch, k, nk, a, na, f, 1024);
    assert_true(n > 0);
    assert_int_equal(run_bpf(f, n, arch, SYS_mount), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(run_bpf(f, n, arch, SYS_bpf), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(run_bpf(f, n, arch, SYS_init_module), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(run_bpf(f, n, arch, SYS_kexec_load), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(run_bpf(f, n, arch, SYS_execve), EPERM_RET);
    assert_int_equal(run_bpf(f, n, arch, SYS_setuid), EPERM_RET);
    assert_int_equal(run_bpf(f, n, arch, SYS_epoll_pwait), SECCOMP_RET_ALLOW);
    assert_int_equal(run_bpf(f, n, arch, SYS_inotify_add_watch), SECCOMP_RET_ALLOW);
    assert_int_equal(run_bpf(f, n, arch, SYS_accept4), SECCOMP_RET_ALLOW);
    assert_int_equal(run_bpf(f, n, arch, SYS_getrandom), SECCOMP_RET_ALLOW);
    /* the output's write-back hint (strace over agent-ship.sh found it refused) */
    assert_int_equal(run_bpf(f, n, arch, SYS_sync_file_range), SECCOMP_RET_ALLOW);
}

/* Runs fn in a child; returns its wait status. */
static int in_child(int (*fn)(void *), void *arg) {
    fflush(NULL);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0)
        _exit(fn(arg));
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    return st;
}

static int child_refused(void *arg) {
    (void)arg;
    char err[256];
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        ward_sandbox_seccomp(WARD_SANDBOX_AGENT, err, sizeof(err)) < 0)
        return 10;
    /* not on the list: EPERM, and the process goes on */
    errno = 0;
    if (syscall(SYS_sethostname, "x", 1) != -1 || errno != EPERM)
        return 11;
    char *const argv[] = {"/bin/true", NULL};
    execv("/bin/true", argv);
    if (errno != EPERM)
        return 12;
    if (getpid() <= 0) /* allowed calls still work */
        return 13;
    return 0;
}

static int child_killed(void *arg) {
    (void)arg;
    char err[256];
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        ward_sandbox_seccomp(WARD_SANDBOX_AGENT, err, sizeof(err)) < 0)
        return 10;
    syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL);
    return 20; /* not reached */
}

static void test_sandbox_seccomp_child(void **state) {
    (void)state;
    if (!ward_sandbox_arch())
        skip();
    int st = in_child(child_refused, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    st = in_child(child_killed, NULL);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* ---- Landlock ---- */

typedef struct ll_dirs {
    char root[64], ro[96], rw[96], out[96];
} ll_dirs;

static void put(const char *dir, const char *name, const char *text) {
    char p[160];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int can_open(const char *dir, const char *name, int flags) {
    char p[160];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, flags | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static int child_landlock(void *arg) {
    ll_dirs *d = arg;
    ward_sandbox_paths p;
    ward_sandbox_paths_init(&p);
    ward_sandbox_paths_add(&p, d->ro, 0);
    ward_sandbox_paths_add(&p, d->rw, 1);
    ward_sandbox_paths_add(&p, "/no/such/dir", 0); /* skipped */
    char err[256];
    int abi = 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return 10;
    int r = ward_sandbox_landlock(&p, &abi, err, sizeof(err));
    ward_sandbox_paths_fini(&p);
    if (r != 1)
        return 11;
    if (can_open(d->ro, "f", O_RDONLY) != 0)
        return 12; /* a read path reads */
    if (can_open(d->ro, "f", O_WRONLY) != -EACCES || can_open(d->ro, "new", O_CREAT) != -EACCES)
        return 13; /* but is not written */
    if (can_open(d->rw, "new", O_CREAT | O_WRONLY) != 0 || can_open(d->rw, "f", O_RDWR) != 0)
        return 14; /* a write path is */
    if (can_open(d->out, "secret", O_RDONLY) != -EACCES)
        return 15; /* a file outside every path is not read */
    if (can_open("/etc", "passwd", O_RDONLY) != 0)
        return 16; /* the system's read-only trees */
    return 0;
}

static void test_sandbox_landlock_child(void **state) {
    (void)state;
    if (ward_sandbox_landlock_abi() <= 0)
        skip();
    ll_dirs d;
    snprintf(d.root, sizeof(d.root), "/tmp/ward-sandbox.XXXXXX");
    assert_non_null(mkdtemp(d.root));
    snprintf(d.ro, sizeof(d.ro), "%s/ro", d.root);
    snprintf(d.rw, sizeof(d.rw), "%s/rw", d.root);
    snprintf(d.out, sizeof(d.out), "%s/out", d.root);
    assert_int_equal(mkdir(d.ro, 0700), 0);
    assert_int_equal(mkdir(d.rw, 0700), 0);
    assert_int_equal(mkdir(d.out, 0700), 0);
    put(d.ro, "f", "r\n");
    put(d.rw, "f", "w\n");
    put(d.out, "secret", "s\n");
    int st = in_child(child_landlock, &d);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* and the parent, not confined, still reads it */
    assert_int_equal(can_open(d.out, "secret", O_RDONLY), 0);
    char p[160];
    const char *files[] = {"ro/f", "rw/f", "rw/new", "out/secret"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", d.root, files[i]);
        unlink(p);
    }
    rmdir(d.ro);
    rmdir(d.rw);
    rmdir(d.out);
    rmdir(d.root);
}

static void test_sandbox_paths_dirs(void **state) {
    (void)state;
    ward_sandbox_paths p;
    ward_sandbox_paths_init(&p);
    ward_sandbox_paths_add_dir(&p, "/etc/ward/agent.yml", 0);
    ward_sandbox_paths_add_dir(&p, "/x", 0);
    ward_sandbox_paths_add_dir(&p, "alerts.json", 1);
    ward_sandbox_paths_add_glob(&p, "/var/log/nginx/*/access.log");
    ward_sandbox_paths_add_glob(&p, "/var/log/app-*.log");
    ward_sandbox_paths_add_glob(&p, "/var/log/syslog");
    ward_sandbox_paths_add_glob(&p, "*.log");
    ward_sandbox_paths_add(&p, NULL, 0);
    ward_sandbox_paths_add(&p, "", 1);
    assert_false(p.oom);
    assert_int_equal(p.nread, 6);
    assert_string_equal(p.read[0], "/etc/ward");
    assert_string_equal(p.read[1], "/");
    assert_string_equal(p.read[2], "/var/log/nginx");
    assert_string_equal(p.read[3], "/var/log");
    assert_string_equal(p.read[4], "/var/log");
    assert_string_equal(p.read[5], ".");
    assert_int_equal(p.nwrite, 1);
    assert_string_equal(p.write[0], ".");
    ward_sandbox_paths_fini(&p);
}

/* ---- the user ---- */

static void test_sandbox_user_missing(void **state) {
    (void)state;
    char err[512];
    if (geteuid() != 0) {
        /* not root: nothing to drop, and an ordinary user holds no capability */
        assert_int_equal(ward_sandbox_drop_user("no-such-ward-user", 0, err, sizeof(err)), 0);
        return;
    }
    assert_int_equal(ward_sandbox_drop_user("no-such-ward-user", 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'no-such-ward-user'"));
    assert_non_null(strstr(err, "does not exist"));
    assert_int_equal(ward_sandbox_drop_user(NULL, 0, err, sizeof(err)), -1);
    /* the escape hatch */
    assert_int_equal(ward_sandbox_drop_user("no-such-ward-user", 1, err, sizeof(err)), 0);
    assert_int_equal(geteuid(), 0);
}

static int child_drop(void *arg) {
    (void)arg;
    char err[512];
    if (ward_sandbox_drop_user("nobody", 0, err, sizeof(err)) != 1)
        return 10;
    if (getuid() == 0 || geteuid() == 0 || getgid() == 0)
        return 11;
    if (setuid(0) == 0 || setgid(0) == 0)
        return 12;
    if (prctl(PR_CAPBSET_READ, 0, 0, 0, 0) != 0) /* CAP_CHOWN gone from the bounding set */
        return 13;
    /* started without privileges, it is simply allowed on */
    if (ward_sandbox_drop_user("no-such-ward-user", 0, err, sizeof(err)) != 0)
        return 14;
    return 0;
}

static void test_sandbox_user_drop(void **state) {
    (void)state;
    if (geteuid() != 0)
        skip();
    int st = in_child(child_drop, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_bpf_verdicts),  cmocka_unit_test(test_sandbox_lists),
        cmocka_unit_test(test_sandbox_seccomp_child), cmocka_unit_test(test_sandbox_landlock_child),
        cmocka_unit_test(test_sandbox_paths_dirs),    cmocka_unit_test(test_sandbox_user_missing),
        cmocka_unit_test(test_sandbox_user_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
