/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_accesslog.c — the access log writer (see the header for the
 * model).
 *
 * Rings: head and tail count bytes since the start (never wrap in
 * practice); the worker owns tail, the writer head.  The worker reads head
 * with acquire (the writer is done with the bytes below it) and publishes
 * tail with release (its bytes are written); the writer does the converse.
 * A line is never split across a drop: it is queued whole or not at all.
 *
 * JSON strings are escaped; bytes that are not printable ASCII are written
 * as \u00XX so a line is always valid JSON.  The combined format writes
 * them as \xXX, as nginx does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_accesslog.h"
#include "edge/edge_worker.h"

#define ALOG_FLUSH_MS 100
#define ALOG_LINE_MAX 4096 /* a line is cut to this */

struct alog_ring {
	char *buf;
	_Atomic uint64_t head; /* the writer's: bytes consumed */
	_Atomic uint64_t tail; /* the worker's: bytes queued */
	_Atomic bool kicked;   /* the writer was woken for this ring */
	char pad[64];          /* the next ring's counters on another line */
};

struct edge_alog {
	struct log_conf lc; /* format and fields (its strings are not used) */
	int fd;             /* the file, or -1 */
	int sys_fd;         /* the syslog socket, or -1 */
	struct sockaddr_un sys_addr;
	char sys_tag[64];
	int pid; /* in the syslog header */
	char host[256];
	int kick_fd; /* eventfd: a ring is half full, or stop */
	_Atomic bool stop;
	pthread_t thread;
	size_t cap; /* ring size, a power of two */
	unsigned n;
	struct alog_ring *rings;
	/* the writer's */
	uint64_t *pos;                     /* per ring: the next record of this flush */
	char line[ALOG_LINE_MAX];          /* the record being moved */
	char scratch[ALOG_LINE_MAX + 512]; /* a syslog datagram */
	char batch[64 * 1024];             /* lines for one write(2) */
	size_t batch_len;
};

/* A ring record: this header, then the line (with its newline). */
struct alog_rec {
	uint64_t stamp_us; /* monotonic: when the line was queued (the merge order) */
	uint32_t len;
};

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

/* A line being formatted: full once the next byte would not fit (the
 * room for the closing bytes is kept back by the caller). */
struct lbuf {
	char *p;
	size_t len;
	size_t cap;
	bool cut; /* something did not fit */
};

static void
lb_raw(struct lbuf *b, const char *s, size_t n)
{
	if (n > b->cap - b->len) {
		n = b->cap - b->len;
		b->cut = true;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void lb_fmt(struct lbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
lb_fmt(struct lbuf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(b->p + b->len, b->cap - b->len + 1, fmt, ap);
	va_end(ap);
	if (r > 0 && (size_t)r > b->cap - b->len)
		b->cut = true;
	if (r > 0)
		b->len += (size_t)r < b->cap - b->len ? (size_t)r : b->cap - b->len;
}

/* s escaped: JSON (\", \\, \u00XX) or the combined format (\", \\, \xXX). */
static void
lb_esc(struct lbuf *b, struct str s, bool json)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];

		if (b->len + 6 > b->cap) {
			b->cut = true;
			return;
		}
		if (ch == '"' || ch == '\\') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			memcpy(b->p + b->len, json ? "\\u00" : "\\x", json ? 4 : 2);
			b->len += json ? 4 : 2;
			b->p[b->len++] = hex[ch >> 4];
			b->p[b->len++] = hex[ch & 15];
		} else {
			b->p[b->len++] = (char)ch;
		}
	}
}

/* A JSON string value, or null when not known. */
static void
lb_jstr(struct lbuf *b, struct str s, bool known)
{
	if (!known) {
		lb_raw(b, "null", 4);
		return;
	}
	lb_raw(b, "\"", 1);
	lb_esc(b, s, true);
	lb_raw(b, "\"", 1);
}

static void
lb_jcstr(struct lbuf *b, const char *s)
{
	lb_jstr(b, s != NULL ? str_make(s, strlen(s)) : str_make("", 0), s != NULL);
}

