/* TLS 1.3 between two ends in this process over real loopback TCP, driven by poll: the
 * handshake, data both ways, verification failures, TLS 1.2 refused, key modes, the demo
 * CA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ward/tls.h"

/* ---- helpers ---- */

typedef struct env {
    char dir[64], other[80];
    char ca[128], cert[128], key[128], other_ca[128];
    ward_tls_ctx *server;
} env;

static int env_setup(void **state) {
    env *e = calloc(1, sizeof(*e));
    char err[256];
    assert_non_null(e);
    signal(SIGPIPE, SIG_IGN);
    snprintf(e->dir, sizeof(e->dir), "/tmp/ward-tls-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->other, sizeof(e->other), "%s/other", e->dir);
    assert_int_equal(mkdir(e->other, 0700), 0);
    assert_int_equal(ward_tls_demo_ca(e->dir, "localhost", err, sizeof(err)), 0);
    assert_int_equal(ward_tls_demo_ca(e->other, "localhost", err, sizeof(err)), 0);
    snprintf(e->ca, sizeof(e->ca), "%s/ca.pem", e->dir);
    snprintf(e->cert, sizeof(e->cert), "%s/server.pem", e->dir);
    snprintf(e->key, sizeof(e->key), "%s/server.key", e->dir);
    snprintf(e->other_ca, sizeof(e->other_ca), "%s/ca.pem", e->other);
    e->server = ward_tls_server_new(e->cert, e->key, err, sizeof(err));
    if (!e->server)
        fail_msg("server context: %s", err);
    *state = e;
    return 0;
}

static int env_teardown(void **state) {
    env *e = *state;
    char cmd[128];
    ward_tls_ctx_free(e->server);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
    return 0;
}

static void nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* A connected pair of non-blocking TCP sockets on 127.0.0.1. */
static void tcp_pair(int *client, int *server) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    int s = accept(l, NULL, NULL);
    assert_true(s >= 0);
    close(l);
    nonblock(c);
    nonblock(s);
    *client = c;
    *server = s;
}

static short events_of(uint32_t want) {
    return (short)((want & EPOLLIN ? POLLIN : 0) | (want & EPOLLOUT ? POLLOUT : 0));
}

/* Drives both handshakes until each has ended (done or failed) or one failed and the
 * other has had a few more turns. Sets *rc_c and *rc_s to the last results. */
static void drive(ward_tls *c, int cfd, ward_tls *s, int sfd, int *rc_c, int *rc_s) {
    *rc_c = 0;
    *rc_s = 0;
    int after_fail = 0;
    for (int round = 0; round < 1000; round++) {
        if (*rc_c == 0)
            *rc_c = ward_tls_handshake(c);
        if (*rc_s == 0)
            *rc_s = ward_tls_handshake(s);
        if (*rc_c != 0 && *rc_s != 0)
            return;
        if ((*rc_c < 0 || *rc_s < 0) && ++after_fail > 5)
            return;
        struct pollfd p[2] = {{.fd = cfd, .events = *rc_c == 0 ? events_of(ward_tls_want(c)) : 0},
                              {.fd = sfd, .events = *rc_s == 0 ? events_of(ward_tls_want(s)) : 0}};
        if (*rc_c == 0)
            assert_true(p[0].events != 0);
        if (*rc_s == 0)
            assert_true(p[1].events != 0);
        int n = poll(p, 2, 2000);
        assert_true(n >= 0);
        if (n == 0 && after_fail)
            return; /* the failed side sent what it had; the other waits for nothing */
        assert_true(n > 0);
    }
    fail_msg("the handshake did not end");
}

typedef struct conn {
    int cfd, sfd;
    ward_tls *c, *s;
    ward_tls_ctx *cctx;
    int rc_c, rc_s;
} conn;

/* Connects a client made from (ca_file, insecure) to the test server as server_name. */
static void connect_as(env *e, conn *k, const char *ca_file, int insecure,
                       const char *server_name) {
    char err[256];
    memset(k, 0, sizeof(*k));
    k->cctx = ward_tls_client_new(ca_file, insecure, err, sizeof(err));
    if (!k->cctx)
        fail_msg("client context: %s", err);
    tcp_pair(&k->cfd, &k->sfd);
    k->c = ward_tls_new(k->cctx, k->cfd, server_name);
    k->s = ward_tls_new(e->server, k->sfd, NULL);
    assert_non_null(k->c);
    assert_non_null(k->s);
    drive(k->c, k->cfd, k->s, k->sfd, &k->rc_c, &k->rc_s);
}

