/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/ctl_ops.c — see ctl_ops.h.
 *
 * warm runs its requests from one thread with poll(): a fixed set of slots
 * (the concurrency), each one connection and one request ("Connection:
 * close", so the end of the body is the close; Content-Length or the chunked
 * end is checked against it), started no faster than the rate allows.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config_value.h"
#include "core/xmalloc.h"
#include "ctl/ctl_http.h"
#include "ctl/ctl_ops.h"

#define CTL_OPS_POLL_US 50000 /* between two looks at a process or the node */

static uint64_t
ctl_ops_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- upgrade ---- */

/* The admin address is this machine's: a loopback address or "localhost". */
static bool
ctl_ops_is_local(const char *admin)
{
	char err[CONFIG_VALUE_ERRLEN], *host = NULL;
	uint16_t port;
	bool local;

	if (config_value_hostport(admin, &host, &port, err, sizeof err) == -1)
		return false;
	local = strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	        strcmp(host, "localhost") == 0;
	free(host);
	return local;
}

/* The process is gone, or a zombie its parent has not reaped yet. */
static bool
ctl_ops_pid_gone(long pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* "pid (comm) S ..." */
	return p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/* The process is an outpost daemon (its name, as the kernel keeps it). */
static bool
ctl_ops_is_outpost(long pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	if (fgets(comm, sizeof comm, f) == NULL)
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, "outpost") == 0;
}

/* The pid from a pid file's first line; 0 after printing why. */
static long
ctl_ops_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[64], *end;
	long pid;

	if (f == NULL) {
		fprintf(stderr, "outpostctl: upgrade: %s: %s\n", path, strerror(errno));
		return 0;
	}
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	pid = strtol(line, &end, 10);
	if (end == line || *end != '\0' || pid <= 0) {
		fprintf(stderr, "outpostctl: upgrade: %s: no process id on its first line\n", path);
		return 0;
	}
	return pid;
}

/* The pid the node reports on /status.json (0 after printing why, with
 * *rc the exit code). */
static long
ctl_ops_status_pid(const struct ctl_ctx *c, int *rc)
{
	struct ctl_reply r;
	char err[CTL_HTTP_ERRLEN];
	json_t *j, *v;
	long pid = 0;

	*rc = CTL_EXIT_USAGE;
	if (!ctl_ops_is_local(c->admin)) {
		fprintf(stderr,
		    "outpostctl: upgrade: the node at %s is not on this machine: run it there, or "
		    "give --pid or --pidfile\n",
		    c->admin);
		return 0;
	}
	/* /status.json, or /status on a node that serves its JSON there */
	for (int i = 0; i < 2; i++) {
		if (ctl_http(c->admin, "GET", i == 0 ? "/status.json" : "/status", NULL, NULL,
		        c->timeout_ms, &r, err, sizeof err) == -1) {
			fprintf(stderr, "outpostctl: upgrade: %s\n", err);
			*rc = CTL_EXIT_CONNECT;
			return 0;
		}
		if (r.status != 404 || i == 1)
			break;
		ctl_reply_free(&r);
	}
	j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	v = json_object_get(j, "pid");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		pid = (long)json_integer_value(v);
	else
		fprintf(stderr,
		    "outpostctl: upgrade: the node does not report its process id on /status.json "
		    "(%d): give --pid or --pidfile\n",
		    r.status);
	json_decref(j);
	ctl_reply_free(&r);
	return pid;
}

int
ctl_ops_upgrade(const struct ctl_ctx *c, const struct ctl_upgrade_args *a)
{
	uint64_t deadline = ctl_ops_now_ms() + c->timeout_ms;
	char err[CTL_HTTP_ERRLEN];
	struct ctl_reply r;
	long pid = a->pid;
	int rc = CTL_EXIT_USAGE;

	if (pid == 0 && a->pidfile != NULL && (pid = ctl_ops_pidfile(a->pidfile)) == 0)
		return CTL_EXIT_USAGE;
	if (pid == 0 && (pid = ctl_ops_status_pid(c, &rc)) == 0)
		return rc;
	if (!ctl_ops_is_outpost(pid)) {
		fprintf(stderr, "outpostctl: upgrade: process %ld is not an outpost daemon\n", pid);
		return CTL_EXIT_USAGE;
	}
	if (kill((pid_t)pid, SIGUSR2) == -1) {
		fprintf(stderr, "outpostctl: upgrade: signal to process %ld: %s\n", pid,
		    strerror(errno));
		return CTL_EXIT_HTTP;
	}
	while (!ctl_ops_pid_gone(pid)) {
		if (ctl_ops_now_ms() >= deadline) {
			fprintf(stderr,
			    "outpostctl: upgrade: process %ld still runs: the new one refused "
			    "(see the node's log) or the old one is still draining\n",
			    pid);
			return CTL_EXIT_HTTP;
		}
		usleep(CTL_OPS_POLL_US);
	}
	for (;;) {
		uint64_t now = ctl_ops_now_ms();

		if (ctl_http(c->admin, "GET", "/healthz", NULL, NULL,
		        deadline > now ? deadline - now : 1, &r, err, sizeof err) == 0) {
			int status = r.status;

			ctl_reply_free(&r);
			if (status == 200)
				break;
		}
		if (ctl_ops_now_ms() >= deadline) {
			fprintf(stderr,
			    "outpostctl: upgrade: process %ld exited but the node does not answer "
			    "/healthz with 200 at %s\n",
			    pid, c->admin);
			return CTL_EXIT_CONNECT;
		}
		usleep(CTL_OPS_POLL_US);
	}
	printf("upgraded: process %ld handed over and exited; the node at %s is healthy\n", pid,
	    c->admin);
	return CTL_EXIT_OK;
}

