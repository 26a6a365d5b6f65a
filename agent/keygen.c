/* ward-agent keygen: the agent's identity (an Ed25519 key pair) and the secret of its
 * pseudonyms, made in the state directory. Nothing is ever overwritten. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward/crypto.h"

#define PRIVACY_KEY_LEN 32

/* path's ".key" suffix replaced by ".pub" (or ".pub" added) into out. */
static void pub_path(const char *priv, char *out, size_t n) {
    size_t l = strlen(priv);
    if (l > 4 && strcmp(priv + l - 4, ".key") == 0)
        snprintf(out, n, "%.*s.pub", (int)(l - 4), priv);
    else
        snprintf(out, n, "%s.pub", priv);
}

void agent_key_paths(const agent_cfg *c, char *priv, char *pub, size_t n) {
    if (c->collector.key)
        snprintf(priv, n, "%s", c->collector.key);
    else
        snprintf(priv, n, "%s/agent.key", c->agent.state_dir);
    pub_path(priv, pub, n);
}

static int make_secret(const char *path, FILE *out, FILE *err) {
    uint8_t k[PRIVACY_KEY_LEN];
    if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
        fprintf(err, "ward-agent: keygen: no random bytes: %s\n", strerror(errno));
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(err, "ward-agent: keygen: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (refusing to overwrite it)" : "");
        return -1;
    }
    int rc = write(fd, k, sizeof(k)) == (ssize_t)sizeof(k) && fsync(fd) == 0 ? 0 : -1;
    if (rc < 0)
        fprintf(err, "ward-agent: keygen: %s: %s\n", path, strerror(errno));
    close(fd);
    memset(k, 0, sizeof(k));
    if (rc < 0) {
        unlink(path);
        return -1;
    }
    fprintf(out,
            "privacy key: %s (%d random bytes, mode 0600)\n"
            "Name it in the configuration:\n"
            "  privacy:\n"
            "    key: %s\n",
            path, PRIVACY_KEY_LEN, path);
    return 0;
}

int agent_keygen(const char *cfg_path, int privacy, FILE *out, FILE *err) {
    agent_cfg cfg;
    int rc = -1;
    if (agent_load_config(cfg_path, &cfg, err) < 0) {
        fprintf(err, "ward-agent: keygen: %s has errors\n", cfg_path);
        goto fail;
    }
    const char *d = cfg.agent.state_dir;
    if (mkdir(d, 0750) < 0 && errno != EEXIST) {
        fprintf(err, "ward-agent: keygen: state_dir %s: cannot create: %s\n", d, strerror(errno));
        goto fail;
    }
    char priv[4096], pub[4096];
    if (privacy) {
        if (cfg.privacy.key)
            snprintf(priv, sizeof(priv), "%s", cfg.privacy.key);
        else
            snprintf(priv, sizeof(priv), "%s/privacy.key", d);
        rc = make_secret(priv, out, err);
        goto fail;
    }
    agent_key_paths(&cfg, priv, pub, sizeof(pub));
    char e[512];
    if (ward_crypto_keygen(priv, pub, e, sizeof(e)) < 0) {
        fprintf(err, "ward-agent: keygen: %s\n", e);
        goto fail;
    }
    ward_key *k = ward_crypto_key_load_public(pub, e, sizeof(e));
    if (!k) {
        fprintf(err, "ward-agent: keygen: %s\n", e);
        goto fail;
    }
    char fp[65];
    ward_crypto_key_fingerprint(k, fp);
    ward_crypto_key_free(k);
    fprintf(out,
            "private key: %s (mode 0600; it never leaves this host)\n"
            "public key:  %s\n"
            "fingerprint: %s\n"
            "Give the public key to the regional team, who enrol this agent with:\n"
            "  ward-collector enroll --org ORG --agent %s --pubkey %s\n",
            priv, pub, fp, cfg.agent.name, pub);
    rc = 0;
fail:
    ward_cfg_free(&agent_cfg_table, &cfg);
    return rc;
}
