/* Journal source: reads the systemd journal through sd-journal and hands every entry to the
 * pipeline as a classic syslog line, so that rules written for syslog files (auth.log) work
 * on journal entries unchanged.
 *
 * What is read: the local journal (sd_journal_open with SD_JOURNAL_LOCAL_ONLY: this
 * machine's system and user files, as far as permissions allow), or the files named by
 * journal_files, or the files in journal_dir. Each `match` is FIELD=VALUE and goes to
 * sd_journal_add_match: several for one field are ORed, different fields ANDed, as with
 * journalctl FIELD=VALUE arguments (journalctl's "+" between groups is not supported).
 *
 * Waking: the descriptor of sd_journal_get_fd (inotify) is watched by the loop; on a wake,
 * sd_journal_process, then every new entry is read, SLICE_ENTRIES per turn so that a
 * backlog does not hold up the group commit. sd_journal_get_timeout is honoured with a
 * loop timer (sd-journal asks for one when the journal lies on a network file system).
 * Files named by journal_files are also checked every STATIC_POLL_MS: inotify watches
 * their directories, but what writes them (journal-remote, a copy, a test) need not
 * signal its changes the way journald does. Nothing else polls.
 *
 * Positions: `processed` is the cursor of the last entry handed to the pipeline, `durable`
 * the processed one at the last commit: the bookmark. On start:
 *   - with a bookmark: seek to its cursor and take the entry found there. When it is the
 *     bookmarked entry (sd_journal_test_cursor), reading continues after it. When it is not,
 *     that entry was vacuumed or rotated away: a warning says that entries between the
 *     cursor and the first available one may have been missed, cursor_lost counts it, and
 *     reading starts at that first available entry.
 *   - without one: start_at end reads what comes from now on (the tail), start_at
 *     beginning the whole journal (the head). By default, the agent's very first run (no
 *     bookmark file at all) starts at the tail, as files start at their end; later, a
 *     journal source without a bookmark (added to the configuration, or its bookmark
 *     refused) reads from the head: nothing is lost, at the cost of reading old entries.
 *
 * The line: "Mmm dd hh:mm:ss HOST IDENT[PID]: MESSAGE". The time is __REALTIME_TIMESTAMP in
 * local time, as rsyslog writes it, so a journal line reads like the same line in the
 * host's auth.log; time_ms carries the exact instant. HOST is _HOSTNAME (else this host),
 * IDENT SYSLOG_IDENTIFIER (else _COMM, else "unknown"), PID _PID (else SYSLOG_PID; left
 * out when neither is a number). HOST and IDENT are cleaned of blanks, control bytes and
 * the header's separators (':', and '[' ']' in IDENT) so that the line decodes the same way
 * whatever they hold. MESSAGE is taken with its length: it may hold any byte, newlines
 * included. A line longer than max_line (the source's, else limits.max_line) is cut there,
 * marked truncated and counted, like a file line.
 *
 * Extra fields, named journal.NAME (see jfields): _UID, _COMM, _EXE, _SYSTEMD_UNIT and
 * _TRANSPORT, which journald sets itself and a sender cannot forge (SYSLOG_IDENTIFIER is
 * the sender's word: any process may log as "sshd"), and PRIORITY and SYSLOG_FACILITY.
 *
 * Alert ids use the key "journal:CURSOR" (a cursor names one entry for good) and pos 0. */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#define SLICE_ENTRIES 4096  /* entries read per turn before other work gets one */
#define STATIC_POLL_MS 1000 /* journal_files (or no descriptor): how often they are checked */
#define RETRY_MS 1000       /* after an entry could not be processed (no memory) */
#define HOST_MAX 255        /* bytes of _HOSTNAME kept in the line */
#define IDENT_MAX 32        /* the syslog decoder looks for "IDENT[PID]:" in 64 bytes */
#define PID_MAX 20
#define FIELD_NAME_MAX 64 /* journald's limit on field names */

enum {
    F_MESSAGE,
    F_HOSTNAME,
    F_IDENT,
    F_COMM,
    F_PID,
    F_SYSLOG_PID,
    F_EXE,
    F_UID,
    F_UNIT,
    F_TRANSPORT,
    F_PRIORITY,
    F_FACILITY,
    NFIELDS
};

