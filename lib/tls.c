/* TLS 1.3 over non-blocking sockets, and a demo CA (see include/ward/tls.h). */
#include "ward/tls.h"

#include "ward/diag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct ward_tls_ctx {
    SSL_CTX *ctx;
    int server;
    int verify; /* client: the server's certificate and name are checked */
};

struct ward_tls {
    SSL *ssl;
    int client, verify;
    int failed;    /* a fatal error: no close_notify */
    int done;      /* handshake complete */
    uint32_t want; /* EPOLLIN / EPOLLOUT */
    char err[512];
};

/* The oldest queued OpenSSL error as text (or fallback), and the queue emptied. */
static const char *ossl_reason(char *buf, size_t len, const char *fallback) {
    unsigned long e = ERR_peek_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", fallback);
    ERR_clear_error();
    return buf;
}

/* ---- contexts ---- */

static SSL_CTX *ctx_base(const SSL_METHOD *m) {
    SSL_CTX *c = SSL_CTX_new(m);
    if (!c)
        return NULL;
    if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
        SSL_CTX_free(c);
        return NULL;
    }
    /* a non-blocking writer retries with whatever its buffer holds then */
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return c;
}

static ward_tls_ctx *ctx_wrap(SSL_CTX *c, int server, int verify) {
    ward_tls_ctx *t = calloc(1, sizeof(*t));
    if (!t) {
        SSL_CTX_free(c);
        return NULL;
    }
    t->ctx = c;
    t->server = server;
    t->verify = verify;
    return t;
}

ward_tls_ctx *ward_tls_server_new(const char *cert_file, const char *key_file, char *err,
                                  size_t errlen) {
    char why[256];
    struct stat st;
    SSL_CTX *c = NULL;
    if (stat(key_file, &st) != 0) {
        ward_errf(err, errlen, "%s: %s", key_file, strerror(errno));
        return NULL;
    }
    if (st.st_mode & 077) {
        ward_errf(err, errlen, "%s: mode %04o: private key readable by group or others", key_file,
                  (unsigned)(st.st_mode & 07777));
        return NULL;
    }
    c = ctx_base(TLS_server_method());
    if (!c) {
        ward_errf(err, errlen, "TLS server context: %s",
                  ossl_reason(why, sizeof(why), "cannot be made"));
        return NULL;
    }
    /* agents do not resume sessions: no tickets to send */
    SSL_CTX_set_num_tickets(c, 0);
    if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1) {
        ward_errf(err, errlen, "%s: cannot load the certificate chain: %s", cert_file,
                  ossl_reason(why, sizeof(why), "no PEM certificate"));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1) {
        ward_errf(err, errlen, "%s: cannot load the private key: %s", key_file,
                  ossl_reason(why, sizeof(why), "no PEM private key"));
        goto fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        ward_errf(err, errlen, "%s: the key does not match the certificate %s: %s", key_file,
                  cert_file, ossl_reason(why, sizeof(why), "mismatch"));
        goto fail;
    }
    ward_tls_ctx *t = ctx_wrap(c, 1, 0);
    if (!t)
        ward_errf(err, errlen, "out of memory");
    return t;
fail:
    SSL_CTX_free(c);
    return NULL;
}

ward_tls_ctx *ward_tls_client_new(const char *ca_file, int insecure_skip_verify, char *err,
                                  size_t errlen) {
    char why[256];
    SSL_CTX *c = ctx_base(TLS_client_method());
    if (!c) {
        ward_errf(err, errlen, "TLS client context: %s",
                  ossl_reason(why, sizeof(why), "cannot be made"));
        return NULL;
    }
    if (insecure_skip_verify) {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    } else {
        if (!ca_file || SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1) {
            ward_errf(err, errlen, "%s: cannot load the CA certificates: %s",
                      ca_file ? ca_file : "(no CA file)",
                      ossl_reason(why, sizeof(why), "no PEM certificate"));
            SSL_CTX_free(c);
            return NULL;
        }
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    }
    ward_tls_ctx *t = ctx_wrap(c, 0, !insecure_skip_verify);
    if (!t)
        ward_errf(err, errlen, "out of memory");
    return t;
}

