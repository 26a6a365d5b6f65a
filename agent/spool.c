/* TEMPORARY (i4-ship): the smallest spool integration the shipper needs until i4-spool's
 * agent/spool.c lands (that one replaces this file whole): the spool in
 * STATE_DIR/spool, opened when a collector is configured, every alert appended, synced
 * by the group commit before the bookmarks move. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ward/spool.h"

int agent_spool_open(agent *a) {
    if (!a->cfg.collector.address)
        return 0;
    char dir[4200], err[512];
    snprintf(dir, sizeof(dir), "%s/spool", a->cfg.agent.state_dir);
    ward_spool_cfg c = {dir, (uint64_t)1 << 30, (uint64_t)64 << 20, (size_t)16 << 20};
    if (!(a->spool = ward_spool_open(&c, err, sizeof(err)))) {
        agent_log(a, "error", "spool: %s", err);
        return -1;
    }
    return 0;
}

int agent_spool_alert(agent *a, const uint8_t *json, size_t len) {
    uint64_t seq;
    char err[512];
    if (ward_spool_append(a->spool, json, len, &seq, err, sizeof(err)) < 0) {
        agent_log(a, "error", "spool: %s", err);
        return -1;
    }
    return 0;
}

int agent_spool_sync(agent *a) {
    char err[512];
    if (a->spool && ward_spool_sync(a->spool, err, sizeof(err)) < 0) {
        agent_log(a, "error", "spool: %s", err);
        return -1;
    }
    return 0;
}

void agent_spool_close(agent *a) {
    ward_spool_close(a->spool);
    a->spool = NULL;
}
