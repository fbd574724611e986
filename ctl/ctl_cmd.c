/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/ctl_cmd.c — outpostctl's subcommands (see ctl_cmd.h): the request each
 * one sends, and how its answer is shown.  Human output is a few aligned
 * lines; --json prints the node's JSON unchanged (for stats, the metrics as
 * a JSON array, since /metrics is text).  Errors go to stderr as
 * "outpostctl: <command>: <status> <reason>: <the node's message>".
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config/config_value.h"
#include "core/xmalloc.h"
#include "ctl/ctl_cmd.h"
#include "ctl/ctl_http.h"

/*
 * Sends the request; on a connection failure prints why and returns
 * CTL_EXIT_CONNECT, else 0 with *r filled.
 */
static int
ctl_cmd_call(const struct ctl_ctx *c, const char *cmd, const char *method, const char *path,
    const char *token, const char *body, uint64_t extra_ms, struct ctl_reply *r)
{
	char err[CTL_HTTP_ERRLEN];

	if (ctl_http(c->admin, method, path, token, body, c->timeout_ms + extra_ms, r, err,
	        sizeof err) == -1) {
		fprintf(stderr, "outpostctl: %s: %s\n", cmd, err);
		return CTL_EXIT_CONNECT;
	}
	return 0;
}

/* The node's short error: {"error": "..."} or the body's first line, cut
 * and with control bytes shown as '?'. */
static void
ctl_cmd_http_error(const char *cmd, const struct ctl_reply *r)
{
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
	const char *msg = NULL;
	char line[201];
	size_t n = 0;

	if (json_is_object(j) && json_is_string(json_object_get(j, "error")))
		msg = json_string_value(json_object_get(j, "error"));
	if (msg == NULL) {
		for (; n < r->body_len && n < sizeof line - 1 && r->body[n] != '\n'; n++)
			line[n] = isprint((unsigned char)r->body[n]) ? r->body[n] : '?';
		line[n] = '\0';
		msg = line;
	}
	fprintf(stderr, "outpostctl: %s: %d %s%s%.200s\n", cmd, r->status, r->reason,
	    msg[0] != '\0' ? ": " : "", msg);
	json_decref(j);
}

static void
ctl_cmd_print_raw(const struct ctl_reply *r)
{
	fwrite(r->body, 1, r->body_len, stdout);
	if (r->body_len == 0 || r->body[r->body_len - 1] != '\n')
		putchar('\n');
}

/*
 * A request whose answer is a JSON object: on an error status prints the
 * node's message; with --json prints the body as it came.  Otherwise *j is
 * the object to show (caller decrefs).  Returns the exit code; *j is NULL
 * when there is nothing left to print.
 */
static int
ctl_cmd_object(const struct ctl_ctx *c, const char *cmd, const char *method, const char *path,
    const char *token, const char *body, uint64_t extra_ms, json_t **j)
{
	struct ctl_reply r;
	json_error_t e;
	int rc = ctl_cmd_call(c, cmd, method, path, token, body, extra_ms, &r);

	*j = NULL;
	if (rc != 0)
		return rc;
	if (r.status != 200) {
		ctl_cmd_http_error(cmd, &r);
		rc = CTL_EXIT_HTTP;
	} else if (c->json) {
		ctl_cmd_print_raw(&r);
	} else {
		*j = json_loadb(r.body, r.body_len, 0, &e);
		if (!json_is_object(*j)) {
			fprintf(stderr,
			    "outpostctl: %s: the node's reply is not a JSON object (%s)\n", cmd,
			    *j == NULL ? e.text : "another JSON value");
			json_decref(*j);
			*j = NULL;
			rc = CTL_EXIT_CONNECT;
		}
	}
	ctl_reply_free(&r);
	return rc;
}

/* ---- purge ---- */

static void
ctl_cmd_add_list(json_t *req, const char *key, const char **v, size_t n)
{
	json_t *a;

	if (n == 0)
		return;
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	json_object_set_new(req, key, a);
}

/* "a, b, c" from a JSON array of strings; "-" when empty. */
static void
ctl_cmd_print_names(const char *label, json_t *a)
{
	size_t i;
	json_t *v;

	printf("%-8s ", label);
	if (json_array_size(a) == 0)
		printf("-");
	json_array_foreach(a, i, v)
	{
		printf("%s%s", i > 0 ? ", " : "", json_is_string(v) ? json_string_value(v) : "?");
	}
	putchar('\n');
}