/* ---- warm ---- */

#define CTL_WARM_HEAD_MAX 16384 /* of a response head kept to parse */
#define CTL_WARM_BAR      30    /* characters of the progress bar */

struct ctl_warm_url {
	char *host; /* "host[:port]" for the Host field */
	char *path; /* origin-form target */
	char *url;  /* as written, for messages */
};

enum ctl_warm_state {
	CTL_WARM_IDLE = 0,
	CTL_WARM_CONNECTING,
	CTL_WARM_READING,
};

struct ctl_warm_slot {
	enum ctl_warm_state state;
	int fd;
	size_t url;        /* index of the URL */
	uint64_t deadline; /* ms, monotonic */
	char head[CTL_WARM_HEAD_MAX];
	size_t head_len;
	bool head_done;
	int status;
	long long content_length; /* -1: not given */
	bool chunked;
	bool hit;
	uint64_t body; /* bytes after the head */
	char tail[5];  /* the last bytes of the body (a chunked end: "0\r\n\r\n") */
};

struct ctl_warm {
	const struct ctl_ctx *c;
	struct ctl_warm_url *urls;
	size_t n_urls, next, done, failed, hits;
	uint64_t bytes, t0, last_progress;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool tty;
};

static void
ctl_warm_free_urls(struct ctl_warm *w)
{
	for (size_t i = 0; i < w->n_urls; i++) {
		free(w->urls[i].host);
		free(w->urls[i].path);
		free(w->urls[i].url);
	}
	free(w->urls);
}

/* Reads the list: one http:// URL a line, '#' comments and blank lines
 * skipped.  0, or -1 after printing "file:line: reason". */
static int
ctl_warm_read(struct ctl_warm *w, const char *file)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	char *line = NULL;
	size_t cap = 0, cap_urls = 0;
	unsigned lineno = 0;
	ssize_t n;
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "outpostctl: warm: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) != -1) {
		char *p = line, *slash, *end;
		struct ctl_warm_url *u;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
		                    line[n - 1] == '\t'))
			line[--n] = '\0';
		p += strspn(p, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		if (strncasecmp(p, "http://", 7) != 0 || p[7] == '\0' || p[7] == '/') {
			fprintf(stderr,
			    "outpostctl: warm: %s:%u: \"%.80s\" is not an http:// URL (warm "
			    "requests "
			    "through a plain HTTP listener)\n",
			    file, lineno, p);
			rc = -1;
			break;
		}
		for (end = p; *end != '\0'; end++)
			if ((unsigned char)*end <= ' ' || *end == 0x7f)
				break;
		if (*end != '\0') {
			fprintf(stderr,
			    "outpostctl: warm: %s:%u: a space or control byte in the URL\n", file,
			    lineno);
			rc = -1;
			break;
		}
		if (w->n_urls == cap_urls) {
			cap_urls = cap_urls ? 2 * cap_urls : 64;
			w->urls = xrealloc(w->urls, cap_urls * sizeof *w->urls);
		}
		u = &w->urls[w->n_urls++];
		slash = strpbrk(p + 7, "/?");
		u->host = xstrndup(p + 7, slash != NULL ? (size_t)(slash - p - 7) : strlen(p + 7));
		if (slash == NULL)
			u->path = xstrdup("/");
		else if (*slash == '?') {
			u->path = xmalloc(strlen(slash) + 2);
			u->path[0] = '/';
			strcpy(u->path + 1, slash);
		} else
			u->path = xstrdup(slash);
		u->url = xstrdup(p);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (rc == 0 && w->n_urls == 0) {
		fprintf(stderr, "outpostctl: warm: %s: no URL\n", file);
		rc = -1;
	}
	return rc;
}

static void
ctl_warm_progress(struct ctl_warm *w, bool final)
{
	uint64_t now = ctl_ops_now_ms();
	double secs = (double)(now - w->t0) / 1000.0;
	double rps = secs > 0 ? (double)w->done / secs : 0;

	if (!final && now - w->last_progress < (w->tty ? 100u : 1000u))
		return;
	w->last_progress = now;
	if (w->tty) {
		char bar[CTL_WARM_BAR + 1];
		size_t fill = w->n_urls ? w->done * CTL_WARM_BAR / w->n_urls : CTL_WARM_BAR;

		memset(bar, '#', fill);
		memset(bar + fill, '.', CTL_WARM_BAR - fill);
		bar[CTL_WARM_BAR] = '\0';
		fprintf(stderr, "\r\033[K[%s] %3zu%% %zu/%zu, %zu failed, %.1f/s", bar,
		    w->n_urls ? w->done * 100 / w->n_urls : 100, w->done, w->n_urls, w->failed,
		    rps);
		if (final)
			fputc('\n', stderr);
	} else if (!final) {
		fprintf(stderr, "warm: %zu/%zu done, %zu failed\n", w->done, w->n_urls, w->failed);
	}
	fflush(stderr);
}

