/* Outputs: alerts are buffered, written in groups, and made durable with fsync before
 * any bookmark moves past the records they came from. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A crash (or a full disk, then a crash) can leave the last alert cut short. Appending
 * after it would glue the next alert to it, so the cut part is removed: the alert is
 * written again whole, since the bookmarks never passed it. */
static void drop_torn_tail(output *o, FILE *log) {
    struct stat st;
    if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return;
    char b[4096];
    off_t end = st.st_size, pos = end;
    while (pos > 0) {
        size_t n = pos > (off_t)sizeof(b) ? sizeof(b) : (size_t)pos;
        if (pread(o->fd, b, n, pos - (off_t)n) != (ssize_t)n)
            return;
        for (size_t i = n; i > 0; i--)
            if (b[i - 1] == '\n') {
                off_t keep = pos - (off_t)n + (off_t)i;
                if (keep < end && ftruncate(o->fd, keep) == 0)
                    fprintf(log,
                            "ward-agent: warning: %s: removed %lld bytes of an alert cut short "
                            "(it is written again)\n",
                            o->path, (long long)(end - keep));
                return;
            }
        pos -= (off_t)n;
    }
    if (ftruncate(o->fd, 0) == 0) /* no newline at all: one torn alert */
        fprintf(log, "ward-agent: warning: %s: removed an alert cut short\n", o->path);
}

static int open_file(output *o, FILE *log) {
    o->fd = open(o->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (o->fd < 0) {
        fprintf(log, "ward-agent: error: %s: cannot open for appending: %s\n", o->path,
                strerror(errno));
        return -1;
    }
    drop_torn_tail(o, log);
    struct stat st;
    o->hinted = fstat(o->fd, &st) == 0 ? st.st_size & ~(off_t)4095 : 0;
    return 0;
}

/* Past this many written bytes the kernel is asked to start writing them to disk, so
 * that the fsync of a commit finds little left to do and a busy agent never holds
 * hundreds of megabytes of dirty pages. */
#define WRITEBACK_STEP ((off_t)4 << 20)

static void start_writeback(output *o) {
    off_t end = lseek(o->fd, 0, SEEK_CUR) & ~(off_t)4095; /* whole pages only */
    if (end - o->hinted < WRITEBACK_STEP)
        return;
    /* only a hint: the fsync at the commit is what makes the alerts durable */
    (void)sync_file_range(o->fd, o->hinted, end - o->hinted, SYNC_FILE_RANGE_WRITE);
    o->hinted = end;
}

int output_open(output *o, const agent_cfg *cfg, FILE *log) {
    memset(o, 0, sizeof(*o));
    o->fd = -1;
    ward_buf_init(&o->buf);
    o->to_stdout = cfg->outputs.stdout_;
    if (cfg->outputs.file.path) {
        o->path = strdup(cfg->outputs.file.path);
        if (!o->path || open_file(o, log) < 0)
            return -1;
    }
    return 0;
}

/* Writes p[*done..len) to fd, advancing *done. Returns 0 when all is written, else -1. */
static int write_rest(int fd, const char *p, size_t len, size_t *done) {
    while (*done < len) {
        ssize_t w = write(fd, p + *done, len - *done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        *done += (size_t)w;
    }
    return 0;
}

int output_flush(output *o, int sync) {
    if (o->sync_lost) {
        errno = o->sync_lost;
        return -1;
    }
    if (o->buf.len) {
        if (o->to_stdout && write_rest(STDOUT_FILENO, o->buf.p, o->buf.len, &o->stdout_done) < 0) {
            /* a reader that went away must not stop the agent: count it, carry on */
            o->errors++;
            if (errno == EPIPE || errno == EBADF)
                o->to_stdout = 0;
            else
                return -1; /* e.g. a full pipe that is not non-blocking: try again later */
        }
        if (o->fd >= 0) {
            if (write_rest(o->fd, o->buf.p, o->buf.len, &o->file_done) < 0) {
                /* what was not written is kept and retried at the next commit (a line cut
                 * by a full disk is completed then, not written twice); bookmarks wait */
                o->errors++;
                o->failing = 1;
                return -1;
            }
            o->unsynced = 1;
            start_writeback(o);
        }
        o->bytes += o->buf.len;
        ward_buf_reset(&o->buf);
        o->file_done = o->stdout_done = 0;
    }
    if (sync && o->fd >= 0 && o->unsynced) {
        /* EINVAL: a FIFO or the like, which holds nothing to sync */
        if (fsync(o->fd) < 0 && errno != EINVAL) {
            /* Linux may have dropped the pages it could not write and marked them
             * clean: a later fsync would succeed without them. Nothing written since
             * the last good fsync can be called durable again. */
            o->errors++;
            o->failing = 1;
            o->sync_lost = errno ? errno : EIO;
            return -1;
        }
        o->fsyncs++;
        o->unsynced = 0;
        o->hinted = lseek(o->fd, 0, SEEK_CUR) & ~(off_t)4095; /* synced: no hint needed */
    }
    o->failing = 0;
    return 0;
}

int output_reopen(output *o, FILE *log) {
    if (!o->path)
        return 0;
    if (output_flush(o, 1) < 0)
        return -1;
    int old = o->fd;
    if (open_file(o, log) < 0) {
        o->fd = old; /* keep writing where we were */
        return -1;
    }
    if (old >= 0)
        close(old);
    return 0;
}

void output_close(output *o) {
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    free(o->path);
    o->path = NULL;
    ward_buf_fini(&o->buf);
}
