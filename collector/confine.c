/* The collector's confinement: the user it runs as and the sandbox (lib/sandbox.c)
 * around its state, its store and its certificate. */
#include <stdio.h>

#include "collector.h"
#include "ward/sandbox.h"

int coll_drop_user(const coll_cfg *cfg, int allow_root, FILE *log) {
    char err[512];
    int r = ward_sandbox_drop_user(cfg->collector.user, allow_root, err, sizeof(err));
    if (r < 0) {
        fprintf(log, "ward-collector: error: %s\n", err);
        return -1;
    }
    return r;
}

int coll_confine(collector *c) {
    if (!c->cfg.collector.sandbox) {
        coll_log(c, "warning", "sandbox: off (collector.sandbox: false)");
        return 0;
    }
    const coll_cfg *g = &c->cfg;
    ward_sandbox_paths p;
    ward_sandbox_paths_init(&p);
    /* read: what a reload reads again (the configuration, the certificate), in
     * directories since files are replaced by rename */
    ward_sandbox_paths_add_dir(&p, c->cfg_path, 0);
    ward_sandbox_paths_add_dir(&p, g->tls.cert, 0);
    ward_sandbox_paths_add_dir(&p, g->tls.key, 0);
    /* write: the state (keys, the demo CA), SQLite's file with its -wal and -journal
     * next to it, the stats file */
    ward_sandbox_paths_add(&p, g->collector.state_dir, 1);
    if (g->store.type == STORE_SQLITE)
        ward_sandbox_paths_add_dir(&p, g->db_path, 1);
    ward_sandbox_paths_add_dir(&p, g->stats_path, 1);
    char info[256] = "", err[512];
    int rc = ward_sandbox_apply(WARD_SANDBOX_COLLECTOR, &p, info, sizeof(info), err, sizeof(err));
    if (rc < 0)
        coll_log(c, "error", "%s", err);
    else
        coll_log(c, "info", "%s", info);
    ward_sandbox_paths_fini(&p);
    return rc;
}