int
ctl_cmd_purge(const struct ctl_ctx *c, const struct ctl_purge_args *a)
{
	json_t *req = json_object(), *j;
	char path[64], *body;
	int rc;

	ctl_cmd_add_list(req, "urls", a->urls, a->n_urls);
	ctl_cmd_add_list(req, "prefixes", a->prefixes, a->n_prefixes);
	ctl_cmd_add_list(req, "hosts", a->hosts, a->n_hosts);
	ctl_cmd_add_list(req, "tags", a->tags, a->n_tags);
	if (a->all)
		json_object_set_new(req, "all", json_true());
	if (a->soft)
		json_object_set_new(req, "soft", json_true());
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (a->wait_ms > 0) {
		char d[32];

		config_value_fmt_duration(a->wait_ms, d, sizeof d);
		snprintf(path, sizeof path, "/purge?wait=%s", d);
	} else {
		snprintf(path, sizeof path, "/purge");
	}
	rc = ctl_cmd_object(c, "purge", "POST", path, c->token, body, a->wait_ms, &j);
	free(body);
	if (j != NULL) {
		json_t *fleet = json_object_get(j, "fleet");
		const char *id = json_string_value(json_object_get(j, "id"));

		printf("%-8s %s\n", "id", id != NULL ? id : "?");
		printf("%-8s %" JSON_INTEGER_FORMAT "\n", "purged",
		    json_integer_value(json_object_get(j, "purged")));
		printf(
		    "%-8s %s\n", "soft", json_is_true(json_object_get(j, "soft")) ? "yes" : "no");
		printf(
		    "%-8s %s\n", "done", json_is_true(json_object_get(j, "done")) ? "yes" : "no");
		ctl_cmd_print_names("acked", json_object_get(fleet, "acked"));
		ctl_cmd_print_names("pending", json_object_get(fleet, "pending"));
		json_decref(j);
	}
	return rc;
}

/* ---- status ---- */

static void
ctl_cmd_fmt_uptime(json_int_t s, char *out, size_t outlen)
{
	if (s >= 86400)
		snprintf(out, outlen, "%" JSON_INTEGER_FORMAT "d %" JSON_INTEGER_FORMAT "h",
		    s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, outlen, "%" JSON_INTEGER_FORMAT "h %" JSON_INTEGER_FORMAT "m",
		    s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, outlen, "%" JSON_INTEGER_FORMAT "m %" JSON_INTEGER_FORMAT "s", s / 60,
		    s % 60);
	else
		snprintf(out, outlen, "%" JSON_INTEGER_FORMAT "s", s < 0 ? 0 : s);
}

/* 1536 → "1.5 KiB" */
void
ctl_cmd_fmt_bytes(long long v, char *out, size_t outlen)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double d = (double)v;
	size_t u = 0;

	while (d >= 1024 && u < sizeof unit / sizeof unit[0] - 1) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outlen, "%lld B", v);
	else
		snprintf(out, outlen, "%.1f %s", d, unit[u]);
}

int
ctl_cmd_status(const struct ctl_ctx *c)
{
	json_t *j, *last;
	char up[64], bytes[32], when[64] = "";
	json_int_t t;
	int rc = ctl_cmd_object(c, "status", "GET", "/status", NULL, NULL, 0, &j);

	if (j != NULL) {
		const char *node = json_string_value(json_object_get(j, "node"));
		const char *version = json_string_value(json_object_get(j, "version"));
		const char *lst;

		last = json_object_get(j, "last_reload");
		lst = json_string_value(json_object_get(last, "status"));
		t = json_integer_value(json_object_get(last, "time"));
		if (t > 0) {
			time_t tt = (time_t)t;
			struct tm tm;

			strftime(
			    when, sizeof when, " at %Y-%m-%d %H:%M:%S UTC", gmtime_r(&tt, &tm));
		}
		ctl_cmd_fmt_uptime(
		    json_integer_value(json_object_get(j, "uptime_s")), up, sizeof up);
		ctl_cmd_fmt_bytes(
		    json_integer_value(json_object_get(j, "cache_ram_bytes")), bytes, sizeof bytes);
		printf("%-9s %s\n", "node", node != NULL ? node : "?");
		printf("%-9s %s\n", "version", version != NULL ? version : "?");
		printf("%-9s %s%s\n", "uptime", up,
		    json_is_true(json_object_get(j, "draining")) ? " (draining)" : "");
		printf("%-9s %" JSON_INTEGER_FORMAT "\n", "workers",
		    json_integer_value(json_object_get(j, "workers")));
		printf("%-9s %s in RAM, %" JSON_INTEGER_FORMAT " objects\n", "cache", bytes,
		    json_integer_value(json_object_get(j, "cache_ram_objects")));
		printf("%-9s %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
		       " failed), last: %s%s\n",
		    "reloads", json_integer_value(json_object_get(j, "reloads")),
		    json_integer_value(json_object_get(j, "reload_failures")),
		    lst != NULL ? lst : "?", when);
		json_decref(j);
	}
	return rc;
}

