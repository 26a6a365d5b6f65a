/* ward-agent: command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "ward/crypto.h"
#include "ward/sandbox.h"
#include "ward/tls.h"

#define EXIT_USAGE 2

static const char usage[] =
    "usage: ward-agent [-c FILE] [--foreground | --once]\n"
    "       ward-agent --check [-c FILE]\n"
    "       ward-agent keygen [-c FILE] [--privacy]\n"
    "       ward-agent --help-config\n"
    "       ward-agent spool-dump [--from SEQ] DIR\n"
    "       ward-agent spool-ack DIR SEQ\n"
    "\n"
    "Follows log files, the systemd journal and syslog from network devices, matches every\n"
    "record against the detection rules and writes alerts as JSON lines; with a collector\n"
    "configured, also spools them and ships them, signed, to the regional collector, and\n"
    "alerts on the regional indicators of its feed. --once spools but does not ship.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE  configuration (default /etc/ward/agent.yml)\n"
    "      --check        load the configuration and the rules, print every error, exit\n"
    "      --foreground   do not detach; messages go to standard error (as under systemd)\n"
    "      --once         read every source to its current end, write the alerts and the\n"
    "                     bookmarks, exit (tests, back-fills)\n"
    "      --help-config  print every configuration key with its type, default and meaning\n"
    "      --insecure-run-as-root\n"
    "                     started as root, stay root instead of becoming agent.user (tests;\n"
    "                     the environment variable " WARD_SANDBOX_ROOT_ENV "=1 does the same)\n"
    "\n"
    "Started as root, the agent becomes agent.user (default ward) with its groups, and refuses\n"
    "to start when that user does not exist. Once its sources are open it confines itself\n"
    "(no new privileges, a seccomp filter, Landlock): see agent.sandbox.\n"
    "\n"
    "keygen makes the agent's Ed25519 key pair (collector.key, default STATE_DIR/agent.key,\n"
    "and agent.pub next to it) and prints its fingerprint and how to enrol it; with\n"
    "--privacy, the secret of the pseudonyms instead (privacy.key, default\n"
    "STATE_DIR/privacy.key). Existing files are never overwritten. Run as root, keygen\n"
    "becomes agent.user first, so that the files are the agent's.\n"
    "  -V, --version      print the version\n"
    "  -h, --help         this text\n"
    "\n"
    "Commands (the agent must not be running: the spool is locked):\n"
    "  spool-dump DIR     print the alerts waiting in the spool DIR for the collector, one\n"
    "                     JSON line each ({\"seq\":N,\"epoch\":E,\"alert\":{...}}); --from SEQ\n"
    "                     from SEQ on, acknowledged ones that are still kept included\n"
    "  spool-ack DIR SEQ  mark the alerts up to SEQ as delivered (they are removed)\n"
    "                     (run as root, both act as the owner of DIR)\n"
    "\n"
    "Signals: SIGHUP reloads the configuration and the rules (broken ones are reported and\n"
    "the running ones kept) and reopens the alerts file; SIGUSR1 writes the stats file;\n"
    "SIGTERM and SIGINT write what is pending and exit.\n"
    "\n"
    "Exit status: 0 success; 1 configuration or rule errors, or a failure while running;\n"
    "2 usage errors.\n";

/* The files the shipper will need: its key (mode included), the feed key, the CA. */
static int check_collector(const agent_cfg *c) {
    char err[512];
    int rc = 0;
    ward_key *k = ward_crypto_key_load_private(c->collector.key, err, sizeof(err));
    if (!k) {
        fprintf(stderr, "collector.key: %s (ward-agent keygen makes it)\n", err);
        rc = -1;
    }
    ward_crypto_key_free(k);
    if (c->collector.feed_key) {
        k = ward_crypto_key_load_public(c->collector.feed_key, err, sizeof(err));
        if (!k) {
            fprintf(stderr, "collector.feed_key: %s\n", err);
            rc = -1;
        }
        ward_crypto_key_free(k);
    }
    ward_tls_ctx *t =
        ward_tls_client_new(c->collector.ca, c->collector.insecure_skip_verify, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "collector.ca: %s\n", err);
        rc = -1;
    }
    ward_tls_ctx_free(t);
    if (c->privacy.npseudonymise) {
        uint8_t key[1024];
        size_t len;
        if (ward_crypto_secret_load(c->privacy.key, key, &len, err, sizeof(err)) < 0) {
            fprintf(stderr, "privacy.key: %s\n", err);
            rc = -1;
        }
        memset(key, 0, sizeof(key));
    }
    return rc;
}

