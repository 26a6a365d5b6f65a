/* The agent's durable spool: alerts wait here, on disk, until the collector has
 * acknowledged them. A directory of segment files named by their first sequence number
 * (00000000000000000001.seg); each record is
 *   u32 length | u32 CRC32C of (seq, payload) | u64 seq | payload
 * big-endian. spool.meta holds the epoch (fixed when the spool is made), the highest
 * acknowledged sequence number and, after a meta made again, the base (see
 * ward_spool_base), replaced atomically (write, fsync, rename, fsync dir).
 * Records are appended with write(2) and made durable by ward_spool_sync (group
 * commit); directory fsyncs follow segment creation and removal. */
#ifndef WARD_SPOOL_H
#define WARD_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ward_spool ward_spool;

/* Sequence numbers run from 1 to this (2^53 - 1: exact in JSON, and in the collectors'
 * signed 64-bit columns; 285 years at a million alerts a second). A segment file named
 * beyond it, or a meta file acknowledging beyond it, is not the spool's. */
#define WARD_SPOOL_SEQ_MAX ((((uint64_t)1) << 53) - 1)

typedef struct ward_spool_cfg {
    const char *dir;        /* created (0700) when missing */
    uint64_t max_bytes;     /* cap on the segment files' total size */
    uint64_t segment_bytes; /* a new segment starts after this many bytes */
    size_t max_record;      /* records longer are refused (and at recovery, torn) */
} ward_spool_cfg;

typedef struct ward_spool_stats {
    uint64_t records, bytes; /* held now (not yet acknowledged and removed) */
    uint64_t segments;
    uint64_t next_seq;               /* the sequence number the next append gets */
    uint64_t durable_seq;            /* highest synced */
    uint64_t acked_seq;              /* highest acknowledged */
    uint64_t appends, syncs, full;   /* full: appends refused at the cap */
    uint64_t torn_bytes, torn_files; /* cut off by recovery */
    uint64_t meta_rebuilt;           /* 1: spool.meta was missing and made again at open */
} ward_spool_stats;

/* Opens or makes the spool in cfg->dir and recovers it (one process at a time: the
 * directory's spool.lock is held with flock until ward_spool_close): each segment is read through;
 * from the first record whose length, CRC or sequence is wrong, the rest of that segment
 * is truncated (counted in torn_bytes), and later segments are kept only when their
 * records continue the sequence. A file named like a segment but with a sequence number
 * out of range (0, or over WARD_SPOOL_SEQ_MAX) is removed and counted (torn_files). A spool that
 * cannot be recovered (meta unreadable) is an error naming the file, never a crash loop: the caller
 * decides. Returns the spool (caller owns; ward_spool_close) or NULL with err set. */
ward_spool *ward_spool_open(const ward_spool_cfg *cfg, char *err, size_t errlen);

/* Closes s (syncing first). NULL: no-op. */
void ward_spool_close(ward_spool *s);

uint64_t ward_spool_epoch(const ward_spool *s);
/* What the spool's sequence numbers are ahead of its epoch's: the record with spool seq
 * n is the epoch's n - base, to the collector, for which every epoch starts at 1. 0 but
 * for a spool whose meta was made again over records that were kept (its new epoch then
 * starts at the first of them); kept in spool.meta ("base N"). */
uint64_t ward_spool_base(const ward_spool *s);
void ward_spool_stats_get(const ward_spool *s, ward_spool_stats *out);

/* 1 when a record of len bytes would not fit under the cap. */
int ward_spool_full(const ward_spool *s, size_t len);

/* Appends one record; sets *seq. Not durable until ward_spool_sync. Returns 0, or -1
 * with errno: ENOSPC at the cap (nothing written; counted in full), EMSGSIZE over
 * max_record, EOVERFLOW past WARD_SPOOL_SEQ_MAX, or the write's errno (err says what). */
int ward_spool_append(ward_spool *s, const uint8_t *p, size_t len, uint64_t *seq, char *err,
                      size_t errlen);

/* Makes every appended record durable (fdatasync of the current segment; the directory
 * too when a segment was made). A no-op when nothing is pending. Returns 0 or -1. */
int ward_spool_sync(ward_spool *s, char *err, size_t errlen);

/* Calls fn for durable records from seq `from` on, in order, until max_records or
 * max_bytes of payload are given or fn returns non-zero. p is valid only during the
 * call. Returns the number of records given, or -1 (read error, err set).
 * 0 for max_records or max_bytes: no limit. The first record is given even when it alone
 * is over max_bytes. A record for which fn returns non-zero is not counted as given (the
 * next read from its seq starts with it). fn must not call other spool functions. A
 * reader that goes on where its last read stopped costs no rescan of the segment. */
typedef int (*ward_spool_fn)(void *ctx, uint64_t seq, const uint8_t *p, size_t len);
long ward_spool_read(ward_spool *s, uint64_t from, size_t max_records, size_t max_bytes,
                     ward_spool_fn fn, void *ctx, char *err, size_t errlen);

/* Starts a new epoch (a new ward_spool_epoch) whose first record is the spool's seq
 * from: what is before it counts as acknowledged (and segments holding only that are
 * removed), and ward_spool_base becomes from - 1. For a collector that no longer has what
 * the spool released (its store restored from an older backup, another collector), or
 * records the spool no longer has: a gap the old epoch could never close. from must be
 * after the acknowledged records and at most durable_seq + 1 (what counts as
 * acknowledged must be durable, as for ward_spool_ack). Returns 0 or -1 (nothing
 * changed). */
int ward_spool_new_epoch(ward_spool *s, uint64_t from, char *err, size_t errlen);

/* Records up to seq are acknowledged: persisted in spool.meta, and segments whose
 * records all are removed. seq beyond durable_seq is an error. Returns 0 or -1. */
int ward_spool_ack(ward_spool *s, uint64_t seq, char *err, size_t errlen);

#endif
