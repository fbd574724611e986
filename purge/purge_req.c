/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * purge/purge_req.c — the POST /purge body (jansson) and absolute URLs.
 * Network input: every malformed body is an error message, never an assert.
 * Any thread; no state.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/xmalloc.h"
#include "purge/purge.h"

#define PURGE_ITEM_MAX 8192 /* bytes of one URL, prefix, host or tag */

/* The string array member key of root into *out: 0 (absent is empty), or -1
 * with err. */
static int
req_strings(
    json_t *root, const char *key, char ***out, size_t *n, size_t *total, char *err, size_t errlen)
{
	json_t *a = json_object_get(root, key), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "\"%s\" must be an array of strings", key);
		return -1;
	}
	if (json_array_size(a) > PURGE_ITEMS_MAX - *total) {
		snprintf(err, errlen, "more than %d items", PURGE_ITEMS_MAX);
		return -1;
	}
	*out = xcalloc(json_array_size(a) + 1, sizeof **out);
	json_array_foreach(a, i, v)
	{
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		if (s == NULL || len == 0 || len > PURGE_ITEM_MAX || memchr(s, '\0', len) != NULL) {
			snprintf(err, errlen, "\"%s\"[%zu]: a non-empty string of at most %d bytes",
			    key, i, PURGE_ITEM_MAX);
			return -1;
		}
		(*out)[(*n)++] = xstrndup(s, len);
	}
	*total += *n;
	return 0;
}

static int
req_bool(json_t *root, const char *key, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, key);

	*out = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "\"%s\" must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

int
purge_req_parse(const char *body, size_t len, struct purge_req *out, char *err, size_t errlen)
{
	static const char *const known[] = {"urls", "prefixes", "hosts", "tags", "all", "soft"};
	json_error_t je;
	json_t *root;
	const char *key;
	json_t *v;
	size_t total = 0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (len > PURGE_BODY_LIMIT) { /* the server holds bodies to purge.max_body */
		snprintf(err, errlen, "body over %d bytes", PURGE_BODY_LIMIT);
		return -1;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		snprintf(err, errlen, "invalid JSON at %d:%d: %s", je.line, je.column, je.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, key, v)
	{
		size_t i;

		for (i = 0; i < sizeof known / sizeof known[0]; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i == sizeof known / sizeof known[0]) {
			snprintf(err, errlen, "unknown key \"%.64s\"", key);
			goto out;
		}
	}
	if (req_strings(root, "urls", &out->urls, &out->n_urls, &total, err, errlen) != 0 ||
	    req_strings(root, "prefixes", &out->prefixes, &out->n_prefixes, &total, err, errlen) !=
	        0 ||
	    req_strings(root, "hosts", &out->hosts, &out->n_hosts, &total, err, errlen) != 0 ||
	    req_strings(root, "tags", &out->tags, &out->n_tags, &total, err, errlen) != 0 ||
	    req_bool(root, "all", &out->all, err, errlen) != 0 ||
	    req_bool(root, "soft", &out->soft, err, errlen) != 0)
		goto out;
	if (total == 0 && !out->all) {
		snprintf(err, errlen, "nothing to purge: give urls, prefixes, hosts, tags or all");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc != 0)
		purge_req_clear(out);
	return rc;
}

static void
req_free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void
purge_req_clear(struct purge_req *r)
{
	req_free_list(r->urls, r->n_urls);
	req_free_list(r->prefixes, r->n_prefixes);
	req_free_list(r->hosts, r->n_hosts);
	req_free_list(r->tags, r->n_tags);
	memset(r, 0, sizeof *r);
}

int
purge_url_split(
    const char *url, struct str *scheme, struct str *host, uint16_t *port, struct str *path)
{
	const char *p = strstr(url, "://"), *h, *e, *hend;
	size_t slen;

	if (p == NULL)
		return -1;
	slen = (size_t)(p - url);
	if (!((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
	        (slen == 5 && strncasecmp(url, "https", 5) == 0)))
		return -1;
	*scheme = str_make(url, slen);
	h = p + 3;
	e = h + strcspn(h, "/?#");
	if (*e == '#' || *e == '?') /* a fragment; a query with no path ("/" first) */
		return -1;
	hend = e;
	*port = 0;
	if (h < e && *h == '[') {
		const char *rb = memchr(h, ']', (size_t)(e - h));

		if (rb == NULL)
			return -1;
		hend = rb + 1;
	} else {
		const char *c = memchr(h, ':', (size_t)(e - h));

		if (c != NULL)
			hend = c;
	}
	if (hend < e) {
		unsigned long v = 0;

		if (*hend != ':' || hend + 1 == e)
			return -1;
		for (const char *q = hend + 1; q < e; q++) {
			if (*q < '0' || *q > '9' ||
			    (v = v * 10 + (unsigned long)(*q - '0')) > 65535)
				return -1;
		}
		if (v == 0)
			return -1;
		*port = (uint16_t)v;
	}
	if (hend == h || memchr(h, '@', (size_t)(e - h)) != NULL)
		return -1;
	*host = str_make(h, (size_t)(hend - h));
	*path = *e == '\0' ? STR_LIT("/") : str_cstr(e);
	if (strchr(e, '#') != NULL)
		return -1;
	return 0;
}

int
purge_url_from_request(
    struct str scheme, struct str host, uint16_t port, struct str target, char *url, size_t urllen)
{
	char hostport[512];
	int n;

	if (port != 0) {
		n = snprintf(
		    hostport, sizeof hostport, "%.*s:%u", (int)host.len, host.p, (unsigned)port);
		host =
		    n > 0 && (size_t)n < sizeof hostport ? str_make(hostport, (size_t)n) : STR_NULL;
	}
	if (target.len > 0 && target.p[0] != '/')
		n = snprintf(url, urllen, "%.*s", (int)target.len, target.p);
	else if (host.len == 0)
		return -1;
	else
		n = snprintf(url, urllen, "%.*s://%.*s%.*s", (int)scheme.len, scheme.p,
		    (int)host.len, host.p, (int)target.len, target.p);
	return n > 0 && (size_t)n < urllen && target.len > 0 ? 0 : -1;
}