void ward_tls_ctx_free(ward_tls_ctx *c) {
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

/* ---- connections ---- */

static int is_ip(const char *s) {
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

ward_tls *ward_tls_new(ward_tls_ctx *c, int fd, const char *server_name) {
    if (!c || fd < 0)
        return NULL;
    /* a client that verifies must know whom it expects */
    if (!c->server && c->verify && (!server_name || !*server_name))
        return NULL;
    ward_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ssl = SSL_new(c->ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1)
        goto fail;
    t->client = !c->server;
    t->verify = c->verify;
    if (c->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (server_name && *server_name) {
            if (is_ip(server_name)) {
                /* an address is checked against the IP SANs; SNI carries no addresses */
                if (c->verify &&
                    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name) != 1)
                    goto fail;
            } else {
                if (SSL_set_tlsext_host_name(t->ssl, server_name) != 1)
                    goto fail;
                if (c->verify) {
                    SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                    if (SSL_set1_host(t->ssl, server_name) != 1)
                        goto fail;
                }
            }
        }
    }
    snprintf(t->err, sizeof(t->err), "no error");
    return t;
fail:
    ERR_clear_error();
    ward_tls_free(t);
    return NULL;
}

/* Sets t->want and returns 1 for a call that must wait; otherwise records the error,
 * marks t failed and returns 0. */
static int wait_or_fail(ward_tls *t, int ret, const char *what) {
    char why[256];
    int saved = errno; /* set by the socket call that failed; 0 before each TLS call */
    int e = SSL_get_error(t->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->want = EPOLLIN;
        return 1;
    case SSL_ERROR_WANT_WRITE:
        t->want = EPOLLOUT;
        return 1;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error())
            snprintf(t->err, sizeof(t->err), "%s: %s", what, ossl_reason(why, sizeof(why), ""));
        else if (saved)
            snprintf(t->err, sizeof(t->err), "%s: %s", what, strerror(saved));
        else
            snprintf(t->err, sizeof(t->err), "%s: connection closed by the peer", what);
        break;
    case SSL_ERROR_SSL: {
        long v = t->client && t->verify ? SSL_get_verify_result(t->ssl) : X509_V_OK;
        ossl_reason(why, sizeof(why), "TLS error");
        if (v != X509_V_OK)
            snprintf(t->err, sizeof(t->err), "%s: certificate verify failed: %s (%s)", what,
                     X509_verify_cert_error_string(v), why);
        else
            snprintf(t->err, sizeof(t->err), "%s: %s", what, why);
        break;
    }
    default:
        snprintf(t->err, sizeof(t->err), "%s: %s (SSL error %d)", what,
                 ossl_reason(why, sizeof(why), "failed"), e);
        break;
    }
    ERR_clear_error();
    t->failed = 1;
    t->want = 0;
    return 0;
}

int ward_tls_handshake(ward_tls *t) {
    if (t->failed)
        return -1;
    if (t->done)
        return 1;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->done = 1;
        t->want = 0;
        return 1;
    }
    return wait_or_fail(t, r, "TLS handshake") ? 0 : -1;
}

/* One SSL_read_ex or SSL_write_ex, with the return convention of tls.h. */
static ssize_t io(ward_tls *t, void *rbuf, const void *wbuf, size_t len) {
    if (t->failed)
        return -1;
    if (len == 0)
        return 0;
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int r = rbuf ? SSL_read_ex(t->ssl, rbuf, len, &n) : SSL_write_ex(t->ssl, wbuf, len, &n);
    if (r == 1)
        return (ssize_t)n;
    if (rbuf && SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN) {
        t->want = 0;
        return 0; /* close_notify */
    }
    return wait_or_fail(t, r, rbuf ? "TLS read" : "TLS write") ? -2 : -1;
}

ssize_t ward_tls_read(ward_tls *t, void *buf, size_t len) {
    return io(t, buf, NULL, len);
}

ssize_t ward_tls_write(ward_tls *t, const void *buf, size_t len) {
    return io(t, NULL, buf, len);
}

uint32_t ward_tls_want(const ward_tls *t) {
    return t->want;
}

const char *ward_tls_error(const ward_tls *t) {
    return t->err;
}

void ward_tls_free(ward_tls *t) {
    if (!t)
        return;
    if (t->ssl) {
        /* one try at close_notify: the socket is non-blocking and about to be closed */
        if (t->done && !t->failed)
            SSL_shutdown(t->ssl);
        SSL_free(t->ssl);
    }
    ERR_clear_error();
    free(t);
}

