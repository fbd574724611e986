/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_tls.c — see edge_tls.h for the model.
 *
 * Defaults: TLS 1.2 and 1.3 only; for 1.2 ECDHE with AEAD ciphers in server
 * order (1.3 suites are all AEAD and keep OpenSSL's order); groups X25519,
 * P-256, P-384; no renegotiation, no compression.
 *
 * Resumption: tickets for 1.3 and 1.2 are sealed with keys from
 * tls.ticket_keys (AES-256-CBC + HMAC-SHA256, the RFC 5077 layout): the first
 * key of the file seals, every key opens, and a ticket opened with an older key
 * is renewed, and so is every TLS 1.3 ticket a client resumes with (a 1.3
 * client uses a ticket once).  Every node given the same file resumes the
 * others' sessions.
 * A TLS 1.3 handshake sends one ticket, not OpenSSL's default two (a client
 * uses one per connection; the second cost ~6 % of a full handshake).
 * Without the file one random key per process is used.  The in-process
 * session cache (session IDs, TLS 1.2 clients without tickets) lives in the
 * default context, which stays the session context of every connection.
 *
 * OCSP stapling: each certificate entry with an ocsp file has its DER
 * response read here (config/ checked it is for that certificate and
 * current); a client sending status_request gets the response of the
 * certificate OpenSSL chose for it (RSA or ECDSA).  A reload reads the files
 * again.  Responses are not fetched from the CA's responder.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config/config.h"
#include "config/config_file.h"
#include "config/config_tls.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "edge/edge_tls.h"

#define TLS_CIPHERS_12                                                                             \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS   "X25519:P-256:P-384"
#define TLS_NAME_MAX 256

/* ALPN protocols we speak, in preference order (wire format).  h2 goes first
 * here once edge/ speaks it; the connection reads the result with
 * SSL_get0_alpn_selected. */
static const unsigned char tls_alpn[] = "\x08http/1.1";
/* h2 first: preferred (RFC 7301 §3.2 lets the server choose) */
static const unsigned char tls_alpn_h2[] = "\x02h2\x08http/1.1";

struct tls_ticket_key {
	unsigned char name[16];
	unsigned char hmac[32];
	unsigned char aes[32];
};

struct tls_ctx {
	SSL_CTX *ctx;
	const struct config_site *site;
	char **names; /* lower-case; "*.x.com" for wildcards */
	size_t n_names;
};

struct tls_staple {
	X509 *x; /* the leaf as held by its SSL_CTX (compared by pointer) */
	unsigned char *der;
	size_t len;
};

struct tls_name {
	const char *name; /* into a tls_ctx's names */
	SSL_CTX *ctx;
};

struct edge_tls {
	_Atomic int refcnt;
	struct tls_ctx *ctxs;
	size_t n_ctxs;
	SSL_CTX *def; /* every connection starts here */
	struct tls_name *exact;
	size_t n_exact;
	struct tls_name *wild;
	size_t n_wild;
	struct tls_ticket_key *keys; /* keys[0] seals */
	size_t n_keys;
	struct tls_staple *staples; /* one per certificate with an ocsp file */
	size_t n_staples;
	EVP_CIPHER *ticket_cipher; /* AES-256-CBC, fetched once: a legacy EVP_aes_256_cbc()
	                              would be fetched again at every ticket */
};

