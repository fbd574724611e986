/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config_tls.h — checks of the files the TLS keys name, so a broken
 * certificate is a configuration error (with the key's position) rather than
 * a failure at start-up.  edge/edge_tls.c loads the same files afterwards.
 */
#ifndef OUTPOST_CONFIG_CONFIG_TLS_H
#define OUTPOST_CONFIG_CONFIG_TLS_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_TLS_TICKET_KEY_LEN  80 /* 16 name + 32 HMAC secret + 32 AES-256 key */
#define CONFIG_TLS_TICKET_KEYS_MAX 16

/*
 * The certificate file holds a PEM certificate (then optionally its chain),
 * valid now; the key file a PEM private key matching it.  0, or -1 with the
 * reason in err.  *key_exposed is set when the key file is readable by others.
 */
int config_tls_check_pair(
    const char *cert, const char *key, bool *key_exposed, char *err, size_t errlen);

/*
 * An OCSP response file (DER, as written by "openssl ocsp -respout") for the
 * leaf of the certificate file cert, whose issuer must follow it in the file:
 * a successful basic response with a "good" status for that certificate,
 * inside its thisUpdate..nextUpdate window (5 minutes of clock skew
 * allowed).  Its signature is not checked: the client does that.  0, or -1
 * with the reason in err.
 */
int config_tls_check_ocsp(const char *cert, const char *ocsp, char *err, size_t errlen);

/* A CA file (pools[].tls.ca_file) OpenSSL can load: at least one PEM
 * certificate.  0, or -1 with a message in err. */
int config_tls_check_ca(const char *path, char *err, size_t errlen);

/* An OpenSSL cipher list (suites: a TLS 1.3 ciphersuites list) that selects
 * at least one cipher.  0, or -1 with the reason in err. */
int config_tls_check_ciphers(const char *list, bool suites, char *err, size_t errlen);

/* A ticket key file: 1..CONFIG_TLS_TICKET_KEYS_MAX keys of
 * CONFIG_TLS_TICKET_KEY_LEN bytes each.  0, or -1 with the reason in err. */
int config_tls_check_ticket_keys(const char *path, char *err, size_t errlen);

/*
 * SSL_CTX_use_certificate_chain_file and SSL_CTX_use_PrivateKey_file (PEM,
 * no pass phrase) reading through config_file_open, so they work after the
 * privilege drop.  0, or -1 with the reason on OpenSSL's error queue.
 */
struct ssl_ctx_st;
int config_tls_use_chain(struct ssl_ctx_st *ctx, const char *path);
int config_tls_use_key(struct ssl_ctx_st *ctx, const char *path);
/* SSL_CTX_load_verify_locations(ctx, path, NULL) for a PEM file of CA
 * certificates, reading through config_file_open likewise.  0, or -1 with
 * the reason on OpenSSL's error queue (also when path holds no certificate). */
int config_tls_load_ca(struct ssl_ctx_st *ctx, const char *path);

#endif