static void
ctl_warm_close(struct ctl_warm_slot *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	s->state = CTL_WARM_IDLE;
}

/* The request in s ended: counted as done, ok or failed (why: NULL when it
 * is judged by the response). */
static void
ctl_warm_end(struct ctl_warm *w, struct ctl_warm_slot *s, const char *why)
{
	bool complete =
	    s->head_done && (s->content_length >= 0 ? s->body == (uint64_t)s->content_length
	                        : s->chunked        ? memcmp(s->tail, "0\r\n\r\n", 5) == 0
	                                            : true);
	const char *url = w->urls[s->url].url;

	w->done++;
	if (why == NULL && !complete)
		why = "the response ended early";
	if (why == NULL && (s->status < 200 || s->status > 399)) {
		if (w->tty)
			fprintf(stderr, "\r\033[K");
		fprintf(stderr, "warm: failed: %s: %d\n", url, s->status);
		w->failed++;
	} else if (why != NULL) {
		if (w->tty)
			fprintf(stderr, "\r\033[K");
		fprintf(stderr, "warm: failed: %s: %s\n", url, why);
		w->failed++;
	} else {
		w->hits += s->hit;
	}
	ctl_warm_close(s);
}

/* Parses the response head in s (complete, NUL-terminated at its end). */
static void
ctl_warm_head(struct ctl_warm_slot *s)
{
	char *line = s->head, *eol;

	s->status = 0;
	if (strncmp(line, "HTTP/1.", 7) == 0 && strlen(line) > 12)
		s->status = atoi(line + 9);
	for (eol = strstr(line, "\r\n"); eol != NULL; eol = strstr(line, "\r\n")) {
		*eol = '\0';
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			s->content_length = strtoll(line + 15, NULL, 10);
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
		         strstr(line + 18, "chunked") != NULL)
			s->chunked = true;
		else if (strncasecmp(line, "X-Cache:", 8) == 0 && strstr(line + 8, "HIT") != NULL)
			s->hit = true;
		line = eol + 2;
	}
}

static void
ctl_warm_body(struct ctl_warm_slot *s, const char *p, size_t n)
{
	s->body += n;
	if (n >= sizeof s->tail) {
		memcpy(s->tail, p + n - sizeof s->tail, sizeof s->tail);
	} else {
		memmove(s->tail, s->tail + n, sizeof s->tail - n);
		memcpy(s->tail + sizeof s->tail - n, p, n);
	}
}

/* Reads what came on s; ends the request at the close or on an error. */
static void
ctl_warm_read_some(struct ctl_warm *w, struct ctl_warm_slot *s)
{
	char buf[65536];
	ssize_t n = read(s->fd, buf, sizeof buf);

	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR)
			ctl_warm_end(w, s, strerror(errno));
		return;
	}
	if (n == 0) {
		ctl_warm_end(w, s, s->head_done ? NULL : "no response");
		return;
	}
	w->bytes += (uint64_t)n;
	if (!s->head_done) {
		size_t room = sizeof s->head - 1 - s->head_len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		char *end;

		memcpy(s->head + s->head_len, buf, take);
		s->head_len += take;
		s->head[s->head_len] = '\0';
		end = strstr(s->head, "\r\n\r\n");
		if (end == NULL) {
			if (s->head_len == sizeof s->head - 1)
				ctl_warm_end(w, s, "response head too long");
			return;
		}
		{
			size_t head_bytes = (size_t)(end + 4 - s->head);
			size_t before = s->head_len - take; /* bytes of earlier reads */

			end[2] = '\0';
			s->head_done = true;
			ctl_warm_head(s);
			ctl_warm_body(
			    s, buf + (head_bytes - before), (size_t)n - (head_bytes - before));
		}
		return;
	}
	ctl_warm_body(s, buf, (size_t)n);
}

/* Starts the next URL on s: connect (non-blocking); the request goes out
 * once connected. */
static void
ctl_warm_start(struct ctl_warm *w, struct ctl_warm_slot *s)
{
	memset(s, 0, sizeof *s);
	s->url = w->next++;
	s->content_length = -1;
	s->deadline = ctl_ops_now_ms() + w->c->timeout_ms;
	s->fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		ctl_warm_end(w, s, strerror(errno));
		return;
	}
	if (connect(s->fd, (struct sockaddr *)&w->addr, w->addrlen) == -1 && errno != EINPROGRESS) {
		ctl_warm_end(w, s, strerror(errno));
		return;
	}
	s->state = CTL_WARM_CONNECTING;
}