/* The first queued OpenSSL error, for log lines. */
static const char *
tls_err(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* ---- callbacks (worker threads) ---- */

static SSL_CTX *
tls_lookup(const struct edge_tls *t, const char *name)
{
	char lc[TLS_NAME_MAX];
	size_t n = strlen(name);
	const char *dot;

	if (n == 0 || n >= sizeof lc)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		lc[i] = (char)str_lower((unsigned char)name[i]);
	if (lc[n - 1] == '.')
		lc[--n] = '\0';
	for (size_t i = 0; i < t->n_exact; i++)
		if (strcmp(t->exact[i].name, lc) == 0)
			return t->exact[i].ctx;
	/* "*.x.com" covers exactly one label: "a.x.com", not "x.com" or "a.b.x.com" */
	if ((dot = strchr(lc, '.')) == NULL || dot == lc)
		return NULL;
	for (size_t i = 0; i < t->n_wild; i++)
		if (strcmp(t->wild[i].name + 1, dot) == 0)
			return t->wild[i].ctx;
	return NULL;
}

static int
tls_on_servername(SSL *ssl, int *al, void *arg)
{
	const struct edge_tls *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx;

	(void)al;
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	ctx = tls_lookup(t, name);
	if (ctx != NULL && ctx != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, ctx);
	/* An unknown name keeps the default certificate; Host decides the site. */
	return SSL_TLSEXT_ERR_OK;
}

static int
tls_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned int inlen, void *arg)
{
	const struct config_listen *l = SSL_get_app_data(ssl);
	bool h2 = l != NULL && l->http2 == CONFIG_HTTP2_ALPN;
	unsigned char *sel;

	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, h2 ? tls_alpn_h2 : tls_alpn,
	        h2 ? sizeof tls_alpn_h2 - 1 : sizeof tls_alpn - 1, in,
	        inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* no common protocol: go on without ALPN */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int
tls_on_status(SSL *ssl, void *arg)
{
	const struct edge_tls *t = arg;
	X509 *x = SSL_get_certificate(ssl);
	unsigned char *p;

	for (size_t i = 0; i < t->n_staples; i++) {
		if (t->staples[i].x != x)
			continue;
		/* OpenSSL takes ownership of the copy */
		if ((p = OPENSSL_malloc(t->staples[i].len)) == NULL)
			return SSL_TLSEXT_ERR_NOACK;
		memcpy(p, t->staples[i].der, t->staples[i].len);
		SSL_set_tlsext_status_ocsp_resp(ssl, p, (long)t->staples[i].len);
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static int
tls_on_ticket_key(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	static char digest[] = "SHA256";
	const struct edge_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const struct tls_ticket_key *k = NULL;
	OSSL_PARAM params[3];
	size_t i;

	if (enc) {
		k = &t->keys[0];
		if (RAND_bytes(iv, 16) != 1)
			return -1;
		memcpy(key_name, k->name, 16);
		if (EVP_EncryptInit_ex(cctx, t->ticket_cipher, NULL, k->aes, iv) != 1)
			return -1;
		i = 0;
	} else {
		for (i = 0; i < t->n_keys; i++)
			if (memcmp(key_name, t->keys[i].name, 16) == 0) {
				k = &t->keys[i];
				break;
			}
		if (k == NULL)
			return 0; /* unknown key: full handshake */
		if (EVP_DecryptInit_ex(cctx, t->ticket_cipher, NULL, k->aes, iv) != 1)
			return -1;
	}
	params[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_MAC_PARAM_KEY, (void *)(uintptr_t)k->hmac, sizeof k->hmac);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	/* 2: issue a new ticket.  For a ticket opened with an older key, and for
	 * every TLS 1.3 resumption: its clients use a ticket once (RFC 8446
	 * §C.4; OpenSSL's client does), and OpenSSL sends a resumed 1.3
	 * session no ticket unless told, so the next connection of that
	 * client would be a full handshake. */
	return i == 0 && (enc || SSL_version(ssl) < TLS1_3_VERSION) ? 1 : 2;
}

/* ---- building (main thread) ---- */

static int
tls_load_ticket_keys(struct edge_tls *t, const struct config *cfg)
{
	FILE *f;
	long n;

	if (cfg->tls_ticket_keys == NULL) {
		t->keys = xcalloc(1, sizeof t->keys[0]);
		t->n_keys = 1;
		return RAND_bytes((unsigned char *)t->keys, sizeof t->keys[0]) == 1 ? 0 : -1;
	}
	if ((f = config_file_fopen(cfg->tls_ticket_keys)) == NULL) {
		log_err("tls", "tls.ticket_keys \"%s\": cannot open", cfg->tls_ticket_keys);
		return -1;
	}
	_Static_assert(sizeof(struct tls_ticket_key) == CONFIG_TLS_TICKET_KEY_LEN, "key layout");
	t->keys = xcalloc(CONFIG_TLS_TICKET_KEYS_MAX, sizeof t->keys[0]);
	n = (long)fread(t->keys, sizeof t->keys[0], CONFIG_TLS_TICKET_KEYS_MAX, f);
	fclose(f);
	if (n <= 0) {
		log_err("tls", "tls.ticket_keys \"%s\": no key", cfg->tls_ticket_keys);
		return -1;
	}
	t->n_keys = (size_t)n;
	return 0;
}

/* The certificate's DNS names (SAN, else the subject CN), lower-cased. */
static void
tls_cert_names(X509 *x, char ***names, size_t *n_names)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char buf[TLS_NAME_MAX];

	*names = NULL;
	*n_names = 0;
	if (gens != NULL) {
		int cnt = sk_GENERAL_NAME_num(gens);

		*names = xcalloc((size_t)cnt + 1, sizeof **names);
		for (int i = 0; i < cnt; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
			const unsigned char *d;
			int len;

			if (g->type != GEN_DNS)
				continue;
			d = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			if (len <= 0 || (size_t)len >= sizeof buf || memchr(d, '\0', (size_t)len))
				continue;
			for (int j = 0; j < len; j++)
				buf[j] = (char)str_lower(d[j]);
			buf[len] = '\0';
			(*names)[(*n_names)++] = xstrdup(buf);
		}
		GENERAL_NAMES_free(gens);
	}
	if (*n_names == 0 && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
	                         buf, (int)sizeof buf) > 0) {
		free(*names);
		*names = xcalloc(1, sizeof **names);
		for (char *p = buf; *p != '\0'; p++)
			*p = (char)str_lower((unsigned char)*p);
		(*names)[(*n_names)++] = xstrdup(buf);
	}
}

static bool
tls_same_names(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		bool found = false;

		for (size_t j = 0; j < nb && !found; j++)
			found = strcmp(a[i], b[j]) == 0;
		if (!found)
			return false;
	}
	return true;
}