/* The query of a target ("" without one). */
static struct str
logrec_query(const struct edge_logrec *lr)
{
	const char *q = memchr(lr->path.p, '?', lr->path.len);

	return q == NULL ? str_make("", 0)
	                 : str_make(q + 1, lr->path.len - (size_t)(q + 1 - lr->path.p));
}

static void
lb_json_field(struct lbuf *b, enum log_field f, unsigned worker, const struct edge_logrec *lr,
    const struct timespec *ts)
{
	struct tm tm;
	char t[64];

	switch (f) {
	case LOG_FIELD_time:
		gmtime_r(&ts->tv_sec, &tm);
		strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
		lb_fmt(b, "\"%s.%03ldZ\"", t, ts->tv_nsec / 1000000L);
		break;
	case LOG_FIELD_client:
		lb_jcstr(b, lr->client);
		break;
	case LOG_FIELD_worker:
		lb_fmt(b, "%u", worker);
		break;
	case LOG_FIELD_method:
		lb_jstr(b, lr->method, true);
		break;
	case LOG_FIELD_host:
		lb_jstr(b, lr->host, true);
		break;
	case LOG_FIELD_path:
		lb_jstr(b, lr->path, true);
		break;
	case LOG_FIELD_query:
		lb_jstr(b, logrec_query(lr), true);
		break;
	case LOG_FIELD_status:
		lb_fmt(b, "%d", lr->status);
		break;
	case LOG_FIELD_bytes:
		lb_fmt(b, "%llu", (unsigned long long)lr->bytes);
		break;
	case LOG_FIELD_cache:
		lb_jcstr(b, lr->cache);
		break;
	case LOG_FIELD_tier:
		lb_jcstr(b, lr->tier);
		break;
	case LOG_FIELD_site:
		lb_jcstr(b, lr->site);
		break;
	case LOG_FIELD_route:
		lb_jcstr(b, lr->route);
		break;
	case LOG_FIELD_pool:
		lb_jcstr(b, lr->pool);
		break;
	case LOG_FIELD_duration_ms:
		lb_fmt(b, "%llu", (unsigned long long)(lr->duration_us / 1000));
		break;
	case LOG_FIELD_duration_us:
		lb_fmt(b, "%llu", (unsigned long long)lr->duration_us);
		break;
	case LOG_FIELD_tls:
		lb_jcstr(b, lr->tls);
		break;
	case LOG_FIELD_protocol:
		if (lr->h2)
			lb_raw(b, "\"HTTP/2.0\"", 10);
		else
			lb_fmt(b, "\"HTTP/1.%d\"", lr->minor);
		break;
	case LOG_FIELD_user_agent:
		lb_jstr(b, lr->user_agent, lr->user_agent.p != NULL);
		break;
	case LOG_FIELD_referer:
		lb_jstr(b, lr->referer, lr->referer.p != NULL);
		break;
	case LOG_FIELD_request_id:
		lb_jstr(b, lr->request_id, lr->request_id.len > 0);
		break;
	case LOG_FIELD_upstream:
		if (lr->upstream_host == NULL)
			lb_raw(b, "null", 4);
		else
			lb_fmt(b,
			    strchr(lr->upstream_host, ':') != NULL ? "\"[%s]:%u\"" : "\"%s:%u\"",
			    lr->upstream_host, lr->upstream_port);
		break;
	case LOG_FIELD_upstream_ms:
		if (lr->upstream_host == NULL)
			lb_raw(b, "null", 4);
		else
			lb_fmt(b, "%.3f", (double)lr->upstream_us / 1000.0);
		break;
	case LOG_FIELD__COUNT:
		break;
	}
}

/* The default field list: the table's fields marked 1. */
static const unsigned char default_fields[] = {
#define LOG_FIELD_DEFAULT(name, dflt) LOG_FIELD_##name *(dflt) + 255 * !(dflt),
    LOG_FIELD_TABLE(LOG_FIELD_DEFAULT)
#undef LOG_FIELD_DEFAULT
};

