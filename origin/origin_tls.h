/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_tls.h — TLS towards origin members (OpenSSL 3 through
 * libevent's bufferevent_openssl): a client SSL_CTX per pool with a tls
 * section, new connections with SNI and certificate verification (the
 * system CA store, or the pool's ca_file; the peer's name checked against
 * tls.sni or the member's host), an optional client certificate, and the
 * reason a handshake failed.
 *
 * A context is made once per pool and thread (origin_pool.c for the
 * workers, origin_health.c for the prober) and is only read afterwards.
 */
#ifndef OUTPOST_ORIGIN_ORIGIN_TLS_H
#define OUTPOST_ORIGIN_ORIGIN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct bufferevent;
struct config_pool;
struct event_base;

/* A client context for pc (pc->tls set), or NULL with a reason in err (bad
 * CA file, client certificate or key).  The caller frees it (SSL_CTX_free). */
SSL_CTX *origin_tls_ctx_new(const struct config_pool *pc, char *err, size_t errlen);

/* A new, unconnected TLS bufferevent (BEV_OPT_CLOSE_ON_FREE, the SSL owned by
 * it) towards member host of pc: SNI and the verified name are tls.sni or
 * host (an IP literal is verified as an address and sends no SNI).  Connect
 * it with bufferevent_socket_connect.  NULL on allocation failure. */
struct bufferevent *origin_tls_bev_new(
    struct event_base *base, SSL_CTX *ctx, const struct config_pool *pc, const char *host);

/* True when bev is a TLS bufferevent. */
bool origin_tls_is(struct bufferevent *bev);

/* After an error event on a TLS bufferevent: the reason, written to buf
 * ("certificate verify failed: unable to get local issuer certificate", or
 * OpenSSL's error text), and *verify set when certificate verification failed;
 * NULL when no TLS error is known. */
const char *origin_tls_error(struct bufferevent *bev, bool *verify, char *buf, size_t len);

#endif