static void
tls_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static SSL_CTX *
tls_ctx_new(struct edge_tls *t, const struct config *cfg)
{
	static const unsigned char sid_ctx[] = "outpost";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_app_data(ctx, t);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* IGNORE_UNEXPECTED_EOF: a client closing without close_notify is an
	 * ordinary EOF; HTTP framing, not TLS, tells a truncated request. */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_on_servername);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	SSL_CTX_set_alpn_select_cb(ctx, tls_on_alpn, t);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_on_ticket_key);
	SSL_CTX_set_tlsext_status_cb(ctx, tls_on_status);
	SSL_CTX_set_tlsext_status_arg(ctx, t);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
	if (cfg->tls_session_cache > 0) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(ctx, cfg->tls_session_cache);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
}

/* Reads cc's OCSP response for the certificate just loaded into ctx. */
static int
tls_add_staple(struct edge_tls *t, SSL_CTX *ctx, const struct config_cert *cc)
{
	struct tls_staple *st = &t->staples[t->n_staples];
	unsigned char buf[4096];
	size_t n, cap = 0;
	FILE *f = config_file_fopen(cc->ocsp);

	if (f == NULL) {
		log_err("tls", "%s: cannot open \"%s\"", cc->where, cc->ocsp);
		return -1;
	}
	st->len = 0;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		if (st->len + n > cap) {
			cap = (st->len + n) * 2;
			st->der = xrealloc(st->der, cap);
		}
		memcpy(st->der + st->len, buf, n);
		st->len += n;
	}
	fclose(f);
	if (st->len == 0) {
		log_err("tls", "%s: \"%s\" is empty", cc->where, cc->ocsp);
		free(st->der);
		st->der = NULL;
		return -1;
	}
	st->x = SSL_CTX_get0_certificate(ctx);
	t->n_staples++;
	return 0;
}

