/* Preloaded by agent-output.sh and agent-spool.sh: fsync fails with EIO on descriptors whose path
 * contains $WARD_FAIL_FSYNC, as it does on a disk that stopped taking writes (this machine has no
 * device mapper to make one). Every other fsync is the real one. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

/* 1 when fd's path contains $WARD_FAIL_FSYNC. */
static int failing(int fd) {
    const char *match = getenv("WARD_FAIL_FSYNC");
    char link[64], path[4096];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (match && *match && n > 0) {
        path[n] = 0;
        return strstr(path, match) != NULL;
    }
    return 0;
}

int fsync(int fd) {
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fsync, fd);
}

/* the spool's group commit (agent-spool.sh) */
int fdatasync(int fd) {
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}