/* The fields read from every entry; those with an extra name are added to the event. */
static const struct jfield {
    const char *name;
    const char *extra;
} jfields[NFIELDS] = {
    [F_MESSAGE] = {"MESSAGE", NULL},
    [F_HOSTNAME] = {"_HOSTNAME", NULL},
    [F_IDENT] = {"SYSLOG_IDENTIFIER", NULL},
    [F_COMM] = {"_COMM", "journal._COMM"},
    [F_PID] = {"_PID", NULL},
    [F_SYSLOG_PID] = {"SYSLOG_PID", NULL},
    [F_EXE] = {"_EXE", "journal._EXE"},
    [F_UID] = {"_UID", "journal._UID"},
    [F_UNIT] = {"_SYSTEMD_UNIT", "journal._SYSTEMD_UNIT"},
    [F_TRANSPORT] = {"_TRANSPORT", "journal._TRANSPORT"},
    [F_PRIORITY] = {"PRIORITY", "journal.PRIORITY"},
    [F_FACILITY] = {"SYSLOG_FACILITY", "journal.SYSLOG_FACILITY"},
};

typedef struct jsrc {
    src *s;
    sd_journal *j;
    int fd;          /* sd_journal_get_fd, watched by the loop; -1: none */
    int poll_static; /* checked every STATIC_POLL_MS */
    ward_loop_timer tick, work;
    size_t max_line;
    char *processed, *durable; /* cursors (owned); NULL: none yet */
    int pending;               /* the read pointer is on an entry not processed yet */
    int error_logged;          /* a read error was logged; quiet until reads succeed */
    uint64_t entries, cursor_lost, resumed;
    /* the current entry: values copied out of the journal (sd-journal's pointers live only
     * until the next sd_journal_get_data), the line built from them, the alert key */
    ward_buf vals, line, key;
    size_t off[NFIELDS], len[NFIELDS];
    int have[NFIELDS];
    int cut; /* some field was longer than max_line */
} jsrc;

/* ---- the entry ---- */

/* Copies the wanted fields of the current entry into js->vals, each at most max_line
 * bytes; the first of a repeated field wins. */
static void collect(jsrc *js) {
    ward_buf_reset(&js->vals);
    memset(js->have, 0, sizeof(js->have));
    js->cut = 0;
    const void *d;
    size_t l;
    sd_journal_restart_data(js->j);
    /* _available_ skips fields that cannot be read (too large, unknown compression) rather
     * than giving up the entry */
    while (sd_journal_enumerate_available_data(js->j, &d, &l) > 0) {
        const char *p = d;
        size_t lim = l < FIELD_NAME_MAX + 1 ? l : FIELD_NAME_MAX + 1;
        const char *eq = memchr(p, '=', lim);
        if (!eq)
            continue;
        size_t n = (size_t)(eq - p);
        for (int i = 0; i < NFIELDS; i++) {
            if (js->have[i] || strlen(jfields[i].name) != n || memcmp(p, jfields[i].name, n))
                continue;
            size_t vl = l - n - 1;
            if (vl > js->max_line) {
                vl = js->max_line;
                js->cut = 1;
            }
            js->off[i] = js->vals.len;
            js->len[i] = l - n - 1; /* the real length: the line builder cuts MESSAGE */
            /* without memory the field is left out; vals.oom makes the entry wait */
            js->have[i] = ward_buf_put(&js->vals, eq + 1, vl) == 0;
            break;
        }
    }
}

static const char *val(const jsrc *js, int f) {
    return js->vals.p + js->off[f];
}

/* Bytes of field f held in vals. */
static size_t vlen(const jsrc *js, int f) {
    return js->len[f] < js->max_line ? js->len[f] : js->max_line;
}

/* Appends at most max bytes of p, with the bytes that would split the header replaced. */
static void put_clean(ward_buf *b, const char *p, size_t n, size_t max, int ident) {
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c == 0x7f || c == ':' || (ident && (c == '[' || c == ']')))
            c = '_';
        ward_buf_putc(b, (char)c);
    }
}