/* Connected: sends the request (small: one write). */
static void
ctl_warm_send(struct ctl_warm *w, struct ctl_warm_slot *s)
{
	const struct ctl_warm_url *u = &w->urls[s->url];
	int err = 0;
	socklen_t el = sizeof err;
	size_t cap = strlen(u->path) + strlen(u->host) + 160;
	char *req;
	int len;
	ssize_t n;

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
		err = errno;
	if (err != 0) {
		ctl_warm_end(w, s, strerror(err));
		return;
	}
	req = xmalloc(cap);
	len = snprintf(req, cap,
	    "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: outpostctl-warm/%s\r\n"
	    "Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
	    u->path, u->host, PACKAGE_VERSION);
	n = send(s->fd, req, (size_t)len, MSG_NOSIGNAL);
	free(req);
	if (n != len) {
		ctl_warm_end(w, s, n == -1 ? strerror(errno) : "short send");
		return;
	}
	s->state = CTL_WARM_READING;
}

int
ctl_ops_warm(const struct ctl_ctx *c, const struct ctl_warm_args *a)
{
	struct ctl_warm w = {.c = c};
	struct ctl_warm_slot *slots;
	struct pollfd *pfd;
	char err[CONFIG_VALUE_ERRLEN], sent[32];
	double secs;

	if (config_value_sockaddr(a->node, &w.addr, &w.addrlen, err, sizeof err) == -1) {
		fprintf(stderr, "outpostctl: warm: --node %s: %s\n", a->node, err);
		return CTL_EXIT_USAGE;
	}
	if (ctl_warm_read(&w, a->file) == -1) {
		ctl_warm_free_urls(&w);
		return CTL_EXIT_USAGE;
	}
	w.tty = isatty(STDERR_FILENO) == 1;
	slots = xcalloc(a->concurrency, sizeof *slots);
	pfd = xcalloc(a->concurrency, sizeof *pfd);
	for (unsigned i = 0; i < a->concurrency; i++)
		slots[i].fd = -1;
	w.t0 = w.last_progress = ctl_ops_now_ms();
	while (w.done < w.n_urls) {
		uint64_t now = ctl_ops_now_ms(), wake = now + 1000;
		nfds_t np = 0;

		for (unsigned i = 0; i < a->concurrency; i++) {
			struct ctl_warm_slot *s = &slots[i];

			if (s->state == CTL_WARM_IDLE && w.next < w.n_urls) {
				/* the rate: URL k starts no earlier than t0 + k / rate */
				uint64_t due =
				    a->rate > 0
				        ? w.t0 + (uint64_t)((double)w.next * 1000.0 / a->rate)
				        : now;

				if (due <= now)
					ctl_warm_start(&w, s);
				else if (due < wake)
					wake = due;
			}
			if (s->state != CTL_WARM_IDLE && s->deadline <= now)
				ctl_warm_end(&w, s, "timed out");
			if (s->state == CTL_WARM_IDLE)
				continue;
			if (s->deadline < wake)
				wake = s->deadline;
			pfd[np].fd = s->fd;
			pfd[np].events = s->state == CTL_WARM_CONNECTING ? POLLOUT : POLLIN;
			pfd[np].revents = 0;
			np++;
		}
		now = ctl_ops_now_ms();
		if (np > 0 || w.done < w.n_urls)
			(void)poll(pfd, np, wake > now ? (int)(wake - now) : 0);
		for (unsigned i = 0, k = 0; i < a->concurrency && k < np; i++) {
			struct ctl_warm_slot *s = &slots[i];

			if (s->state == CTL_WARM_IDLE || pfd[k].fd != s->fd)
				continue;
			if (pfd[k].revents != 0) {
				if (s->state == CTL_WARM_CONNECTING)
					ctl_warm_send(&w, s);
				else
					ctl_warm_read_some(&w, s);
			}
			k++;
		}
		ctl_warm_progress(&w, false);
	}
	ctl_warm_progress(&w, true);
	secs = (double)(ctl_ops_now_ms() - w.t0) / 1000.0;
	ctl_cmd_fmt_bytes((long long)w.bytes, sent, sizeof sent);
	printf("warm: %zu URLs: %zu ok (%zu already cached), %zu failed; %s in %.1f s (%.1f/s)\n",
	    w.n_urls, w.n_urls - w.failed, w.hits, w.failed, sent, secs,
	    secs > 0 ? (double)w.n_urls / secs : 0.0);
	free(slots);
	free(pfd);
	ctl_warm_free_urls(&w);
	return w.failed > 0 ? CTL_EXIT_HTTP : CTL_EXIT_OK;
}

/* ---- top ---- */

#define CTL_TOP_COLS     80
#define CTL_TOP_ROWS     24
#define CTL_TOP_LINE     256
#define CTL_TOP_MAX_ROWS 64 /* lines a frame is built with, before the cut */
#define CTL_TOP_LIST     5  /* sites and hosts shown */

struct ctl_top_sample {
	json_t *metrics; /* ctl_cmd_metrics_json; NULL: none */
	json_t *status;  /* the /status object; NULL: none */
	uint64_t at_ms;
};

struct ctl_top_frame {
	char lines[CTL_TOP_MAX_ROWS][CTL_TOP_LINE];
	unsigned n;
};

