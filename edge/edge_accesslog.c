/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_accesslog.c — the access log writer (see the header for the model).
 * Fields: time, client, worker, method, host, path, status, bytes, cache,
 * duration_ms.  Strings are JSON-escaped; bytes that are not printable ASCII
 * are written as \u00XX so a line is always valid JSON.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "edge/edge_accesslog.h"
#include "edge/edge_worker.h"

int
edge_accesslog_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd == -1)
		log_err("log", "access log \"%s\": cannot open: %s", path, strerror(errno));
	return fd;
}

int
edge_accesslog_reopen(int fd, const char *path)
{
	int nfd = edge_accesslog_open(path);

	if (nfd == -1)
		return -1;
	if (dup2(nfd, fd) == -1) {
		log_err("log", "access log \"%s\": cannot reopen: %s", path, strerror(errno));
		close(nfd);
		return -1;
	}
	close(nfd);
	return 0;
}

/* Appends s as a JSON string body (without quotes); returns the new length. */
static size_t
accesslog_escape(char *buf, size_t len, size_t cap, struct str s)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < s.len && len + 7 < cap; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		if (ch == '"' || ch == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			memcpy(buf + len, "\\u00", 4);
			buf[len + 4] = hex[ch >> 4];
			buf[len + 5] = hex[ch & 15];
			len += 6;
		} else {
			buf[len++] = (char)ch;
		}
	}
	return len;
}

void
edge_accesslog_write(struct edge_worker *w, const struct edge_logrec *lr)
{
	int fd = w->srv->access_log_fd;
	char line[4096];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;
	uint64_t dur_ms = lr->duration_us / 1000;

	edge_metrics_add(&w->metrics, EDGE_C_bytes_sent_total, lr->bytes);
	if (lr->status >= 500)
		EDGE_COUNT(&w->metrics, server_error_responses_total);
	edge_metrics_response(&w->metrics, lr->site_slot, lr->status, lr->result, lr->duration_us);
	/* "MISS" and "PASS": answered through the origin (the status page's
	 * origin latency) */
	if (lr->cache[0] == 'M' || (lr->cache[0] == 'P' && lr->cache[1] == 'A')) {
		EDGE_COUNT(&w->metrics, origin_answers_total);
		atomic_store_explicit(&w->metrics.origin_answer_ms,
		    atomic_load_explicit(&w->metrics.origin_answer_ms, memory_order_relaxed) +
		        dur_ms,
		    memory_order_relaxed);
	}
	if (fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof line - n,
	    ".%03ldZ\",\"client\":\"%s\",\"worker\":%u,\"method\":\"", ts.tv_nsec / 1000000L,
	    lr->client, w->id);
	n += (size_t)r;
	n = accesslog_escape(line, n, sizeof line - 256, lr->method);
	memcpy(line + n, "\",\"host\":\"", 10);
	n += 10;
	n = accesslog_escape(line, n, sizeof line - 256, lr->host);
	memcpy(line + n, "\",\"path\":\"", 10);
	n += 10;
	n = accesslog_escape(line, n, sizeof line - 200, lr->path);
	r = snprintf(line + n, sizeof line - n,
	    "\",\"status\":%d,\"bytes\":%llu,\"cache\":\"%s\",\"duration_ms\":%llu}\n", lr->status,
	    (unsigned long long)lr->bytes, lr->cache, (unsigned long long)dur_ms);
	if (r > 0 && (size_t)r < sizeof line - n)
		n += (size_t)r;
	(void)!write(fd, line, n);
}