static int is_pid(const char *p, size_t n) {
    if (n == 0 || n > PID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* Builds the syslog line of the current entry (collected) into js->line. Returns 1 when
 * it was cut at max_line, else 0. */
static int build_line(jsrc *js, uint64_t usec) {
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    ward_buf *b = &js->line;
    ward_buf_reset(b);
    time_t t = (time_t)(usec / 1000000u);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm));
    ward_buf_printf(b, "%s %2d %02d:%02d:%02d ", mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour,
                    tm.tm_min, tm.tm_sec);
    if (js->have[F_HOSTNAME] && js->len[F_HOSTNAME])
        put_clean(b, val(js, F_HOSTNAME), vlen(js, F_HOSTNAME), HOST_MAX, 0);
    else
        put_clean(b, js->s->a->host, strlen(js->s->a->host), HOST_MAX, 0);
    ward_buf_putc(b, ' ');
    int id = js->have[F_IDENT] && js->len[F_IDENT] ? F_IDENT
             : js->have[F_COMM] && js->len[F_COMM] ? F_COMM
                                                   : -1;
    if (id >= 0)
        put_clean(b, val(js, id), vlen(js, id), IDENT_MAX, 1);
    else
        ward_buf_put(b, "unknown", 7);
    int pid = js->have[F_PID] && is_pid(val(js, F_PID), vlen(js, F_PID)) ? F_PID
              : js->have[F_SYSLOG_PID] && is_pid(val(js, F_SYSLOG_PID), vlen(js, F_SYSLOG_PID))
                  ? F_SYSLOG_PID
                  : -1;
    if (pid >= 0) {
        ward_buf_putc(b, '[');
        ward_buf_put(b, val(js, pid), vlen(js, pid));
        ward_buf_putc(b, ']');
    }
    ward_buf_put(b, ": ", 2);
    int cut = 0;
    if (b->len > js->max_line) {
        b->len = js->max_line; /* a tiny max_line: even the header does not fit */
        return 1;
    }
    if (js->have[F_MESSAGE]) {
        size_t room = js->max_line - b->len, n = js->len[F_MESSAGE];
        if (n > room) {
            n = room;
            cut = 1;
        }
        ward_buf_put(b, val(js, F_MESSAGE), n);
    }
    return cut;
}

/* Processes the entry at the read pointer. Returns 0 (processed, or skipped and counted
 * when it cannot be read), or -1 when it could not be processed for lack of memory: the
 * read pointer is then put back so that the next sd_journal_next returns it again. */
static int process_current(jsrc *js) {
    src *s = js->s;
    char *cur = NULL;
    int r = sd_journal_get_cursor(js->j, &cur);
    if (r < 0) {
        s->n.errors++;
        if (!js->error_logged)
            agent_log(s->a, "warning", "source %s: an entry without a cursor is skipped: %s",
                      s->name, strerror(-r));
        js->error_logged = 1;
        return 0;
    }
    uint64_t usec = 0;
    if (sd_journal_get_realtime_usec(js->j, &usec) < 0)
        usec = agent_now_ms() * 1000u;
    collect(js);
    int truncated = build_line(js, usec) | js->cut;
    ward_buf_reset(&js->key);
    ward_buf_put(&js->key, "journal:", 8);
    ward_buf_put(&js->key, cur, strlen(cur));
    const char *key = ward_buf_cstr(&js->key);
    if (!key || js->vals.oom || js->line.oom)
        goto oom;
    ward_field ex[NFIELDS];
    size_t nex = 0;
    for (int i = 0; i < NFIELDS; i++)
        if (jfields[i].extra && js->have[i])
            ex[nex++] = (ward_field){jfields[i].extra, val(js, i), vlen(js, i)};
    agent_rec rec = {0};
    rec.line = (const uint8_t *)js->line.p;
    rec.len = js->line.len;
    rec.truncated = truncated;
    rec.decoder = WARD_DECODER_SYSLOG;
    rec.key = key;
    rec.pos = 0;
    rec.where.kind = "journal";
    rec.where.name = s->name;
    rec.where.cursor = cur;
    rec.extra = ex;
    rec.nextra = nex;
    rec.time_ms = usec / 1000u;
    if (agent_process(s->a, s, &rec) < 0)
        goto oom;
    js->entries++;
    s->n.records++;
    s->n.bytes += rec.len;
    if (truncated)
        s->n.truncated++;
    free(js->processed);
    js->processed = cur;
    js->error_logged = 0;
    return 0;
oom:
    /* seek_cursor + next lands on this very entry */
    sd_journal_seek_cursor(js->j, cur);
    free(cur);
    return -1;
}