/* Adds one certificate entry: to the site's context with the same names, or
 * to a new context. */
static int
tls_add_cert(struct edge_tls *t, const struct config *cfg, const struct config_site *site,
    const struct config_cert *cc)
{
	struct tls_ctx *tc = NULL;
	char **names;
	size_t n_names;
	char eb[256];
	X509 *x;
	FILE *f;

	f = config_file_fopen(cc->cert);
	x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	if (x == NULL) {
		log_err("tls", "%s: cannot read \"%s\": %s", cc->where, cc->cert,
		    tls_err(eb, sizeof eb));
		return -1;
	}
	tls_cert_names(x, &names, &n_names);
	X509_free(x);
	if (n_names == 0) {
		log_err("tls", "%s: \"%s\" names no host (no DNS subjectAltName or CN)", cc->where,
		    cc->cert);
		tls_free_names(names, n_names);
		return -1;
	}
	for (size_t i = 0; i < t->n_ctxs; i++)
		if (t->ctxs[i].site == site &&
		    tls_same_names(t->ctxs[i].names, t->ctxs[i].n_names, names, n_names)) {
			tc = &t->ctxs[i];
			break;
		}
	if (tc == NULL) {
		tc = &t->ctxs[t->n_ctxs];
		tc->ctx = tls_ctx_new(t, cfg);
		if (tc->ctx == NULL) {
			log_err("tls", "cannot create a TLS context: %s", tls_err(eb, sizeof eb));
			tls_free_names(names, n_names);
			return -1;
		}
		tc->site = site;
		tc->names = names;
		tc->n_names = n_names;
		t->n_ctxs++;
	} else {
		tls_free_names(names, n_names);
	}
	/* The chain file sets the certificate and chain of its key type's slot. */
	if (config_tls_use_chain(tc->ctx, cc->cert) != 0 ||
	    config_tls_use_key(tc->ctx, cc->key) != 0 || SSL_CTX_check_private_key(tc->ctx) != 1) {
		log_err("tls", "%s: cannot load \"%s\" / \"%s\": %s", cc->where, cc->cert, cc->key,
		    tls_err(eb, sizeof eb));
		return -1;
	}
	return cc->ocsp != NULL ? tls_add_staple(t, tc->ctx, cc) : 0;
}