/* ---- stats ---- */

static bool
ctl_cmd_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == ':';
}

/*
 * One sample line of the Prometheus text format: "name{labels} value
 * [timestamp]".  *series_len covers "name{labels}", the value follows.  0, or
 * -1 for a line that is not a sample (comments, blank, malformed).
 */
static int
ctl_cmd_sample(const char *line, size_t len, size_t *name_len, size_t *series_len,
    const char **value, size_t *value_len)
{
	size_t i = 0;

	while (i < len && ctl_cmd_name_char(line[i]))
		i++;
	if (i == 0)
		return -1;
	*name_len = i;
	if (i < len && line[i] == '{') {
		bool quoted = false;

		for (i++; i < len && (quoted || line[i] != '}'); i++) {
			if (quoted && line[i] == '\\' && i + 1 < len)
				i++;
			else if (line[i] == '"')
				quoted = !quoted;
		}
		if (i == len)
			return -1;
		i++;
	}
	*series_len = i;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	*value = line + i;
	while (i < len && line[i] != ' ' && line[i] != '\t')
		i++;
	*value_len = (size_t)(line + i - *value);
	return *value_len > 0 ? 0 : -1;
}

/* {k="v",...} (the braces included) into a JSON object; escapes \\ \" \n. */
static json_t *
ctl_cmd_labels(const char *p, size_t len)
{
	json_t *o = json_object();
	size_t i = 1;

	while (i + 1 < len) {
		size_t k = i, klen;
		char *key, *val = xmalloc(len);
		size_t vlen = 0;

		while (i < len && ctl_cmd_name_char(p[i]))
			i++;
		klen = i - k;
		if (klen == 0 || i + 1 >= len || p[i] != '=' || p[i + 1] != '"') {
			free(val);
			break;
		}
		for (i += 2; i < len && p[i] != '"'; i++) {
			if (p[i] == '\\' && i + 1 < len) {
				i++;
				val[vlen++] = p[i] == 'n' ? '\n' : p[i];
			} else {
				val[vlen++] = p[i];
			}
		}
		key = xstrndup(p + k, klen);
		json_object_set_new(o, key, json_stringn(val, vlen));
		free(key);
		free(val);
		i++; /* the closing quote */
		if (i < len && p[i] == ',')
			i++;
	}
	return o;
}

/* A sample value as JSON: an integer when it is one, else a real (NaN and
 * the infinities, which JSON cannot hold, as strings). */
static json_t *
ctl_cmd_value(const char *v, size_t len)
{
	char buf[64], *end;
	long long ll;
	double d;

	if (len >= sizeof buf)
		return json_stringn(v, len);
	memcpy(buf, v, len);
	buf[len] = '\0';
	ll = strtoll(buf, &end, 10);
	if (*end == '\0')
		return json_integer(ll);
	d = strtod(buf, &end);
	if (*end != '\0' || d != d || d - d != 0)
		return json_string(buf);
	return json_real(d);
}

/* A sample line: its series is line[0..series_len), its name the first
 * name_len bytes of that. */
typedef void ctl_cmd_sample_cb(void *arg, const char *line, size_t name_len, size_t series_len,
    const char *value, size_t value_len);

/* Calls fn for each sample line of text whose series contains filter (NULL:
 * every one). */
static void
ctl_cmd_each_sample(
    const char *text, size_t text_len, const char *filter, ctl_cmd_sample_cb *fn, void *arg)
{
	for (const char *p = text, *end = text + text_len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *value;
		size_t len = (size_t)((nl != NULL ? nl : end) - p), name_len, series_len, value_len;

		if (ctl_cmd_sample(p, len, &name_len, &series_len, &value, &value_len) == 0 &&
		    (filter == NULL || memmem(p, series_len, filter, strlen(filter)) != NULL))
			fn(arg, p, name_len, series_len, value, value_len);
		p += len + 1;
	}
}

static void
ctl_cmd_sample_json(void *arg, const char *p, size_t name_len, size_t series_len, const char *value,
    size_t value_len)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_stringn(p, name_len));
	json_object_set_new(o, "labels",
	    series_len > name_len ? ctl_cmd_labels(p + name_len, series_len - name_len)
	                          : json_object());
	json_object_set_new(o, "value", ctl_cmd_value(value, value_len));
	json_array_append_new(arg, o);
}

static void
ctl_cmd_sample_print(void *arg, const char *p, size_t name_len, size_t series_len,
    const char *value, size_t value_len)
{
	(void)arg;
	(void)name_len;
	printf("%.*s %.*s\n", (int)series_len, p, (int)value_len, value);
}

json_t *
ctl_cmd_metrics_json(const char *text, size_t len)
{
	json_t *out = json_array();

	ctl_cmd_each_sample(text, len, NULL, ctl_cmd_sample_json, out);
	return out;
}

