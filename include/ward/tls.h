/* TLS 1.3 over non-blocking sockets (OpenSSL), for the agent's shipper and the
 * collector's listener, both driven by ward_loop. Verification is on unless an option
 * with "insecure" in its name turns it off. */
#ifndef WARD_TLS_H
#define WARD_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ward_tls_ctx ward_tls_ctx; /* an SSL_CTX: TLS 1.3 only */
typedef struct ward_tls ward_tls;         /* one connection */

/* A server context with the certificate chain and private key given (PEM files; the key
 * file is refused when readable by group or others). Returns it (caller owns;
 * ward_tls_ctx_free) or NULL with err naming the file. */
ward_tls_ctx *ward_tls_server_new(const char *cert_file, const char *key_file, char *err,
                                  size_t errlen);

/* A client context that verifies the server against ca_file (PEM); with
 * insecure_skip_verify set, nothing is verified (for tests; logged by the caller).
 * Returns it (caller owns) or NULL with err. */
ward_tls_ctx *ward_tls_client_new(const char *ca_file, int insecure_skip_verify, char *err,
                                  size_t errlen);

void ward_tls_ctx_free(ward_tls_ctx *c); /* NULL: no-op */

/* A connection over fd (non-blocking, connected or accepted; not owned: the caller
 * closes it after ward_tls_free). server_name (client side): the name the
 * certificate must carry and the SNI sent (a host name; an IPv4 or IPv6 address is
 * checked against the certificate's IP addresses and sent no SNI); NULL on the server
 * side. A verifying client without a server_name is refused. Returns it (caller owns)
 * or NULL. Writes go to the socket with write(2): programs ignore SIGPIPE. */
ward_tls *ward_tls_new(ward_tls_ctx *c, int fd, const char *server_name);

/* Advances the handshake. Returns 1 when done, 0 when it must wait (ward_tls_want says
 * for what), -1 on failure (ward_tls_error says why, with the verification result). */
int ward_tls_handshake(ward_tls *t);

/* Reads or writes. Return the bytes moved (> 0), 0 when the peer closed cleanly (read),
 * -2 when it must wait (ward_tls_want), -1 on an error. */
ssize_t ward_tls_read(ward_tls *t, void *buf, size_t len);
ssize_t ward_tls_write(ward_tls *t, const void *buf, size_t len);

/* EPOLLIN and/or EPOLLOUT: what the last call that returned 0 or -2 waits for. */
uint32_t ward_tls_want(const ward_tls *t);

/* The last error, NUL-terminated; never NULL. */
const char *ward_tls_error(const ward_tls *t);

void ward_tls_free(ward_tls *t); /* sends no close_notify when the fd failed; NULL: no-op */

/* For make demo and tests: makes dir/ca.pem, dir/ca.key and dir/server.pem,
 * dir/server.key (a certificate for name, e.g. "localhost", also valid for 127.0.0.1 and
 * ::1, signed by the CA; keys mode 0600) unless dir/ca.pem exists. Returns 0 or -1. */
int ward_tls_demo_ca(const char *dir, const char *name, char *err, size_t errlen);

#endif
