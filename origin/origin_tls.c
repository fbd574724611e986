/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_tls.c — client TLS contexts and connections towards origins.
 *
 * Model: one SSL_CTX per TLS pool per thread, built from the immutable pool
 * config; one SSL per connection, owned by its bufferevent.  Verification is
 * OpenSSL's: SSL_VERIFY_PEER against the trust store, plus SSL_set1_host (or
 * the IP address check) so a valid certificate for another name fails.
 * Origins often close without close_notify: a dirty shutdown is an EOF, as
 * for plain connections (bodies delimited by close are framed by HTTP).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "config/config_tls.h"
#include "origin/origin_pool.h"
#include "origin/origin_tls.h"

static void
origin_tls_errstr(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char buf[160] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	snprintf(err, errlen, "%s \"%s\": %s", what, file, buf[0] != '\0' ? buf : "failed");
}

SSL_CTX *
origin_tls_ctx_new(const struct config_pool *pc, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* OpenSSL 3 reports a close without close_notify as an error, which
	 * libevent passes on as BEV_EVENT_ERROR whatever its dirty-shutdown
	 * setting: a body delimited by the close would always look cut. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (pc->tls_verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (pc->tls_ca_file != NULL) {
			if (config_tls_load_ca(ctx, pc->tls_ca_file) != 0) {
				origin_tls_errstr(err, errlen, "ca_file", pc->tls_ca_file);
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			origin_tls_errstr(err, errlen, "system CA store", "default");
			goto fail;
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (pc->tls_client_cert != NULL) {
		if (config_tls_use_chain(ctx, pc->tls_client_cert) != 0) {
			origin_tls_errstr(err, errlen, "client_cert", pc->tls_client_cert);
			goto fail;
		}
		if (config_tls_use_key(ctx, pc->tls_client_key) != 0 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			origin_tls_errstr(err, errlen, "client_key", pc->tls_client_key);
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static bool
origin_tls_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

struct bufferevent *
origin_tls_bev_new(
    struct event_base *base, SSL_CTX *ctx, const struct config_pool *pc, const char *host)
{
	const char *name = pc->tls_sni != NULL ? pc->tls_sni : host;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return NULL;
	if (origin_tls_is_ip(name)) {
		if (pc->tls_verify)
			(void)X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	} else {
		(void)SSL_set_tlsext_host_name(ssl, name);
		if (pc->tls_verify)
			(void)SSL_set1_host(ssl, name);
	}
	bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

bool
origin_tls_is(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

const char *
origin_tls_error(struct bufferevent *bev, bool *verify, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e;
	long vr;

	*verify = false;
	if (ssl == NULL)
		return NULL;
	vr = SSL_get_verify_result(ssl);
	e = bufferevent_get_openssl_error(bev);
	while (bufferevent_get_openssl_error(bev) != 0)
		;
	if (vr != X509_V_OK) {
		*verify = true;
		snprintf(
		    buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
		return buf;
	}
	if (e == 0)
		return NULL;
	ERR_error_string_n(e, buf, len);
	return buf;
}