static void conn_close(conn *k) {
    ward_tls_free(k->c);
    ward_tls_free(k->s);
    ward_tls_ctx_free(k->cctx);
    close(k->cfd);
    close(k->sfd);
}

/* Moves len bytes from one end to the other through both non-blocking sockets. */
static void transfer(ward_tls *from, int ffd, ward_tls *to, int tfd, const uint8_t *data,
                     size_t len) {
    uint8_t *got = malloc(len);
    assert_non_null(got);
    size_t sent = 0, recvd = 0;
    int waited_write = 0;
    for (int round = 0; recvd < len; round++) {
        assert_true(round < 100000);
        if (sent < len) {
            ssize_t w = ward_tls_write(from, data + sent, len - sent);
            if (w == -2) {
                assert_int_equal(ward_tls_want(from), EPOLLOUT);
                waited_write = 1;
            } else {
                assert_true(w > 0);
                sent += (size_t)w;
            }
        }
        ssize_t r = ward_tls_read(to, got + recvd, len - recvd);
        if (r == -2) {
            assert_int_equal(ward_tls_want(to), EPOLLIN);
            struct pollfd p[2] = {{.fd = tfd, .events = POLLIN},
                                  {.fd = ffd, .events = sent < len ? POLLOUT : 0}};
            assert_true(poll(p, 2, 2000) > 0);
            continue;
        }
        assert_true(r > 0);
        recvd += (size_t)r;
    }
    assert_memory_equal(got, data, len);
    free(got);
    (void)waited_write;
}

/* ---- tests ---- */

static void test_tls_handshake_and_data_both_ways(void **state) {
    env *e = *state;
    conn k;
    connect_as(e, &k, e->ca, 0, "localhost");
    if (k.rc_c != 1)
        fail_msg("client: %s; server: %s", ward_tls_error(k.c), ward_tls_error(k.s));
    assert_int_equal(k.rc_s, 1);
    assert_int_equal(ward_tls_handshake(k.c), 1); /* done stays done */

    transfer(k.c, k.cfd, k.s, k.sfd, (const uint8_t *)"HELLO agent", 11);
    /* more than the socket buffers hold: the writer must wait for the reader */
    size_t big = 8u << 20;
    uint8_t *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 31 + (i >> 12));
    transfer(k.s, k.sfd, k.c, k.cfd, data, big);
    transfer(k.c, k.cfd, k.s, k.sfd, data, 100000);
    free(data);

    /* nothing to read: wait for input */
    uint8_t buf[16];
    assert_int_equal(ward_tls_read(k.s, buf, sizeof(buf)), -2);
    assert_int_equal(ward_tls_want(k.s), EPOLLIN);
    assert_int_equal(ward_tls_read(k.s, buf, 0), 0);
    assert_int_equal(ward_tls_write(k.s, buf, 0), 0);

    /* a clean close: close_notify is read as 0 */
    ward_tls_free(k.c);
    k.c = NULL;
    ssize_t r;
    struct pollfd p = {.fd = k.sfd, .events = POLLIN};
    while ((r = ward_tls_read(k.s, buf, sizeof(buf))) == -2)
        assert_true(poll(&p, 1, 2000) > 0);
    assert_int_equal(r, 0);
    conn_close(&k);
}

static void test_tls_first_handshake_step_waits_for_input(void **state) {
    env *e = *state;
    char err[256];
    int cfd, sfd;
    ward_tls_ctx *cc = ward_tls_client_new(e->ca, 0, err, sizeof(err));
    assert_non_null(cc);
    tcp_pair(&cfd, &sfd);
    ward_tls *c = ward_tls_new(cc, cfd, "localhost");
    ward_tls *s = ward_tls_new(e->server, sfd, NULL);
    assert_non_null(c);
    assert_non_null(s);
    assert_int_equal(ward_tls_handshake(s), 0); /* no ClientHello yet */
    assert_int_equal(ward_tls_want(s), EPOLLIN);
    assert_int_equal(ward_tls_handshake(c), 0); /* ClientHello sent, waits for the server */
    assert_int_equal(ward_tls_want(c), EPOLLIN);
    ward_tls_free(c);
    ward_tls_free(s);
    ward_tls_ctx_free(cc);
    close(cfd);
    close(sfd);
}

