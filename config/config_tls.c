/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config_tls.c — see config_tls.h.  Uses OpenSSL only to read and
 * compare the files; nothing it loads outlives the call.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config/config_file.h"
#include "config/config_tls.h"

/* Never prompt for a pass phrase: encrypted keys are not supported. */
static int
ctls_no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* A BIO reading path (through config_file_open), or NULL with errno set. */
static BIO *
ctls_bio(const char *path)
{
	FILE *f = config_file_fopen(path);
	BIO *b;

	if (f == NULL)
		return NULL;
	if ((b = BIO_new_fp(f, BIO_CLOSE)) == NULL) {
		fclose(f);
		errno = ENOMEM;
	}
	return b;
}

/* Adds the certificates of the PEM file path (read through config_file_open)
 * to store.  0, or -1 with the reason on OpenSSL's error queue (also when the
 * file holds no certificate). */
static int
ctls_store_add_pem(X509_STORE *store, const char *path)
{
	BIO *b = ctls_bio(path);
	STACK_OF(X509_INFO) * infos;
	int n = 0, rc = 0;

	if (b == NULL) {
		ERR_raise_data(ERR_LIB_SYS, errno, "opening \"%s\"", path);
		return -1;
	}
	infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
	BIO_free(b);
	if (infos == NULL)
		return -1;
	for (int i = 0; i < sk_X509_INFO_num(infos) && rc == 0; i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509 == NULL)
			continue;
		if (X509_STORE_add_cert(store, xi->x509) != 1)
			rc = -1;
		n++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (rc == 0 && n == 0) {
		ERR_raise_data(ERR_LIB_PEM, PEM_R_NO_START_LINE, "no certificate in \"%s\"", path);
		rc = -1;
	}
	return rc;
}