/* Apache/nginx combined: client - - [time] "request" status bytes
 * "referer" "user agent". */
static void
lb_combined(struct lbuf *b, const struct edge_logrec *lr, const struct timespec *ts)
{
	struct tm tm;
	char t[64];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(t, sizeof t, "%d/%b/%Y:%H:%M:%S +0000", &tm);
	lb_fmt(b, "%s - - [%s] \"", lr->client, t);
	lb_esc(b, lr->method, false);
	lb_raw(b, " ", 1);
	lb_esc(b, lr->path, false);
	if (lr->h2)
		lb_fmt(b, " HTTP/2.0\" %d ", lr->status);
	else
		lb_fmt(b, " HTTP/1.%d\" %d ", lr->minor, lr->status);
	if (lr->bytes > 0)
		lb_fmt(b, "%llu", (unsigned long long)lr->bytes);
	else
		lb_raw(b, "-", 1);
	lb_raw(b, " \"", 2);
	if (lr->referer.p != NULL)
		lb_esc(b, lr->referer, false);
	else
		lb_raw(b, "-", 1);
	lb_raw(b, "\" \"", 3);
	if (lr->user_agent.p != NULL)
		lb_esc(b, lr->user_agent, false);
	else
		lb_raw(b, "-", 1);
	lb_raw(b, "\"", 1);
}

size_t
edge_accesslog_format(
    const struct log_conf *lc, unsigned worker, const struct edge_logrec *lr, char *out, size_t cap)
{
	struct lbuf b = {out, 0, cap > 2 ? cap - 2 : 0, false}; /* "}\n" always fits */
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (lc->format == LOG_FORMAT_COMBINED) {
		lb_combined(&b, lr, &ts);
	} else {
		const unsigned char *f = lc->n_fields > 0 ? lc->fields : default_fields;
		size_t n = lc->n_fields > 0 ? lc->n_fields : sizeof default_fields;
		bool first = true;

		lb_raw(&b, "{", 1);
		for (size_t i = 0; i < n; i++) {
			if (f[i] >= LOG_FIELD__COUNT)
				continue;
			lb_fmt(&b, "%s\"%s\":", first ? "" : ",", log_field_names[f[i]]);
			lb_json_field(&b, (enum log_field)f[i], worker, lr, &ts);
			first = false;
		}
		if (b.cut) {
			/* cut: end the line as valid JSON with what fits */
			b.len = 0;
			lb_raw(&b, "{\"truncated\":true", 17);
		}
		out[b.len++] = '}';
	}
	out[b.len++] = '\n';
	return b.len;
}

/* Copies n bytes at pos of r's ring out of it / into it (wrapping). */
static void
ring_get(const struct edge_alog *a, const struct alog_ring *r, uint64_t pos, void *dst, size_t n)
{
	size_t off = (size_t)pos & (a->cap - 1), first = a->cap - off < n ? a->cap - off : n;

	memcpy(dst, r->buf + off, first);
	memcpy((char *)dst + first, r->buf, n - first);
}

static void
ring_put(struct edge_alog *a, struct alog_ring *r, uint64_t pos, const void *src, size_t n)
{
	size_t off = (size_t)pos & (a->cap - 1), first = a->cap - off < n ? a->cap - off : n;

	memcpy(r->buf + off, src, first);
	memcpy(r->buf, (const char *)src + first, n - first);
}