struct edge_tls *
edge_tls_new(const struct config *cfg)
{
	struct edge_tls *t = xcalloc(1, sizeof *t);
	const struct tls_ctx *def = NULL;
	size_t total = 0, ne = 0, nw = 0;

	atomic_init(&t->refcnt, 1);
	if ((t->ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
		log_err("tls", "cannot fetch AES-256-CBC for session tickets");
		goto fail;
	}

	for (size_t s = 0; s < cfg->n_sites; s++)
		total += cfg->sites[s].n_certs;
	t->ctxs = xcalloc(total ? total : 1, sizeof t->ctxs[0]);
	t->staples = xcalloc(total ? total : 1, sizeof t->staples[0]);
	if (tls_load_ticket_keys(t, cfg) != 0)
		goto fail;
	for (size_t s = 0; s < cfg->n_sites; s++)
		for (size_t i = 0; i < cfg->sites[s].n_certs; i++)
			if (tls_add_cert(t, cfg, &cfg->sites[s], &cfg->sites[s].certs[i]) != 0)
				goto fail;
	if (t->n_ctxs == 0) {
		log_err("tls", "no certificate configured (sites[].tls.certificates)");
		goto fail;
	}
	for (size_t i = 0; i < t->n_ctxs && def == NULL; i++)
		if (t->ctxs[i].site->tls_default)
			def = &t->ctxs[i];
	t->def = def != NULL ? def->ctx : t->ctxs[0].ctx;
	for (size_t i = 0; i < t->n_ctxs; i++)
		for (size_t j = 0; j < t->ctxs[i].n_names; j++)
			if (t->ctxs[i].names[j][0] == '*')
				nw++;
			else
				ne++;
	t->exact = xcalloc(ne + 1, sizeof t->exact[0]);
	t->wild = xcalloc(nw + 1, sizeof t->wild[0]);
	for (size_t i = 0; i < t->n_ctxs; i++)
		for (size_t j = 0; j < t->ctxs[i].n_names; j++) {
			const char *n = t->ctxs[i].names[j];

			if (n[0] == '*' && n[1] == '.')
				t->wild[t->n_wild++] = (struct tls_name){n, t->ctxs[i].ctx};
			else if (n[0] != '*')
				t->exact[t->n_exact++] = (struct tls_name){n, t->ctxs[i].ctx};
		}
	log_info("tls", "%zu TLS contexts, %zu names, %zu wildcards, %zu ticket keys%s, %zu OCSP",
	    t->n_ctxs, t->n_exact, t->n_wild, t->n_keys,
	    cfg->tls_ticket_keys == NULL ? " (random, this process only)" : "", t->n_staples);
	return t;
fail:
	edge_tls_unref(&t);
	return NULL;
}

struct edge_tls *
edge_tls_ref(struct edge_tls *t)
{
	atomic_fetch_add_explicit(&t->refcnt, 1, memory_order_relaxed);
	return t;
}

void
edge_tls_unref(struct edge_tls **tp)
{
	struct edge_tls *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	/* acq_rel rather than release + acquire fence: ThreadSanitizer does not
	 * model fences and would report the free as a race */
	if (atomic_fetch_sub_explicit(&t->refcnt, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < t->n_ctxs; i++) {
		SSL_CTX_free(t->ctxs[i].ctx);
		tls_free_names(t->ctxs[i].names, t->ctxs[i].n_names);
	}
	free(t->ctxs);
	for (size_t i = 0; i < t->n_staples; i++)
		free(t->staples[i].der);
	free(t->staples);
	EVP_CIPHER_free(t->ticket_cipher);
	free(t->exact);
	free(t->wild);
	if (t->keys != NULL)
		OPENSSL_cleanse(t->keys, t->n_keys * sizeof t->keys[0]);
	free(t->keys);
	free(t);
}

/* Listener settings go on the SSL, not the context: the servername callback
 * may switch the context, and SSL_set_SSL_CTX keeps the SSL's versions and
 * cipher lists (the version is chosen before that callback anyway).  Parsing
 * a cipher list costs a little per connection, only where one is set. */
static int
tls_apply_listen(SSL *ssl, const struct config_listen *l)
{
	if (l->tls_protocols != 0 &&
	    (SSL_set_min_proto_version(ssl,
	         (l->tls_protocols & CONFIG_TLS_V1_2) ? TLS1_2_VERSION : TLS1_3_VERSION) != 1 ||
	        SSL_set_max_proto_version(ssl,
	            (l->tls_protocols & CONFIG_TLS_V1_3) ? TLS1_3_VERSION : TLS1_2_VERSION) != 1))
		return -1;
	if (l->tls_ciphers != NULL && SSL_set_cipher_list(ssl, l->tls_ciphers) != 1)
		return -1;
	if (l->tls_ciphersuites != NULL && SSL_set_ciphersuites(ssl, l->tls_ciphersuites) != 1)
		return -1;
	return 0;
}

SSL *
edge_tls_ssl_new(struct edge_tls *t, int fd, const struct config_listen *l)
{
	SSL *ssl = SSL_new(t->def);

	if (ssl == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1 || (l != NULL && tls_apply_listen(ssl, l) != 0)) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	/* the listener, for ALPN (tls_on_alpn) */
	SSL_set_app_data(ssl, (void *)(uintptr_t)l);
	SSL_set_accept_state(ssl);
	return ssl;
}