static volatile sig_atomic_t ctl_top_stop;

static void
ctl_top_on_signal(int sig)
{
	(void)sig;
	ctl_top_stop = 1;
}

static void __attribute__((format(printf, 2, 3)))
ctl_top_line(struct ctl_top_frame *f, const char *fmt, ...)
{
	va_list ap;

	if (f->n == CTL_TOP_MAX_ROWS)
		return;
	va_start(ap, fmt);
	vsnprintf(f->lines[f->n++], CTL_TOP_LINE, fmt, ap);
	va_end(ap);
}

static double
ctl_top_num(json_t *v)
{
	if (json_is_number(v))
		return json_number_value(v);
	return 0;
}

/* The label's value in a sample, or NULL. */
static const char *
ctl_top_label(json_t *sample, const char *label)
{
	return json_string_value(json_object_get(json_object_get(sample, "labels"), label));
}

/* The sum of the series of name whose label is value and whose label2 is
 * value2 (each only when given). */
static double
ctl_top_sum2(json_t *metrics, const char *name, const char *label, const char *value,
    const char *label2, const char *value2)
{
	size_t i;
	json_t *s;
	double sum = 0;

	json_array_foreach(metrics, i, s)
	{
		const char *lv;

		if (strcmp(json_string_value(json_object_get(s, "name")), name) != 0)
			continue;
		if (label != NULL &&
		    ((lv = ctl_top_label(s, label)) == NULL || strcmp(lv, value) != 0))
			continue;
		if (label2 != NULL &&
		    ((lv = ctl_top_label(s, label2)) == NULL || strcmp(lv, value2) != 0))
			continue;
		sum += ctl_top_num(json_object_get(s, "value"));
	}
	return sum;
}

/* The sum of the series of name (whose label is value when label is given). */
static double
ctl_top_sum(json_t *metrics, const char *name, const char *label, const char *value)
{
	return ctl_top_sum2(metrics, name, label, value, NULL, NULL);
}

/* Whether any series of name exists. */
static bool
ctl_top_has(json_t *metrics, const char *name)
{
	size_t i;
	json_t *s;

	json_array_foreach(metrics, i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
			return true;
	}
	return false;
}

/* A counter's rate between two samples (a restart's drop counts as 0). */
static double
ctl_top_rate(const struct ctl_top_sample *a, const struct ctl_top_sample *b, const char *name,
    const char *label, const char *value)
{
	double d = ctl_top_sum(b->metrics, name, label, value) -
	           ctl_top_sum(a->metrics, name, label, value);
	double secs = (double)(b->at_ms - a->at_ms) / 1000.0;

	return d > 0 && secs > 0 ? d / secs : 0;
}

/*
 * The q-quantile (0..1) of what histogram name observed between the two
 * samples, in seconds, from the deltas of its cumulative buckets (linear
 * within a bucket, as Prometheus's histogram_quantile); -1 without
 * observations or without the histogram.
 */
static double
ctl_top_quantile(
    const struct ctl_top_sample *a, const struct ctl_top_sample *b, const char *name, double q)
{
	char bucket[128];
	double les[64], cnt[64];
	size_t n = 0, i;
	json_t *s;

	snprintf(bucket, sizeof bucket, "%s_bucket", name);
	json_array_foreach(b->metrics, i, s)
	{
		const char *le = ctl_top_label(s, "le");
		double v;
		size_t k;

		if (le == NULL ||
		    strcmp(json_string_value(json_object_get(s, "name")), bucket) != 0)
			continue;
		v = strcmp(le, "+Inf") == 0 ? HUGE_VAL : strtod(le, NULL);
		for (k = 0; k < n && les[k] != v; k++)
			;
		if (k == n) {
			if (n == sizeof les / sizeof les[0])
				continue;
			les[n] = v;
			cnt[n++] = 0;
		}
		cnt[k] += ctl_top_num(json_object_get(s, "value"));
	}
	/* minus the earlier sample, bucket by bucket */
	json_array_foreach(a->metrics, i, s)
	{
		const char *le = ctl_top_label(s, "le");
		double v;

		if (le == NULL ||
		    strcmp(json_string_value(json_object_get(s, "name")), bucket) != 0)
			continue;
		v = strcmp(le, "+Inf") == 0 ? HUGE_VAL : strtod(le, NULL);
		for (size_t k = 0; k < n; k++)
			if (les[k] == v)
				cnt[k] -= ctl_top_num(json_object_get(s, "value"));
	}
	/* sort by bound (few buckets: insertion sort) */
	for (size_t x = 1; x < n; x++)
		for (size_t y = x; y > 0 && les[y - 1] > les[y]; y--) {
			double t = les[y];

			les[y] = les[y - 1];
			les[y - 1] = t;
			t = cnt[y];
			cnt[y] = cnt[y - 1];
			cnt[y - 1] = t;
		}
	if (n == 0 || !(cnt[n - 1] > 0))
		return -1;
	for (size_t k = 0; k < n; k++) {
		double rank = q * cnt[n - 1], lo = k > 0 ? les[k - 1] : 0,
		       below = k > 0 ? cnt[k - 1] : 0;

		if (cnt[k] < rank)
			continue;
		if (les[k] == HUGE_VAL)
			return lo; /* beyond the last finite bound: say that bound */
		return cnt[k] > below ? lo + (les[k] - lo) * (rank - below) / (cnt[k] - below)
		                      : les[k];
	}
	return les[n - 1] == HUGE_VAL && n > 1 ? les[n - 2] : les[n - 1];
}

