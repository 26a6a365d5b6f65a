/* The agent's confinement: the user it runs as and the sandbox (lib/sandbox.c) around
 * what its configuration names. */
#include <stdio.h>
#include <sys/stat.h>

#include "agent.h"
#include "ward/sandbox.h"

int agent_drop_user(agent *a, int allow_root) {
    char err[512];
    int r = ward_sandbox_drop_user(a->cfg.agent.user, allow_root, err, sizeof(err));
    if (r < 0) {
        agent_log(a, "error", "%s", err);
        return -1;
    }
    if (r > 0)
        agent_log(a, "info", "running as user %s", a->cfg.agent.user);
    return 0;
}

/* A rules path: a directory as it is, a file by its directory (replaced by rename). */
static void add_rules_path(ward_sandbox_paths *p, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        ward_sandbox_paths_add(p, path, 0);
    else
        ward_sandbox_paths_add_dir(p, path, 0);
}

int agent_confine(agent *a) {
    if (!a->cfg.agent.sandbox) {
        agent_log(a, "warning", "sandbox: off (agent.sandbox: false)");
        return 0;
    }
    const agent_cfg *c = &a->cfg;
    ward_sandbox_paths p;
    ward_sandbox_paths_init(&p);
    /* read: what a reload reads again, in directories since files are replaced by rename;
     * the journal; the keys and the CA */
    ward_sandbox_paths_add_dir(&p, a->cfg_path, 0);
    for (size_t i = 0; i < c->rules.npaths; i++)
        add_rules_path(&p, c->rules.paths[i]);
    for (size_t i = 0; i < c->rules.noverlays; i++)
        add_rules_path(&p, c->rules.overlays[i]);
    for (size_t i = 0; i < c->nsources; i++) {
        const agent_source_cfg *s = &c->sources[i];
        for (size_t j = 0; j < s->npaths; j++)
            ward_sandbox_paths_add_glob(&p, s->paths[j]);
        for (size_t j = 0; j < s->njournal_files; j++)
            ward_sandbox_paths_add_dir(&p, s->journal_files[j], 0);
        ward_sandbox_paths_add(&p, s->journal_dir, 0);
    }
    ward_sandbox_paths_add(&p, "/var/log/journal", 0);
    ward_sandbox_paths_add(&p, "/run/log/journal", 0);
    ward_sandbox_paths_add_dir(&p, c->collector.ca, 0);
    ward_sandbox_paths_add_dir(&p, c->collector.key, 0);
    ward_sandbox_paths_add_dir(&p, c->collector.feed_key, 0);
    ward_sandbox_paths_add_dir(&p, c->privacy.key, 0);
    /* write: the state, the spool, the stats, the alerts file (reopened after rotation) */
    ward_sandbox_paths_add(&p, c->agent.state_dir, 1);
    ward_sandbox_paths_add(&p, c->spool.dir, 1);
    ward_sandbox_paths_add_dir(&p, c->stats.file, 1);
    ward_sandbox_paths_add_dir(&p, c->outputs.file.path, 1);
    char info[256] = "", err[512];
    int rc = ward_sandbox_apply(WARD_SANDBOX_AGENT, &p, info, sizeof(info), err, sizeof(err));
    if (rc < 0)
        agent_log(a, "error", "%s", err);
    else
        agent_log(a, "info", "%s", info);
    ward_sandbox_paths_fini(&p);
    return rc;
}