/* ---- the demo CA ---- */

static EVP_PKEY *new_p256(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* A certificate for key, named cn, issued by issuer (NULL: self-signed) with issuer_key,
 * valid from now for ten years. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san) {
    X509 *x = X509_new();
    uint8_t serial[16];
    BIGNUM *bn = NULL;
    if (!x || X509_set_version(x, 2) != 1 || RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto fail;
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600 + 3 * 24 * 3600))
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"ward demo", -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1)
        goto fail;
    if (X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
        X509_set_pubkey(x, key) != 1)
        goto fail;
    X509 *iss = issuer ? issuer : x;
    if (!issuer) {
        if (add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
            add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
            add_ext(x, iss, NID_subject_key_identifier, "hash") != 0)
            goto fail;
    } else {
        if (add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
            add_ext(x, iss, NID_key_usage, "critical,digitalSignature") != 0 ||
            add_ext(x, iss, NID_ext_key_usage, "serverAuth") != 0 ||
            add_ext(x, iss, NID_subject_key_identifier, "hash") != 0 ||
            add_ext(x, iss, NID_authority_key_identifier, "keyid:always") != 0 ||
            add_ext(x, iss, NID_subject_alt_name, san) != 0)
            goto fail;
    }
    if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
        goto fail;
    BN_free(bn);
    return x;
fail:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

/* Writes what bio holds to path through path.tmp and a rename, with mode. */
static int write_pem(const char *path, mode_t mode, BIO *bio, char *err, size_t errlen) {
    char tmp[4096];
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        ward_errf(err, errlen, "%s: path too long", path);
        return -1;
    }
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        ward_errf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    ssize_t w = len > 0 ? write(fd, data, (size_t)len) : 0;
    if (w != len || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        ward_errf(err, errlen, "%s: %s", tmp, w < 0 || w == len ? strerror(errno) : "short write");
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        ward_errf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Writes a key (mode 0600) or a certificate (0644) to dir/file. */
static int save(const char *dir, const char *file, EVP_PKEY *key, X509 *cert, char *err,
                size_t errlen) {
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
        ward_errf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = bio && (key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_bio_X509(bio, cert));
    int rc = -1;
    if (!ok)
        ward_errf(err, errlen, "%s: cannot encode it", path);
    else
        rc = write_pem(path, key ? 0600 : 0644, bio, err, errlen);
    BIO_free(bio);
    return rc;
}

int ward_tls_demo_ca(const char *dir, const char *name, char *err, size_t errlen) {
    char path[4096], san[600];
    EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    X509 *ca = NULL, *srv = NULL;
    int rc = -1;
    if (snprintf(path, sizeof(path), "%s/ca.pem", dir) >= (int)sizeof(path)) {
        ward_errf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if (access(path, F_OK) == 0)
        return 0;
    /* the name goes into an OpenSSL configuration string: plain host names only */
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen > 253 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-:") != nlen ||
        (strchr(name, ':') && !is_ip(name))) {
        ward_errf(err, errlen, "demo CA: \"%s\" is not a host name", name ? name : "");
        return -1;
    }
    if (is_ip(name))
        snprintf(san, sizeof(san), "IP:%s,IP:127.0.0.1,IP:::1", name);
    else
        snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1,IP:::1", name);
    ca_key = new_p256();
    srv_key = new_p256();
    if (!ca_key || !srv_key) {
        ward_errf(err, errlen, "demo CA: key generation failed");
        goto fail;
    }
    ca = make_cert(ca_key, "ward demo CA", NULL, ca_key, NULL);
    srv = ca ? make_cert(srv_key, name, ca, ca_key, san) : NULL;
    if (!srv) {
        char why[256];
        ward_errf(err, errlen, "demo CA: cannot make the certificates: %s",
                  ossl_reason(why, sizeof(why), "unknown error"));
        goto fail;
    }
    /* ca.pem last: its presence says the rest is there */
    if (save(dir, "ca.key", ca_key, NULL, err, errlen) != 0 ||
        save(dir, "server.key", srv_key, NULL, err, errlen) != 0 ||
        save(dir, "server.pem", NULL, srv, err, errlen) != 0 ||
        save(dir, "ca.pem", NULL, ca, err, errlen) != 0)
        goto fail;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
fail:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    ERR_clear_error();
    return rc;
}