static void
ctl_top_fmt_ms(double secs, char *out, size_t len)
{
	if (secs < 0)
		snprintf(out, len, "-");
	else if (secs < 0.01)
		snprintf(out, len, "%.1f ms", secs * 1000);
	else if (secs < 1)
		snprintf(out, len, "%.0f ms", secs * 1000);
	else
		snprintf(out, len, "%.2f s", secs);
}

static void
ctl_top_fmt_rate_bytes(double v, char *out, size_t len)
{
	char b[32];

	ctl_cmd_fmt_bytes((long long)v, b, sizeof b);
	snprintf(out, len, "%s/s", b);
}

struct ctl_top_row {
	char name[64];
	double rps, hit;
};

static int
ctl_top_row_cmp(const void *x, const void *y)
{
	const struct ctl_top_row *a = x, *b = y;

	return a->rps < b->rps ? 1 : a->rps > b->rps ? -1 : strcmp(a->name, b->name);
}

/* Whether a series of name carries label. */
static bool
ctl_top_has_label(json_t *metrics, const char *name, const char *label)
{
	size_t i;
	json_t *s;

	json_array_foreach(metrics, i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0 &&
		    ctl_top_label(s, label) != NULL)
			return true;
	}
	return false;
}

/* Rows for each value of label on outpost_requests_total (or, when it has no
 * such label, outpost_responses_total and its cache="hit" series: the
 * node's own per-site family), busiest first; how many (at most max). */
static size_t
ctl_top_rows(const struct ctl_top_sample *a, const struct ctl_top_sample *b, const char *label,
    struct ctl_top_row *rows, size_t max)
{
	bool by_responses = !ctl_top_has_label(b->metrics, "outpost_requests_total", label);
	const char *family = by_responses ? "outpost_responses_total" : "outpost_requests_total";
	const char *hits = by_responses ? "outpost_responses_total" : "outpost_cache_hits_total";
	const char *hit_label = by_responses ? "cache" : NULL;
	size_t n = 0, i;
	json_t *s;

	json_array_foreach(b->metrics, i, s)
	{
		const char *v = ctl_top_label(s, label);
		size_t k;
		double req;

		if (v == NULL || strcmp(json_string_value(json_object_get(s, "name")), family) != 0)
			continue;
		for (k = 0; k < n && strcmp(rows[k].name, v) != 0; k++)
			;
		if (k < n || n == max)
			continue;
		snprintf(rows[n].name, sizeof rows[n].name, "%s", v);
		rows[n].rps = ctl_top_rate(a, b, family, label, v);
		req = ctl_top_sum(b->metrics, family, label, v) -
		      ctl_top_sum(a->metrics, family, label, v);
		rows[n].hit =
		    req > 0 ? 100.0 *
		                  (ctl_top_sum2(b->metrics, hits, label, v, hit_label, "hit") -
		                      ctl_top_sum2(a->metrics, hits, label, v, hit_label, "hit")) /
		                  req
		            : -1;
		n++;
	}
	qsort(rows, n, sizeof *rows, ctl_top_row_cmp);
	return n;
}