static int check(const char *path) {
    agent_cfg cfg;
    int bad = agent_load_config(path, &cfg, stderr) < 0;
    size_t nerr = 0;
    ward_engine *e = bad ? NULL : agent_load_rules(&cfg, stderr, &nerr);
    if (!bad && cfg.collector.address && check_collector(&cfg) < 0)
        bad = 1;
    if (!bad && e) {
        printf("%s: configuration ok: %zu sources; %zu rules, %zu run on every record\n", path,
               cfg.nsources, ward_engine_rule_count(e), ward_engine_always_count(e));
    } else {
        bad = 1;
        fprintf(stderr, "%s: %s\n", path,
                nerr ? "the rules have errors" : "the configuration has errors");
    }
    ward_engine_free(e);
    ward_cfg_free(&agent_cfg_table, &cfg);
    return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* keygen as root: the keys are made as agent.user, so that the agent can read them once it
 * has become that user (a root-owned 0600 key would lock it out). */
static int keygen_user(const char *path, int allow_root) {
    if (allow_root || (geteuid() != 0 && getuid() != 0))
        return 0;
    agent_cfg c;
    int rc = agent_load_config(path, &c, stderr);
    char err[512];
    if (rc == 0 && ward_sandbox_drop_user(c.agent.user, 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "ward-agent: keygen: %s\n", err);
        rc = -1;
    }
    ward_cfg_free(&agent_cfg_table, &c);
    return rc;
}

/* Detaches from the terminal: fork, setsid, fork, stdio to /dev/null. */
static int daemonize(void) {
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    p = fork();
    if (p < 0)
        return -1;
    if (p > 0)
        _exit(0);
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return chdir("/");
}

int main(int argc, char **argv) {
    enum { OPT_CHECK = 256, OPT_FG, OPT_ONCE, OPT_HELPCFG, OPT_PRIVACY, OPT_ROOT };
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"check", no_argument, NULL, OPT_CHECK},
                                             {"foreground", no_argument, NULL, OPT_FG},
                                             {"once", no_argument, NULL, OPT_ONCE},
                                             {"help-config", no_argument, NULL, OPT_HELPCFG},
                                             {"privacy", no_argument, NULL, OPT_PRIVACY},
                                             {"insecure-run-as-root", no_argument, NULL, OPT_ROOT},
                                             {"version", no_argument, NULL, 'V'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    if (argc > 1 && (strcmp(argv[1], "spool-dump") == 0 || strcmp(argv[1], "spool-ack") == 0))
        return agent_spool_tool(argc - 1, argv + 1);
    const char *cfg = "/etc/ward/agent.yml";
    int do_check = 0, fg = 0, once = 0, privacy = 0, c;
    const char *env_root = getenv(WARD_SANDBOX_ROOT_ENV);
    int allow_root = env_root && strcmp(env_root, "1") == 0;
    while ((c = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg = optarg;
            break;
        case OPT_CHECK:
            do_check = 1;
            break;
        case OPT_FG:
            fg = 1;
            break;
        case OPT_ONCE:
            once = 1;
            break;
        case OPT_PRIVACY:
            privacy = 1;
            break;
        case OPT_ROOT:
            allow_root = 1;
            break;
        case OPT_HELPCFG:
            return ward_cfg_doc(&agent_cfg_table, stdout) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        case 'V':
            printf("ward-agent %s\n", AGENT_VERSION);
            return EXIT_SUCCESS;
        case 'h':
            fputs(usage, stdout);
            return EXIT_SUCCESS;
        default:
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc && strcmp(argv[optind], "keygen") == 0) {
        if (optind + 1 < argc) {
            fprintf(stderr, "ward-agent: keygen: unexpected argument '%s'\n", argv[optind + 1]);
            return EXIT_USAGE;
        }
        if (keygen_user(cfg, allow_root) < 0)
            return EXIT_FAILURE;
        return agent_keygen(cfg, privacy, stdout, stderr) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
    }
    if (privacy) {
        fputs("ward-agent: --privacy goes with keygen\n", stderr);
        return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "ward-agent: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (do_check)
        return check(cfg);
    /* Without TZ, glibc stats /etc/localtime on every localtime/mktime call (one per
     * threshold match): name it once. A change of zone needs a restart. */
    setenv("TZ", ":/etc/localtime", 0);
    tzset();
    if (geteuid() == 0 && allow_root)
        fprintf(stderr, "ward-agent: warning: running as root (--insecure-run-as-root); the "
                        "agent needs only to read logs (groups adm and systemd-journal) and to "
                        "write its state_dir\n");
    if (!fg && !once && daemonize() < 0) {
        fprintf(stderr, "ward-agent: cannot detach: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    agent a;
    int rc =
        agent_init(&a, cfg, (once ? AGENT_ONCE : 0) | (allow_root ? AGENT_ALLOW_ROOT : 0), stderr);
    if (rc == 0 && !once && ward_loop_run(a.loop) < 0) {
        agent_log(&a, "error", "event loop: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        /* --once reads everything there is now; SIGTERM only writes what is pending (a
         * backlog is read after the restart, from the bookmarks) */
        if (once)
            rc = agent_drain(&a);
        agent_stop_sources(&a);
        if (rc < 0 || agent_commit(&a) < 0 || (!once && agent_save_bookmarks(&a) < 0))
            rc = -1;
        agent_write_stats(&a);
    }
    agent_fini(&a);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