int
ctl_cmd_stats(const struct ctl_ctx *c, const char *filter)
{
	struct ctl_reply r;
	json_t *out = c->json ? json_array() : NULL;
	int rc = ctl_cmd_call(c, "stats", "GET", "/metrics", NULL, NULL, 0, &r);

	if (rc != 0) {
		json_decref(out);
		return rc;
	}
	if (r.status != 200) {
		ctl_cmd_http_error("stats", &r);
		json_decref(out);
		ctl_reply_free(&r);
		return CTL_EXIT_HTTP;
	}
	if (out != NULL)
		ctl_cmd_each_sample(r.body, r.body_len, filter, ctl_cmd_sample_json, out);
	else
		ctl_cmd_each_sample(r.body, r.body_len, filter, ctl_cmd_sample_print, NULL);
	if (out != NULL) {
		char *s = json_dumps(out, JSON_INDENT(2));

		puts(s);
		free(s);
		json_decref(out);
	}
	ctl_reply_free(&r);
	return CTL_EXIT_OK;
}

/* ---- health ---- */

int
ctl_cmd_health(const struct ctl_ctx *c)
{
	struct ctl_reply r;
	int rc = ctl_cmd_call(c, "health", "GET", "/healthz", NULL, NULL, 0, &r);

	if (rc != 0)
		return rc;
	ctl_cmd_print_raw(&r);
	/* "ok", with the line end the node adds */
	rc = r.status == 200 && strncmp(r.body, "ok", 2) == 0 &&
	             strspn(r.body + 2, "\r\n") == r.body_len - 2
	         ? CTL_EXIT_OK
	         : CTL_EXIT_HTTP;
	ctl_reply_free(&r);
	return rc;
}

/* ---- drain, reload ---- */

int
ctl_cmd_drain(const struct ctl_ctx *c, int64_t announce_ms)
{
	char target[64];
	json_t *j;
	int rc;

	if (announce_ms >= 0)
		snprintf(target, sizeof target, "/drain?announce=%" PRId64 "ms", announce_ms);
	else
		snprintf(target, sizeof target, "/drain");
	rc = ctl_cmd_object(c, "drain", "POST", target, c->token, "", 0, &j);
	if (j != NULL) {
		printf(
		    "draining: /healthz answers 503; the node serves on for %" JSON_INTEGER_FORMAT
		    " ms, then closes its listeners and exits once its requests in "
		    "flight are done (at most %" JSON_INTEGER_FORMAT " ms)%s\n",
		    json_integer_value(json_object_get(j, "announce_ms")),
		    json_integer_value(json_object_get(j, "drain_timeout_ms")),
		    json_is_true(json_object_get(j, "already")) ? " (it was draining already)"
		                                                : "");
		json_decref(j);
	}
	return rc;
}

/* A 422 of POST /reload: the configuration's errors, one a line, on stderr. */
static int
ctl_cmd_rejected(const struct ctl_ctx *c, const struct ctl_reply *r)
{
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL), *e;
	size_t i;

	if (!json_is_object(j)) {
		json_decref(j);
		ctl_cmd_http_error("reload", r);
		return CTL_EXIT_HTTP;
	}
	if (c->json)
		ctl_cmd_print_raw(r);
	json_array_foreach(json_object_get(j, "errors"), i, e)
	{
		if (json_is_string(e))
			fprintf(stderr, "%s\n", json_string_value(e));
	}
	fprintf(stderr, "outpostctl: reload: the configuration was rejected; the running "
	                "one stays\n");
	json_decref(j);
	return CTL_EXIT_REJECTED;
}

int
ctl_cmd_reload(const struct ctl_ctx *c)
{
	struct ctl_reply r;
	json_t *j = NULL;
	int rc = ctl_cmd_call(c, "reload", "POST", "/reload", c->token, "", 0, &r);

	if (rc != 0)
		return rc;
	if (r.status == 422) {
		rc = ctl_cmd_rejected(c, &r);
	} else if (r.status != 200) {
		ctl_cmd_http_error("reload", &r);
		rc = CTL_EXIT_HTTP;
	} else if (c->json) {
		ctl_cmd_print_raw(&r);
	} else if ((j = json_loadb(r.body, r.body_len, 0, NULL)) == NULL) {
		fprintf(stderr, "outpostctl: reload: the node's reply is not JSON\n");
		rc = CTL_EXIT_CONNECT;
	} else {
		printf("reloaded: the new configuration is in service (%" JSON_INTEGER_FORMAT
		       " reloads)\n",
		    json_integer_value(json_object_get(j, "reloads")));
	}
	json_decref(j);
	ctl_reply_free(&r);
	return rc;
}
