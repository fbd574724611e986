/* SPDX-License-Identifier: BSD-2-Clause */
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
 * Built by the main thread (at start-up and at each reload) and shared by
 * every worker (SSL_CTX is safe to share; SSL objects are per connection, on
 * the connection's worker).  Immutable after edge_tls_new() and refcounted:
 * each configuration generation of a worker holds one reference, so a reload
 * builds a new set for new handshakes while connections made on the old one
 * keep their SSL_CTX (OpenSSL's own reference from each SSL).  The callbacks
 * that read struct edge_tls (SNI, ALPN, tickets) run only during a handshake,
 * and a connection keeps its generation at least until its first request,
 * that is past its handshake.
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
/* Reference counting (atomic): any thread.  unref NULLs *tp, NULL-safe, and
 * frees on the last reference. */
struct edge_tls *edge_tls_ref(struct edge_tls *t);
void edge_tls_unref(struct edge_tls **tp);

/* A server-side SSL in accept state on fd (not owned), with listener l's
 * protocols and ciphers (l may be NULL: the defaults), or NULL.  Any thread. */
struct config_listen;
SSL *edge_tls_ssl_new(struct edge_tls *t, int fd, const struct config_listen *l);

#endif