static void
ctls_time(const ASN1_TIME *t, char *out, size_t outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (ASN1_TIME_print(b, t) == 1)
		n = BIO_read(b, out, (int)outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

int
config_tls_check_pair(
    const char *cert, const char *key, bool *key_exposed, char *err, size_t errlen)
{
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	struct stat st;
	char when[64];
	FILE *f;
	int rc = -1;

	*key_exposed = false;
	if ((f = config_file_fopen(cert)) == NULL) {
		snprintf(err, errlen, "cannot open \"%s\": %s", cert, strerror(errno));
		return -1;
	}
	x = PEM_read_X509(f, NULL, ctls_no_pass, NULL);
	fclose(f);
	if (x == NULL) {
		snprintf(err, errlen, "\"%s\" holds no PEM certificate", cert);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		ctls_time(X509_get0_notAfter(x), when, sizeof when);
		snprintf(err, errlen, "certificate \"%s\" expired (not after %s)", cert, when);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		ctls_time(X509_get0_notBefore(x), when, sizeof when);
		snprintf(
		    err, errlen, "certificate \"%s\" is not valid yet (not before %s)", cert, when);
		goto out;
	}
	if ((f = config_file_fopen(key)) == NULL) {
		snprintf(err, errlen, "cannot open \"%s\": %s", key, strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH) != 0)
		*key_exposed = true;
	pk = PEM_read_PrivateKey(f, NULL, ctls_no_pass, NULL);
	fclose(f);
	if (pk == NULL) {
		snprintf(err, errlen, "\"%s\" holds no (unencrypted) PEM private key", key);
		goto out;
	}
	if (X509_check_private_key(x, pk) != 1) {
		snprintf(err, errlen, "key \"%s\" does not match certificate \"%s\"", key, cert);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(pk);
	X509_free(x);
	return rc;
}

#define CTLS_OCSP_SKEW_S 300

int
config_tls_check_ocsp(const char *cert, const char *ocsp, char *err, size_t errlen)
{
	X509 *leaf = NULL, *issuer = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *this_upd, *next_upd;
	int status, reason, rc = -1;
	BIO *b;

	if ((b = ctls_bio(ocsp)) == NULL) {
		snprintf(err, errlen, "cannot open \"%s\": %s", ocsp, strerror(errno));
		goto out;
	}
	resp = d2i_OCSP_RESPONSE_bio(b, NULL);
	BIO_free(b);
	if (resp == NULL) {
		snprintf(err, errlen, "\"%s\" holds no DER OCSP response", ocsp);
		goto out;
	}
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (bs = OCSP_response_get1_basic(resp)) == NULL) {
		snprintf(
		    err, errlen, "OCSP response \"%s\" is not a successful basic response", ocsp);
		goto out;
	}
	if ((b = ctls_bio(cert)) != NULL) {
		leaf = PEM_read_bio_X509(b, NULL, ctls_no_pass, NULL);
		issuer = leaf != NULL ? PEM_read_bio_X509(b, NULL, ctls_no_pass, NULL) : NULL;
		BIO_free(b);
	}
	if (leaf == NULL || issuer == NULL) {
		snprintf(err, errlen,
		    "OCSP needs the issuer of \"%s\": put it after the certificate in that file",
		    cert);
		goto out;
	}
	if ((id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL ||
	    OCSP_resp_find_status(bs, id, &status, &reason, NULL, &this_upd, &next_upd) != 1) {
		snprintf(
		    err, errlen, "OCSP response \"%s\" is not for certificate \"%s\"", ocsp, cert);
		goto out;
	}
	if (status != V_OCSP_CERTSTATUS_GOOD) {
		snprintf(err, errlen, "OCSP response \"%s\" says certificate \"%s\" is %s", ocsp,
		    cert, status == V_OCSP_CERTSTATUS_REVOKED ? "revoked" : "unknown");
		goto out;
	}
	if (OCSP_check_validity(this_upd, next_upd, CTLS_OCSP_SKEW_S, -1) != 1) {
		snprintf(err, errlen, "OCSP response \"%s\" is expired or not valid yet", ocsp);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	X509_free(issuer);
	X509_free(leaf);
	return rc;
}

int
config_tls_check_ca(const char *path, char *err, size_t errlen)
{
	X509_STORE *st = X509_STORE_new();
	int ok;

	if (st == NULL) {
		snprintf(err, errlen, "cannot create a certificate store");
		return -1;
	}
	ok = ctls_store_add_pem(st, path) == 0;
	X509_STORE_free(st);
	ERR_clear_error();
	if (!ok) {
		snprintf(err, errlen, "\"%s\" holds no PEM CA certificate", path);
		return -1;
	}
	return 0;
}

int
config_tls_check_ciphers(const char *list, bool suites, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int ok;

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context");
		return -1;
	}
	ok = suites ? SSL_CTX_set_ciphersuites(ctx, list) : SSL_CTX_set_cipher_list(ctx, list);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (ok != 1) {
		snprintf(err, errlen, "\"%.200s\" selects no %s", list,
		    suites ? "TLS 1.3 cipher suite" : "cipher");
		return -1;
	}
	return 0;
}

int
config_tls_check_ticket_keys(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = config_file_open(path);

	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(st.st_mode) || st.st_size == 0 ||
	    st.st_size % CONFIG_TLS_TICKET_KEY_LEN != 0 ||
	    st.st_size / CONFIG_TLS_TICKET_KEY_LEN > CONFIG_TLS_TICKET_KEYS_MAX) {
		snprintf(err, errlen,
		    "\"%s\" must hold 1..%d keys of %d bytes each (e.g. \"openssl rand %d\")", path,
		    CONFIG_TLS_TICKET_KEYS_MAX, CONFIG_TLS_TICKET_KEY_LEN,
		    CONFIG_TLS_TICKET_KEY_LEN);
		return -1;
	}
	return 0;
}

int
config_tls_use_chain(SSL_CTX *ctx, const char *path)
{
	FILE *f = config_file_fopen(path);
	X509 *x, *ca;
	unsigned long e;
	int rc = -1;

	if (f == NULL) {
		ERR_raise_data(ERR_LIB_SYS, errno, "opening \"%s\"", path);
		return -1;
	}
	/* as SSL_CTX_use_certificate_chain_file: the first, then the chain */
	x = PEM_read_X509_AUX(f, NULL, ctls_no_pass, NULL);
	if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_clear_chain_certs(ctx) != 1)
		goto out;
	while ((ca = PEM_read_X509(f, NULL, ctls_no_pass, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			goto out;
		}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error(); /* the end of the file */
		rc = 0;
	}
out:
	X509_free(x);
	fclose(f);
	return rc;
}

int
config_tls_use_key(SSL_CTX *ctx, const char *path)
{
	FILE *f = config_file_fopen(path);
	EVP_PKEY *pk;
	int rc;

	if (f == NULL) {
		ERR_raise_data(ERR_LIB_SYS, errno, "opening \"%s\"", path);
		return -1;
	}
	pk = PEM_read_PrivateKey(f, NULL, ctls_no_pass, NULL);
	fclose(f);
	rc = pk != NULL && SSL_CTX_use_PrivateKey(ctx, pk) == 1 ? 0 : -1;
	EVP_PKEY_free(pk);
	return rc;
}

int
config_tls_load_ca(SSL_CTX *ctx, const char *path)
{
	return ctls_store_add_pem(SSL_CTX_get_cert_store(ctx), path);
}
