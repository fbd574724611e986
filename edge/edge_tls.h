/*
 * edge/edge_tls.h — TLS termination: the server contexts built from the
 * configuration, certificate selection by SNI, ALPN and session tickets.
 *
 * Model: one SSL_CTX per group of certificates of a site that carry the same
 * names (so an RSA and an ECDSA certificate for the same names share one
 * context and OpenSSL picks by what the client supports).  The names come from
 * each certificate's subjectAltName DNS entries (the subject CN when there are
 * none).  Every connection starts on the default context (the first
 * certificate of the site with tls.default, else the first configured); the
 * servername callback switches it to the context whose names match the SNI
 * exactly, else by a "*.suffix" wildcard covering one label.  A client without
 * SNI, or with a name no certificate covers, gets the default.
 *
 * Built once by the main thread before the workers start and shared by every
 * worker (SSL_CTX is safe to share; SSL objects are per connection, on the
 * connection's worker).  Immutable after edge_tls_new().
 */
#ifndef OUTPOST_EDGE_EDGE_TLS_H
#define OUTPOST_EDGE_EDGE_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct config;
struct edge_tls;

/* NULL (reasons logged, with the key's position) when a file cannot be
 * loaded.  Main thread. */
struct edge_tls *edge_tls_new(const struct config *cfg);
void edge_tls_free(struct edge_tls **tp);

/* A server-side SSL in accept state on fd (not owned), or NULL.  Any thread. */
SSL *edge_tls_ssl_new(struct edge_tls *t, int fd);

#endif
