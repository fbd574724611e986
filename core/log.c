/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/log.c — error log writer.  The level is a relaxed atomic read on every
 * call so a disabled debug line costs one load; the line is formatted on the
 * stack and written with one write(2) to stderr, so lines from different
 * threads never interleave.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static _Atomic int log_level = LOG_LEVEL_INFO;
static _Thread_local char log_thread[16] = "main";

static const char *const log_level_names[] = {
    [LOG_LEVEL_ERR] = "error",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

void
log_set_level(enum log_level lvl)
{
	atomic_store_explicit(&log_level, (int)lvl, memory_order_relaxed);
}

const char *const log_field_names[LOG_FIELD__COUNT] = {
#define LOG_FIELD_NAME(name, dflt) #name,
    LOG_FIELD_TABLE(LOG_FIELD_NAME)
#undef LOG_FIELD_NAME
};

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof log_level_names / sizeof log_level_names[0]; i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_set_thread_name(const char *name)
{
	snprintf(log_thread, sizeof log_thread, "%s", name);
}

void
log_vmsg(enum log_level lvl, const char *subsys, const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	if ((int)lvl > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof line - n, ".%03ldZ %s [%s] %s: ", ts.tv_nsec / 1000000L,
	    log_level_names[lvl], log_thread, subsys);
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	r = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void
log_msg(enum log_level lvl, const char *subsys, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, subsys, fmt, ap);
	va_end(ap);
}