/* Reads at most limit entries. Returns how many, or -1 on a read error before any; *more
 * says whether the limit stopped it. */
static long read_entries(jsrc *js, long limit, int *more) {
    src *s = js->s;
    long n = 0;
    *more = 0;
    while (n < limit) {
        if (agent_backlogged(s->a)) {
            /* the output is failing: entries wait in the journal; try again later */
            ward_loop_timer_after(s->a->loop, &js->work, RETRY_MS);
            return n;
        }
        if (!js->pending) {
            int r = sd_journal_next(js->j);
            if (r == 0)
                break;
            if (r < 0) {
                s->n.errors++;
                if (!js->error_logged)
                    agent_log(s->a, "error", "source %s: reading the journal: %s", s->name,
                              strerror(-r));
                js->error_logged = 1;
                return n ? n : -1;
            }
        }
        js->pending = 0;
        if (process_current(js) < 0) {
            if (!agent_backlogged(s->a)) /* a full spool is logged by the spool */
                agent_log(s->a, "error",
                          "source %s: out of memory: the entry is read again in %d ms", s->name,
                          RETRY_MS);
            ward_loop_timer_after(s->a->loop, &js->work, RETRY_MS);
            return n;
        }
        n++;
    }
    *more = n == limit;
    return n;
}

/* ---- waking ---- */

static uint64_t mono_usec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Arms the tick for what sd-journal asks (sd_journal_get_timeout) and for the check of
 * static files, whichever comes first. */
static void arm_tick(jsrc *js) {
    ward_loop *l = js->s->a->loop;
    uint64_t ms = js->poll_static ? STATIC_POLL_MS : UINT64_MAX, t;
    if (js->fd >= 0 && sd_journal_get_timeout(js->j, &t) >= 0 && t != UINT64_MAX) {
        uint64_t now = mono_usec();
        uint64_t d = t > now ? (t - now + 999) / 1000 : 0;
        if (d < ms)
            ms = d;
    }
    if (ms == UINT64_MAX)
        ward_loop_timer_stop(l, &js->tick);
    else
        ward_loop_timer_after(l, &js->tick, ms);
}

/* sd_journal_process: takes in the changes inotify reported (new files, rotation). */
static void take_changes(jsrc *js) {
    if (js->fd < 0)
        return;
    int r = sd_journal_process(js->j);
    if (r < 0) {
        js->s->n.errors++;
        if (!js->error_logged)
            agent_log(js->s->a, "error", "source %s: sd_journal_process: %s", js->s->name,
                      strerror(-r));
        js->error_logged = 1;
    }
}

static void wake(jsrc *js) {
    take_changes(js);
    int more;
    read_entries(js, SLICE_ENTRIES, &more);
    if (more)
        ward_loop_timer_after(js->s->a->loop, &js->work, 0);
    arm_tick(js);
}

static void on_fd(void *ctx, int fd, uint32_t events) {
    (void)fd;
    (void)events;
    wake(ctx);
}

static void on_tick(void *ctx) {
    wake(ctx);
}

static void on_work(void *ctx) {
    jsrc *js = ctx;
    int more;
    read_entries(js, SLICE_ENTRIES, &more);
    if (more)
        ward_loop_timer_after(js->s->a->loop, &js->work, 0);
}

/* ---- starting ---- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Journal files under dir (and its subdirectories to depth: machine ids) that exist but
 * cannot be opened for lack of permission. */
static size_t unreadable(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d)
        return errno == EACCES ? 1 : 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p))
            continue;
        if (ends_with(de->d_name, ".journal") || ends_with(de->d_name, ".journal~")) {
            int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
            if (fd >= 0)
                close(fd);
            else if (errno == EACCES)
                n++;
        } else if (depth > 0) {
            struct stat st;
            if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                n += unreadable(p, depth - 1);
        }
    }
    closedir(d);
    return n;
}