void
edge_accesslog_write(struct edge_worker *w, const struct edge_logrec *lr)
{
	struct edge_alog *a = w->srv->alog;
	char line[ALOG_LINE_MAX];
	struct alog_rec rec = {0, 0};
	size_t n;
	struct alog_ring *r;
	uint64_t head, tail;

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
		        lr->duration_us / 1000,
		    memory_order_relaxed);
	}
	if (a == NULL)
		return;
	rec.len = (uint32_t)edge_accesslog_format(&a->lc, w->id, lr, line, sizeof line);
	rec.stamp_us = time_mono_us();
	n = sizeof rec + rec.len;
	r = &a->rings[w->id];
	tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	head = atomic_load_explicit(&r->head, memory_order_acquire);
	if (n > a->cap - (tail - head)) {
		EDGE_COUNT(&w->metrics, access_log_dropped_total);
		return;
	}
	ring_put(a, r, tail, &rec, sizeof rec);
	ring_put(a, r, tail + sizeof rec, line, rec.len);
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	if (tail + n - head >= a->cap / 2 &&
	    !atomic_exchange_explicit(&r->kicked, true, memory_order_relaxed)) {
		uint64_t one = 1;

		(void)!write(a->kick_fd, &one, sizeof one);
	}
}

/* ---- the writer thread ---- */

/* Connects the syslog socket (again); 0 or -1. */
static int
alog_sys_connect(struct edge_alog *a)
{
	if (a->sys_fd != -1)
		close(a->sys_fd);
	a->sys_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->sys_fd == -1)
		return -1;
	if (connect(a->sys_fd, (const struct sockaddr *)&a->sys_addr, sizeof a->sys_addr) == -1) {
		close(a->sys_fd);
		a->sys_fd = -1;
		return -1;
	}
	return 0;
}

/* Sends one line (without its newline) as a syslog message. */
static void
alog_sys_send(struct edge_alog *a, const char *line, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char t[64];
	int pri = (int)a->lc.syslog_facility * 8 + 6; /* info */
	int h;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (a->lc.syslog_framing == LOG_SYSLOG_RFC3164) {
		/* RFC 3164 §4.1: <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG */
		strftime(t, sizeof t, "%b %e %H:%M:%S", &tm);
		h = snprintf(
		    a->scratch, 512, "<%d>%s %s %s[%d]: ", pri, t, a->host, a->sys_tag, a->pid);
	} else {
		/* RFC 5424 §6: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG */
		strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
		h = snprintf(a->scratch, 512, "<%d>1 %s.%06ldZ %s %s %d - - ", pri, t,
		    ts.tv_nsec / 1000L, a->host, a->sys_tag, a->pid);
	}
	if (h < 0 || h >= 512)
		return;
	if (len > ALOG_LINE_MAX)
		len = ALOG_LINE_MAX;
	memcpy(a->scratch + h, line, len);
	if (send(a->sys_fd, a->scratch, (size_t)h + len, MSG_NOSIGNAL) == -1 &&
	    (errno == ECONNREFUSED || errno == ENOTCONN) && alog_sys_connect(a) == 0)
		(void)send(a->sys_fd, a->scratch, (size_t)h + len, MSG_NOSIGNAL);
}

/* Writes iov to the file whole (partial writes continued; a failure is
 * logged once per flush and the bytes are lost). */