static void
ctl_top_build(struct ctl_top_frame *f, const struct ctl_top_sample *a,
    const struct ctl_top_sample *b, const char *admin, const char *err)
{
	json_t *st = b->status, *m = b->metrics;
	double req = ctl_top_rate(a, b, "outpost_requests_total", NULL, NULL);
	double hits = ctl_top_rate(a, b, "outpost_cache_hits_total", NULL, NULL);
	double disk = ctl_top_rate(a, b, "outpost_cache_disk_hits_total", NULL, NULL);
	double miss = ctl_top_rate(a, b, "outpost_cache_misses_total", NULL, NULL);
	double pass = ctl_top_rate(a, b, "outpost_cache_passes_total", NULL, NULL);
	double looked = hits + miss + pass;
	char t[48], x[48], y[48], z[48], now[16];
	struct ctl_top_row rows[CTL_TOP_MAX_ROWS];
	time_t tt = time(NULL);
	struct tm tm;
	size_t n, i;
	json_t *s;

	strftime(now, sizeof now, "%H:%M:%S", localtime_r(&tt, &tm));
	f->n = 0;
	ctl_top_line(f, "outpost top  %s  node %s %s  up %llds  %lld workers%s", now,
	    st != NULL && json_string_value(json_object_get(st, "node")) != NULL
	        ? json_string_value(json_object_get(st, "node"))
	        : admin,
	    st != NULL && json_string_value(json_object_get(st, "version")) != NULL
	        ? json_string_value(json_object_get(st, "version"))
	        : "",
	    (long long)json_integer_value(json_object_get(st, "uptime_s")),
	    (long long)json_integer_value(json_object_get(st, "workers")),
	    json_is_true(json_object_get(st, "draining")) ? "  DRAINING" : "");
	if (err != NULL)
		ctl_top_line(f, "!! %s (showing the last answer)", err);
	ctl_top_fmt_rate_bytes(
	    ctl_top_rate(a, b, "outpost_bytes_sent_total", NULL, NULL), t, sizeof t);
	ctl_top_line(f, "requests %9.1f/s   sent %12s   connections %6.0f open", req, t,
	    ctl_top_sum(m, "outpost_connections_active", NULL, NULL));
	if (looked > 0)
		ctl_top_line(f,
		    "hit ratio %6.1f%%   RAM %5.1f%%  disk %5.1f%%  miss %5.1f%%  pass %5.1f%%",
		    100.0 * hits / looked, 100.0 * (hits - disk) / looked, 100.0 * disk / looked,
		    100.0 * miss / looked, 100.0 * pass / looked);
	else
		ctl_top_line(f, "hit ratio      -   (no cache lookups in the interval)");
	ctl_top_line(f, "origin   %9.1f/s   errors %6.1f/s   timeouts %6.1f/s   retries %6.1f/s",
	    ctl_top_rate(a, b, "outpost_origin_requests_total", NULL, NULL),
	    ctl_top_rate(a, b, "outpost_origin_errors_total", NULL, NULL),
	    ctl_top_rate(a, b, "outpost_origin_timeouts_total", NULL, NULL),
	    ctl_top_rate(a, b, "outpost_origin_retries_total", NULL, NULL));
	ctl_top_line(f, "client errors %6.1f/s (4xx by the node)   timeouts %6.1f/s",
	    ctl_top_rate(a, b, "outpost_client_errors_total", NULL, NULL),
	    ctl_top_rate(a, b, "outpost_client_timeouts_total", NULL, NULL));
	if (ctl_top_has(m, "outpost_request_duration_seconds_bucket") ||
	    ctl_top_has(m, "outpost_origin_first_byte_seconds_bucket")) {
		ctl_top_fmt_ms(
		    ctl_top_quantile(a, b, "outpost_request_duration_seconds", 0.5), t, sizeof t);
		ctl_top_fmt_ms(
		    ctl_top_quantile(a, b, "outpost_request_duration_seconds", 0.95), x, sizeof x);
		ctl_top_fmt_ms(
		    ctl_top_quantile(a, b, "outpost_origin_first_byte_seconds", 0.5), y, sizeof y);
		ctl_top_fmt_ms(
		    ctl_top_quantile(a, b, "outpost_origin_first_byte_seconds", 0.95), z, sizeof z);
		ctl_top_line(f, "latency  request p50 %s  p95 %s   origin 1st byte p50 %s  p95 %s",
		    t, x, y, z);
	}
	ctl_cmd_fmt_bytes(
	    (long long)ctl_top_sum(m, "outpost_cache_ram_bytes", NULL, NULL), t, sizeof t);
	ctl_cmd_fmt_bytes(
	    (long long)ctl_top_sum(m, "outpost_cache_disk_bytes", NULL, NULL), x, sizeof x);
	ctl_top_line(f, "cache    RAM %s in %.0f objects   disk %s in %.0f objects", t,
	    ctl_top_sum(m, "outpost_cache_ram_objects", NULL, NULL), x,
	    ctl_top_sum(m, "outpost_cache_disk_objects", NULL, NULL));
	n = ctl_top_rows(a, b, "site", rows, CTL_TOP_MAX_ROWS);
	if (n > 0) {
		ctl_top_line(f, "%s", "");
		ctl_top_line(f, "%-40s %10s %8s", "SITE", "REQ/S", "HIT%");
		for (i = 0; i < n && i < CTL_TOP_LIST; i++) {
			if (rows[i].hit >= 0)
				ctl_top_line(f, "%-40.40s %10.1f %7.1f%%", rows[i].name,
				    rows[i].rps, rows[i].hit);
			else
				ctl_top_line(
				    f, "%-40.40s %10.1f %8s", rows[i].name, rows[i].rps, "-");
		}
	}
	n = ctl_top_rows(a, b, "host", rows, CTL_TOP_MAX_ROWS);
	if (n > 0) {
		ctl_top_line(f, "%s", "");
		ctl_top_line(f, "%-40s %10s", "TOP HOSTS", "REQ/S");
		for (i = 0; i < n && i < CTL_TOP_LIST; i++)
			ctl_top_line(f, "%-40.40s %10.1f", rows[i].name, rows[i].rps);
	}
	if (ctl_top_has(m, "outpost_origin_member_up")) {
		ctl_top_line(f, "%s", "");
		ctl_top_line(f, "%-20s %-36s %5s %9s", "POOL", "MEMBER", "STATE", "IN FLIGHT");
		json_array_foreach(m, i, s)
		{
			const char *pool = ctl_top_label(s, "pool"),
			           *member = ctl_top_label(s, "member");

			if (strcmp(json_string_value(json_object_get(s, "name")),
			        "outpost_origin_member_up") != 0 ||
			    pool == NULL || member == NULL)
				continue;
			ctl_top_line(f, "%-20.20s %-36.36s %5s %9.0f", pool, member,
			    ctl_top_num(json_object_get(s, "value")) > 0 ? "up" : "DOWN",
			    ctl_top_sum(m, "outpost_origin_member_in_flight", "member", member));
		}
	}
}