/* sd-journal skips the files it may not read without a word: say so, and fail when that
 * leaves nothing to read. Returns 0 or -1 (logged). */
static int check_access(jsrc *js) {
    src *s = js->s;
    const agent_source_cfg *c = s->cfg;
    if (c->njournal_files)
        return 0; /* sd_journal_open_files fails on a file it cannot open */
    uint64_t usage = 0;
    if (sd_journal_get_usage(js->j, &usage) < 0)
        usage = 0;
    size_t bad = c->journal_dir
                     ? unreadable(c->journal_dir, 1)
                     : unreadable("/var/log/journal", 1) + unreadable("/run/log/journal", 1);
    if (bad && usage == 0) {
        agent_log(s->a, "error",
                  "source %s: permission denied: none of the %zu journal files can be read; "
                  "the agent's user needs the group systemd-journal (or adm)",
                  s->name, bad);
        return -1;
    }
    if (bad)
        agent_log(s->a, "warning",
                  "source %s: %zu journal files cannot be read (permission denied): their "
                  "entries are not seen; the agent's user needs the group systemd-journal",
                  s->name, bad);
    else if (usage == 0)
        agent_log(s->a, "info", "source %s: no journal files yet: entries are read as they come",
                  s->name);
    return 0;
}

/* Opens what the configuration names. Returns 0 or -1 (logged). */
static int open_journal(jsrc *js) {
    src *s = js->s;
    const agent_source_cfg *c = s->cfg;
    int r;
    /* the configuration check refused journal_files with journal_dir, and bad matches */
    if (c->njournal_files) {
        /* sd_journal_open_files does not say which file it could not open */
        for (size_t i = 0; i < c->njournal_files; i++) {
            int fd = open(c->journal_files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
            if (fd < 0) {
                agent_log(s->a, "error", "source %s: journal file %s: %s", s->name,
                          c->journal_files[i], strerror(errno));
                return -1;
            }
            close(fd);
        }
        const char **v = calloc(c->njournal_files + 1, sizeof(*v));
        if (!v) {
            agent_log(s->a, "error", "source %s: out of memory", s->name);
            return -1;
        }
        for (size_t i = 0; i < c->njournal_files; i++)
            v[i] = c->journal_files[i];
        r = sd_journal_open_files(&js->j, v, 0);
        free(v);
        if (r < 0) {
            agent_log(s->a, "error", "source %s: cannot open journal_files: %s", s->name,
                      strerror(-r));
            return -1;
        }
        js->poll_static = 1;
    } else if (c->journal_dir) {
        r = sd_journal_open_directory(&js->j, c->journal_dir, 0);
        if (r < 0) {
            agent_log(s->a, "error", "source %s: cannot open the journal in %s: %s", s->name,
                      c->journal_dir, strerror(-r));
            return -1;
        }
    } else {
        r = sd_journal_open(&js->j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0) {
            agent_log(s->a, "error", "source %s: cannot open the system journal: %s", s->name,
                      strerror(-r));
            return -1;
        }
    }
    for (size_t i = 0; i < c->njournal_match; i++) {
        const char *m = c->journal_match[i];
        r = sd_journal_add_match(js->j, m, strlen(m));
        if (r < 0) {
            agent_log(s->a, "error", "source %s: match '%.200s': %s", s->name, m, strerror(-r));
            return -1;
        }
    }
    /* large fields are decompressed only as far as the line can use them */
    sd_journal_set_data_threshold(js->j, js->max_line + FIELD_NAME_MAX + 2);
    return 0;
}

/* Watches sd-journal's descriptor (asked for right after opening, as sd_journal_get_fd
 * recommends, so that no change is missed). Returns 0 or -1 (logged). */
static int watch(jsrc *js) {
    src *s = js->s;
    int fd = sd_journal_get_fd(js->j);
    if (fd < 0) {
        agent_log(s->a, "warning",
                  "source %s: changes to the journal cannot be watched (%s): it is checked "
                  "every %d ms",
                  s->name, strerror(-fd), STATIC_POLL_MS);
        js->poll_static = 1;
        return 0;
    }
    int ev = sd_journal_get_events(js->j);
    uint32_t e = 0;
    if (ev < 0 || (ev & POLLIN))
        e |= EPOLLIN;
    if (ev > 0 && (ev & POLLOUT))
        e |= EPOLLOUT;
    if (ward_loop_add(s->a->loop, fd, e, on_fd, js) < 0) {
        agent_log(s->a, "error", "source %s: event loop: %s", s->name, strerror(errno));
        return -1;
    }
    js->fd = fd;
    return 0;
}

/* The realtime of a cursor's entry ("t=HEX" in microseconds), in ms; 0 when it has none. */
static uint64_t cursor_ms(const char *cursor) {
    for (const char *p = cursor; p && *p; p = strchr(p, ';'), p = p ? p + 1 : NULL) {
        if (p[0] != 't' || p[1] != '=')
            continue;
        char *end;
        errno = 0;
        unsigned long long us = strtoull(p + 2, &end, 16);
        return errno || end == p + 2 || (*end && *end != ';') ? 0 : us / 1000u;
    }
    return 0;
}

static void set_position(jsrc *js, const char *cursor) {
    free(js->processed);
    free(js->durable);
    js->processed = cursor ? strdup(cursor) : NULL;
    js->durable = cursor ? strdup(cursor) : NULL;
}

/* Continues after the bookmarked cursor, or, when its entry is gone, from the first
 * entry there is after it (warned, counted). Returns 0 or -1 (no memory). */
static int resume(jsrc *js, const char *cursor) {
    src *s = js->s;
    sd_journal *j = js->j;
    int r = sd_journal_seek_cursor(j, cursor);
    if (r < 0) {
        js->cursor_lost++;
        agent_log(s->a, "warning",
                  "source %s: the bookmarked cursor cannot be used (%s): reading the journal "
                  "from its first entry",
                  s->name, strerror(-r));
        sd_journal_seek_head(j);
        return 0;
    }
    set_position(js, cursor);
    if (!js->processed || !js->durable)
        return -1;
    r = sd_journal_next(j);
    if (r > 0) {
        if (sd_journal_test_cursor(j, cursor) > 0) {
            js->resumed++; /* processed already: reading goes on after it */
            return 0;
        }
        js->cursor_lost++;
        js->pending = 1;
        uint64_t usec = 0, was = cursor_ms(cursor);
        char t0[32] = "?", t1[32];
        sd_journal_get_realtime_usec(j, &usec);
        if (was)
            ward_alert_time(t0, was);
        ward_alert_time(t1, usec / 1000u);
        agent_log(s->a, "warning",
                  "source %s: the bookmarked entry (of %s) is no longer in the journal "
                  "(vacuumed or rotated away): entries between it and the first available one "
                  "(of %s) may have been missed",
                  s->name, t0, t1);
        return 0;
    }
    if (r < 0) {
        s->n.errors++;
        agent_log(s->a, "error", "source %s: reading the journal after the bookmark: %s", s->name,
                  strerror(-r));
        return 0; /* the next wake tries again from the cursor */
    }
    /* no entry at or after the cursor: the bookmarked one may be the last */
    r = sd_journal_previous(j);
    if (r > 0 && sd_journal_test_cursor(j, cursor) > 0) {
        js->resumed++;
        return 0;
    }
    js->cursor_lost++;
    if (r > 0) {
        char *c = NULL;
        if (sd_journal_get_cursor(j, &c) >= 0) {
            free(js->processed);
            js->processed = c;
            free(js->durable);
            js->durable = strdup(c);
        }
        agent_log(s->a, "warning",
                  "source %s: the bookmarked entry is no longer in the journal, and every entry "
                  "there is older (journal replaced, or the clock went back?): reading goes on "
                  "after the last one",
                  s->name);
    } else {
        agent_log(s->a, "warning",
                  "source %s: the bookmarked entry is no longer in the journal, which has no "
                  "entries now: entries are read from the first one that comes",
                  s->name);
        sd_journal_seek_head(j);
    }
    return 0;
}

/* No bookmark: the tail or the head (see the top of the file). */
static void first_position(jsrc *js) {
    src *s = js->s;
    int at = s->cfg->start_at;
    int tail = at == START_END || (at == START_DEFAULT && s->a->first_run);
    if (!tail) {
        sd_journal_seek_head(js->j);
        return;
    }
    sd_journal_seek_tail(js->j);
    if (sd_journal_previous(js->j) > 0) {
        char *c = NULL;
        if (sd_journal_get_cursor(js->j, &c) >= 0) {
            /* remembered, so that the next run knows where this one started */
            js->processed = c;
            js->durable = strdup(c);
        }
    } else {
        /* empty: whatever comes is new; the head says so without relying on how the
         * tail position behaves once entries arrive */
        sd_journal_seek_head(js->j);
    }
}

/* ---- ops ---- */

static int js_start(src *s, const bm_store *bm) {
    jsrc *js = s->impl;
    agent *a = s->a;
    js->max_line = s->cfg->max_line ? s->cfg->max_line : a->cfg.limits.max_line;
    tzset();
    if (open_journal(js) < 0 || watch(js) < 0 || check_access(js) < 0)
        return -1;
    const bm_entry *e = NULL;
    if (bm) {
        size_t it = 0;
        while ((e = bm_next(bm, s->name, &it)))
            if (e->kind && strcmp(e->kind, "journal") == 0 && e->cursor && *e->cursor)
                break;
    }
    if (e) {
        if (resume(js, e->cursor) < 0) {
            agent_log(a, "error", "source %s: out of memory", s->name);
            return -1;
        }
    } else {
        first_position(js);
    }
    ward_loop_timer_after(a->loop, &js->work, 0);
    arm_tick(js);
    return 0;
}

static long js_drain(src *s) {
    jsrc *js = s->impl;
    take_changes(js);
    long total = 0;
    int more;
    do {
        long r = read_entries(js, SLICE_ENTRIES, &more);
        if (r < 0)
            return total ? total : -1;
        total += r;
    } while (more);
    return total;
}

static void js_durable(src *s) {
    jsrc *js = s->impl;
    if (!js->processed || (js->durable && strcmp(js->durable, js->processed) == 0))
        return;
    char *d = strdup(js->processed);
    if (!d)
        return; /* the bookmark stays behind: entries are read again, not lost */
    free(js->durable);
    js->durable = d;
}

static void js_save(src *s, bm_store *bm) {
    jsrc *js = s->impl;
    if (!js->durable)
        return;
    bm_entry e = {.source = s->name, .kind = "journal", .cursor = js->durable};
    bm_put(bm, &e);
}

static void js_stats(src *s, ward_jw *w) {
    jsrc *js = s->impl;
    ward_jw_ku64(w, "entries", js->entries);
    ward_jw_ku64(w, "cursor_lost", js->cursor_lost);
    ward_jw_ku64(w, "resumed_from_bookmark", js->resumed);
}

static void js_free(src *s) {
    jsrc *js = s->impl;
    if (js) {
        if (js->fd >= 0)
            ward_loop_del(s->a->loop, js->fd);
        if (s->a->loop) {
            ward_loop_timer_stop(s->a->loop, &js->tick);
            ward_loop_timer_stop(s->a->loop, &js->work);
        }
        sd_journal_close(js->j); /* closes the descriptor too */
        free(js->processed);
        free(js->durable);
        ward_buf_fini(&js->vals);
        ward_buf_fini(&js->line);
        ward_buf_fini(&js->key);
        free(js);
    }
    free(s->name);
    free(s);
}

static const src_ops journal_ops = {"journal", js_start, js_drain, js_durable,
                                    js_save,   js_stats, js_free,  NULL};

src *src_journal_new(agent *a, const agent_source_cfg *cfg) {
    src *s = calloc(1, sizeof(*s));
    jsrc *js = calloc(1, sizeof(*js));
    if (!s || !js) {
        free(s);
        free(js);
        return NULL;
    }
    s->ops = &journal_ops;
    s->a = a;
    s->cfg = cfg;
    s->impl = js;
    js->s = s;
    js->fd = -1;
    ward_loop_timer_init(&js->tick, on_tick, js);
    ward_loop_timer_init(&js->work, on_work, js);
    ward_buf_init(&js->vals);
    ward_buf_init(&js->line);
    ward_buf_init(&js->key);
    return s;
}