static void
alog_file_write(struct edge_alog *a, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(a->fd, iov, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			log_err("log", "access log: write failed: %s", strerror(errno));
			return;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
}

/* Writes the batch to the file. */
static void
alog_batch_write(struct edge_alog *a)
{
	struct iovec iov = {a->batch, a->batch_len};

	if (a->fd != -1 && a->batch_len > 0)
		alog_file_write(a, &iov, 1);
	a->batch_len = 0;
}

/* Empties the rings, the records of all merged in the order of their
 * stamps (each ring is in order already), so that the file's lines follow
 * the responses' order across workers. */
static void
alog_flush(struct edge_alog *a)
{
	if (a->sys_addr.sun_family == AF_UNIX && a->sys_fd == -1)
		(void)alog_sys_connect(a); /* the syslog daemon may be back */
	for (unsigned i = 0; i < a->n; i++) {
		atomic_store_explicit(&a->rings[i].kicked, false, memory_order_relaxed);
		a->pos[i] = atomic_load_explicit(&a->rings[i].head, memory_order_relaxed);
	}
	for (;;) {
		struct alog_rec rec, best_rec = {0, 0};
		int best = -1;

		for (unsigned i = 0; i < a->n; i++) {
			if (a->pos[i] ==
			    atomic_load_explicit(&a->rings[i].tail, memory_order_acquire))
				continue;
			ring_get(a, &a->rings[i], a->pos[i], &rec, sizeof rec);
			if (best == -1 || rec.stamp_us < best_rec.stamp_us) {
				best = (int)i;
				best_rec = rec;
			}
		}
		if (best == -1)
			break;
		ring_get(a, &a->rings[best], a->pos[best] + sizeof best_rec, a->line, best_rec.len);
		a->pos[best] += sizeof best_rec + best_rec.len;
		atomic_store_explicit(&a->rings[best].head, a->pos[best], memory_order_release);
		if (a->fd != -1) {
			if (a->batch_len + best_rec.len > sizeof a->batch)
				alog_batch_write(a);
			memcpy(a->batch + a->batch_len, a->line, best_rec.len);
			a->batch_len += best_rec.len;
		}
		if (a->sys_fd != -1)
			alog_sys_send(a, a->line, best_rec.len - 1); /* without the newline */
	}
	alog_batch_write(a);
}

static void *
alog_main(void *arg)
{
	struct edge_alog *a = arg;
	bool stop;

	log_set_thread_name("alog");
	do {
		struct pollfd pfd = {.fd = a->kick_fd, .events = POLLIN};
		uint64_t v;

		if (poll(&pfd, 1, ALOG_FLUSH_MS) == 1)
			(void)!read(a->kick_fd, &v, sizeof v);
		stop = atomic_load(&a->stop);
		alog_flush(a);
	} while (!stop);
	return NULL;
}

struct edge_alog *
edge_accesslog_start(const struct log_conf *lc, int fd, unsigned n_workers, size_t buffer_bytes)
{
	struct edge_alog *a = xcalloc(1, sizeof *a);

	a->lc = *lc;
	a->fd = fd;
	a->sys_fd = -1;
	a->pid = (int)getpid();
	a->cap = buffer_bytes;
	a->n = n_workers;
	a->rings = xcalloc(n_workers, sizeof *a->rings);
	a->pos = xcalloc(n_workers, sizeof *a->pos);
	for (unsigned i = 0; i < n_workers; i++)
		a->rings[i].buf = xmalloc(a->cap);
	snprintf(a->sys_tag, sizeof a->sys_tag, "%s",
	    lc->syslog_tag != NULL ? lc->syslog_tag : "outpost");
	if (gethostname(a->host, sizeof a->host - 1) == -1 || a->host[0] == '\0')
		snprintf(a->host, sizeof a->host, "-");
	if (lc->syslog_socket != NULL) {
		a->sys_addr.sun_family = AF_UNIX;
		snprintf(
		    a->sys_addr.sun_path, sizeof a->sys_addr.sun_path, "%s", lc->syslog_socket);
		if (alog_sys_connect(a) == -1)
			log_warn("log",
			    "syslog socket \"%s\": cannot connect: %s (trying again "
			    "with each batch)",
			    lc->syslog_socket, strerror(errno));
	}
	a->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->kick_fd == -1 || pthread_create(&a->thread, NULL, alog_main, a) != 0) {
		log_err("log", "access log: cannot start its writer thread");
		if (a->kick_fd != -1)
			close(a->kick_fd);
		a->kick_fd = -1;
		edge_accesslog_stop(&a);
		return NULL;
	}
	return a;
}

void
edge_accesslog_stop(struct edge_alog **ap)
{
	struct edge_alog *a = *ap;

	if (a == NULL)
		return;
	*ap = NULL;
	if (a->kick_fd != -1) {
		uint64_t one = 1;

		atomic_store(&a->stop, true);
		(void)!write(a->kick_fd, &one, sizeof one);
		pthread_join(a->thread, NULL);
		close(a->kick_fd);
	}
	if (a->sys_fd != -1)
		close(a->sys_fd);
	for (unsigned i = 0; i < a->n; i++)
		free(a->rings[i].buf);
	free(a->rings);
	free(a->pos);
	free(a);
}