static void test_tls_other_ca_fails_verification(void **state) {
    env *e = *state;
    conn k;
    connect_as(e, &k, e->other_ca, 0, "localhost");
    assert_int_equal(k.rc_c, -1);
    const char *why = ward_tls_error(k.c);
    assert_non_null(strstr(why, "TLS handshake: certificate verify failed"));
    assert_non_null(strstr(why, "unable to get local issuer certificate"));
    assert_int_not_equal(k.rc_s, 1); /* the server saw the client's alert (or still waits) */
    /* a failed connection stays failed */
    uint8_t buf[4];
    assert_int_equal(ward_tls_handshake(k.c), -1);
    assert_int_equal(ward_tls_read(k.c, buf, sizeof(buf)), -1);
    assert_int_equal(ward_tls_write(k.c, buf, sizeof(buf)), -1);
    conn_close(&k);
}

static void test_tls_wrong_name_fails(void **state) {
    env *e = *state;
    static const char *bad[] = {"collector.example", "localhost.", "127.0.0.2", "::2",
                                "xlocalhost"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        conn k;
        connect_as(e, &k, e->ca, 0, bad[i]);
        if (k.rc_c != -1)
            fail_msg("%s: accepted", bad[i]);
        const char *why = ward_tls_error(k.c);
        if (!strstr(why, "certificate verify failed") ||
            (!strstr(why, "hostname mismatch") && !strstr(why, "IP address mismatch")))
            fail_msg("%s: %s", bad[i], why);
        conn_close(&k);
    }
    /* the names the certificate carries */
    static const char *good[] = {"localhost", "127.0.0.1", "::1", "LOCALHOST"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        conn k;
        connect_as(e, &k, e->ca, 0, good[i]);
        if (k.rc_c != 1)
            fail_msg("%s: %s", good[i], ward_tls_error(k.c));
        assert_int_equal(k.rc_s, 1);
        conn_close(&k);
    }
}

static void test_tls_insecure_skip_verify_connects(void **state) {
    env *e = *state;
    conn k;
    connect_as(e, &k, NULL, 1, "anything.example");
    if (k.rc_c != 1)
        fail_msg("client: %s", ward_tls_error(k.c));
    assert_int_equal(k.rc_s, 1);
    transfer(k.c, k.cfd, k.s, k.sfd, (const uint8_t *)"x", 1);
    conn_close(&k);
    connect_as(e, &k, e->other_ca, 1, NULL); /* no name needed either */
    assert_int_equal(k.rc_c, 1);
    conn_close(&k);
}

static void test_tls_client_without_name_or_ca_refused(void **state) {
    env *e = *state;
    char err[256] = "";
    ward_tls_ctx *cc = ward_tls_client_new(e->ca, 0, err, sizeof(err));
    assert_non_null(cc);
    assert_null(ward_tls_new(cc, 0, NULL));
    assert_null(ward_tls_new(cc, 0, ""));
    assert_null(ward_tls_new(cc, -1, "localhost"));
    ward_tls_ctx_free(cc);
    ward_tls_ctx_free(NULL);
    ward_tls_free(NULL);

    char missing[160];
    snprintf(missing, sizeof(missing), "%s/no-ca.pem", e->dir);
    assert_null(ward_tls_client_new(missing, 0, err, sizeof(err)));
    assert_non_null(strstr(err, missing));
    assert_null(ward_tls_client_new(NULL, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "no CA file"));
    /* a file that holds no certificate */
    assert_null(ward_tls_client_new(e->key, 0, err, sizeof(err)));
    assert_non_null(strstr(err, e->key));
}