/* Draws f: in place on a terminal (rows x cols), as plain lines otherwise. */
static void
ctl_top_draw(const struct ctl_top_frame *f, bool tty, bool first)
{
	unsigned rows = CTL_TOP_ROWS, cols = CTL_TOP_COLS;
	struct winsize ws;

	if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		rows = ws.ws_row;
		cols = ws.ws_col < CTL_TOP_LINE - 1 ? ws.ws_col : CTL_TOP_LINE - 1;
	}
	if (tty)
		fputs(first ? "\033[?25l\033[H\033[2J" : "\033[H", stdout);
	else if (!first)
		putchar('\n');
	/* on a terminal the last row stays empty: a newline there would scroll */
	for (unsigned i = 0; i < f->n && i < (tty ? rows - 1 : CTL_TOP_MAX_ROWS); i++) {
		int len = (int)strlen(f->lines[i]);

		printf("%.*s%s\n", len < (int)cols ? len : (int)cols, f->lines[i],
		    tty ? "\033[K" : "");
	}
	if (tty)
		fputs("\033[J", stdout);
	fflush(stdout);
}

/* Takes a sample: 0, or -1 with a reason in err. */
static int
ctl_top_sample(const struct ctl_ctx *c, struct ctl_top_sample *s, char *err, size_t errlen)
{
	static const char *status_path = "/status.json";
	struct ctl_reply r;

	memset(s, 0, sizeof *s);
	if (ctl_http(c->admin, "GET", "/metrics", NULL, NULL, c->timeout_ms, &r, err, errlen) == -1)
		return -1;
	if (r.status != 200) {
		snprintf(err, errlen, "/metrics: %d %s", r.status, r.reason);
		ctl_reply_free(&r);
		return -1;
	}
	s->at_ms = ctl_ops_now_ms();
	s->metrics = ctl_cmd_metrics_json(r.body, r.body_len);
	ctl_reply_free(&r);
	/* /status.json, or /status on a node that serves its JSON there */
	for (int i = 0; i < 2; i++) {
		if (ctl_http(c->admin, "GET", status_path, NULL, NULL, c->timeout_ms, &r, err,
		        errlen) == -1)
			return -1;
		if (r.status == 404 && strcmp(status_path, "/status.json") == 0) {
			ctl_reply_free(&r);
			status_path = "/status";
			continue;
		}
		if (r.status == 200)
			s->status = json_loadb(r.body, r.body_len, 0, NULL);
		ctl_reply_free(&r);
		break;
	}
	return 0;
}

static void
ctl_top_sample_free(struct ctl_top_sample *s)
{
	json_decref(s->metrics);
	json_decref(s->status);
	memset(s, 0, sizeof *s);
}

/* Sleeps ms, or less when a signal asks to stop. */
static void
ctl_top_sleep(uint64_t ms)
{
	uint64_t until = ctl_ops_now_ms() + ms;

	while (!ctl_top_stop && ctl_ops_now_ms() < until)
		usleep(20000);
}

int
ctl_ops_top(const struct ctl_ctx *c, const struct ctl_top_args *a)
{
	struct ctl_top_sample prev, cur;
	struct ctl_top_frame *f = xcalloc(1, sizeof *f);
	struct sigaction sa;
	bool tty = isatty(STDOUT_FILENO) == 1;
	char err[CTL_HTTP_ERRLEN];
	int rc = CTL_EXIT_OK;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_top_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (ctl_top_sample(c, &prev, err, sizeof err) == -1) {
		fprintf(stderr, "outpostctl: top: %s\n", err);
		ctl_top_sample_free(&prev);
		free(f);
		return CTL_EXIT_CONNECT;
	}
	for (unsigned frame = 0; !ctl_top_stop && (a->iterations == 0 || frame < a->iterations);
	     frame++) {
		const char *why = NULL;

		ctl_top_sleep(a->interval_ms);
		if (ctl_top_stop)
			break;
		if (ctl_top_sample(c, &cur, err, sizeof err) == -1) {
			ctl_top_sample_free(&cur);
			if (a->iterations != 0) {
				fprintf(stderr, "outpostctl: top: %s\n", err);
				rc = CTL_EXIT_CONNECT;
				break;
			}
			why = err;
			cur.metrics = json_incref(prev.metrics);
			cur.status = json_incref(prev.status);
			cur.at_ms = prev.at_ms;
		}
		ctl_top_build(f, &prev, &cur, c->admin, why);
		ctl_top_draw(f, tty, frame == 0);
		ctl_top_sample_free(&prev);
		prev = cur;
	}
	if (tty)
		fputs("\033[?25h", stdout);
	fflush(stdout);
	ctl_top_sample_free(&prev);
	free(f);
	return rc;
}
