/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/edge/test_edge_accesslog.c — the access log's line formats
 * (edge/edge_accesslog.c edge_accesslog_format): the default and a chosen
 * JSON field list, null for what is not known, escaping in JSON and in the
 * combined format, and a line cut to its buffer that stays valid.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "edge/edge_accesslog.h"
#include "tests/unit/tap.h"

static struct edge_logrec
rec(void)
{
	struct edge_logrec lr;

	memset(&lr, 0, sizeof lr);
	lr.client = "192.0.2.1";
	lr.method = STR_LIT("GET");
	lr.host = STR_LIT("example.com");
	lr.path = STR_LIT("/a\"b\x01?q=1");
	lr.status = 200;
	lr.bytes = 1234;
	lr.cache = "HIT";
	lr.duration_us = 2500;
	lr.tier = "ram";
	lr.minor = 1;
	lr.user_agent = STR_LIT("ua \\ \xc3\xa9");
	return lr;
}

/* The line without its time (which comes first in both formats). */
static const char *
after_time(const char *line, char close)
{
	const char *p = strchr(line, close);

	return p != NULL ? p + 1 : line;
}

static void
test_json(void)
{
	struct log_conf lc;
	struct edge_logrec lr = rec();
	char out[4096];
	size_t n;

	subtest("json");
	memset(&lc, 0, sizeof lc);
	n = edge_accesslog_format(&lc, 3, &lr, out, sizeof out);
	out[n] = '\0';
	ok(strncmp(out, "{\"time\":\"", 9) == 0, "default: time first");
	is_str(after_time(out + 9, '"'),
	    ",\"client\":\"192.0.2.1\",\"worker\":3,\"method\":\"GET\",\"host\":\"example.com\","
	    "\"path\":\"/a\\\"b\\u0001?q=1\",\"status\":200,\"bytes\":1234,\"cache\":\"HIT\","
	    "\"duration_ms\":2}\n");
	lc.fields[0] = LOG_FIELD_query;
	lc.fields[1] = LOG_FIELD_tier;
	lc.fields[2] = LOG_FIELD_user_agent;
	lc.fields[3] = LOG_FIELD_referer;
	lc.fields[4] = LOG_FIELD_upstream;
	lc.fields[5] = LOG_FIELD_duration_us;
	lc.fields[6] = LOG_FIELD_protocol;
	lc.n_fields = 7;
	n = edge_accesslog_format(&lc, 0, &lr, out, sizeof out);
	out[n] = '\0';
	is_str(out, "{\"query\":\"q=1\",\"tier\":\"ram\",\"user_agent\":\"ua \\\\ \\u00c3\\u00a9\","
	            "\"referer\":null,\"upstream\":null,\"duration_us\":2500,"
	            "\"protocol\":\"HTTP/1.1\"}\n");
	lr.upstream_host = "::1";
	lr.upstream_port = 8080;
	lr.upstream_us = 1500;
	lc.fields[0] = LOG_FIELD_upstream;
	lc.fields[1] = LOG_FIELD_upstream_ms;
	lc.n_fields = 2;
	n = edge_accesslog_format(&lc, 0, &lr, out, sizeof out);
	out[n] = '\0';
	is_str(out, "{\"upstream\":\"[::1]:8080\",\"upstream_ms\":1.500}\n");
	/* cut: still one JSON object and one line */
	lc.fields[0] = LOG_FIELD_path;
	lc.n_fields = 1;
	n = edge_accesslog_format(&lc, 0, &lr, out, 20);
	out[n] = '\0';
	is_str(out, "{\"truncated\":true}\n");
}

static void
test_combined(void)
{
	struct log_conf lc;
	struct edge_logrec lr = rec();
	char out[4096];
	size_t n;

	subtest("combined");
	memset(&lc, 0, sizeof lc);
	lc.format = LOG_FORMAT_COMBINED;
	n = edge_accesslog_format(&lc, 0, &lr, out, sizeof out);
	out[n] = '\0';
	ok(strncmp(out, "192.0.2.1 - - [", 15) == 0, "client and the time's bracket");
	is_str(after_time(out, ']'),
	    " \"GET /a\\\"b\\x01?q=1 HTTP/1.1\" 200 1234 \"-\" \"ua \\\\ \\xc3\\xa9\"\n");
	lr.bytes = 0;
	lr.referer = STR_LIT("http://r/");
	n = edge_accesslog_format(&lc, 0, &lr, out, sizeof out);
	out[n] = '\0';
	is_str(after_time(out, ']'),
	    " \"GET /a\\\"b\\x01?q=1 HTTP/1.1\" 200 - \"http://r/\" \"ua \\\\ \\xc3\\xa9\"\n");
}

int
main(void)
{
	test_json();
	test_combined();
	return tap_done();
}