static void test_tls_tls12_client_refused(void **state) {
    env *e = *state;
    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    SSL_CTX *old = SSL_CTX_new(TLS_client_method());
    assert_non_null(old);
    assert_int_equal(SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION), 1);
    SSL_CTX_set_verify(old, SSL_VERIFY_NONE, NULL);
    SSL *c = SSL_new(old);
    assert_non_null(c);
    SSL_set_fd(c, cfd);
    SSL_set_connect_state(c);
    ward_tls *s = ward_tls_new(e->server, sfd, NULL);
    assert_non_null(s);
    int rc_c = 0, rc_s = 0;
    for (int round = 0; round < 100 && (rc_c == 0 || rc_s == 0); round++) {
        if (rc_c == 0) {
            int r = SSL_do_handshake(c);
            if (r == 1)
                rc_c = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
                rc_c = -1;
        }
        if (rc_s == 0)
            rc_s = ward_tls_handshake(s);
        struct pollfd p[2] = {{.fd = cfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        poll(p, 2, rc_c && rc_s ? 0 : 200);
    }
    ERR_clear_error();
    assert_int_equal(rc_s, -1);
    assert_int_equal(rc_c, -1);
    assert_non_null(strstr(ward_tls_error(s), "unsupported protocol"));
    SSL_free(c);
    SSL_CTX_free(old);
    ward_tls_free(s);
    close(cfd);
    close(sfd);
}

static void test_tls_server_key_mode_refused(void **state) {
    env *e = *state;
    char err[256] = "", want[256];
    assert_int_equal(chmod(e->key, 0640), 0);
    assert_null(ward_tls_server_new(e->cert, e->key, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: mode 0640: private key readable by group or others", e->key);
    assert_string_equal(err, want);
    assert_int_equal(chmod(e->key, 0604), 0);
    assert_null(ward_tls_server_new(e->cert, e->key, err, sizeof(err)));
    assert_non_null(strstr(err, "mode 0604"));
    assert_int_equal(chmod(e->key, 0600), 0);

    /* a missing certificate, a key that is not the certificate's */
    char path[160];
    snprintf(path, sizeof(path), "%s/missing.pem", e->dir);
    assert_null(ward_tls_server_new(path, e->key, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    snprintf(path, sizeof(path), "%s/server.key", e->other);
    assert_null(ward_tls_server_new(e->cert, path, err, sizeof(err)));
    if (!strstr(err, path) || !strstr(err, "mismatch"))
        fail_msg("%s", err);
    assert_null(ward_tls_server_new(e->cert, e->cert, err, sizeof(err))); /* 0644: refused */
    assert_non_null(strstr(err, "mode 0644"));
}

static void test_tls_demo_ca_files(void **state) {
    env *e = *state;
    char err[256], path[160];
    struct stat st;
    static const struct {
        const char *file;
        mode_t mode;
    } files[] = {{"ca.pem", 0644}, {"ca.key", 0600}, {"server.pem", 0644}, {"server.key", 0600}};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", e->dir, files[i].file);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, files[i].mode);
    }
    /* a second call keeps what is there */
    FILE *f = fopen(e->ca, "r");
    assert_non_null(f);
    X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(ca);
    assert_int_equal(ward_tls_demo_ca(e->dir, "other.example", err, sizeof(err)), 0);
    f = fopen(e->ca, "r");
    X509 *ca2 = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_int_equal(X509_cmp(ca, ca2), 0);
    X509_free(ca2);

    f = fopen(e->cert, "r");
    assert_non_null(f);
    X509 *srv = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(srv);
    assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
    assert_int_equal(X509_check_host(srv, "other.example", 0, 0, NULL), 0);
    assert_int_equal(X509_check_issued(ca, srv), X509_V_OK);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_check_ca(srv), 0);
    /* valid now and for ten years */
    time_t now = time(NULL), in10 = now + 10L * 365 * 24 * 3600;
    assert_true(X509_cmp_time(X509_get0_notBefore(srv), &now) < 0);
    assert_true(X509_cmp_time(X509_get0_notAfter(srv), &in10) > 0);
    assert_true(X509_cmp_time(X509_get0_notAfter(ca), &in10) > 0);
    X509_free(srv);
    X509_free(ca);

    /* names that cannot be made into a certificate; a directory that is not there */
    assert_int_equal(ward_tls_demo_ca(e->other, "x", err, sizeof(err)), 0); /* exists: kept */
    snprintf(path, sizeof(path), "%s/fresh", e->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(ward_tls_demo_ca(path, "a,DNS:evil", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a host name"));
    assert_int_equal(ward_tls_demo_ca(path, "", err, sizeof(err)), -1);
    assert_int_equal(ward_tls_demo_ca(path, "a:b", err, sizeof(err)), -1);
    snprintf(path, sizeof(path), "%s/none/deeper", e->dir);
    assert_int_equal(ward_tls_demo_ca(path, "localhost", err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_handshake_and_data_both_ways),
        cmocka_unit_test(test_tls_first_handshake_step_waits_for_input),
        cmocka_unit_test(test_tls_other_ca_fails_verification),
        cmocka_unit_test(test_tls_wrong_name_fails),
        cmocka_unit_test(test_tls_insecure_skip_verify_connects),
        cmocka_unit_test(test_tls_client_without_name_or_ca_refused),
        cmocka_unit_test(test_tls_tls12_client_refused),
        cmocka_unit_test(test_tls_server_key_mode_refused),
        cmocka_unit_test(test_tls_demo_ca_files),
    };
    return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
