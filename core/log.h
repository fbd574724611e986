/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/log.h — the error log: one line per event on stderr (or a file), with
 * time, level, subsystem and the calling worker.  Lines are lower-case and name
 * the object they speak of.  Thread-safe; each line is one write(2).
 */
#ifndef OUTPOST_CORE_LOG_H
#define OUTPOST_CORE_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Settings of the logs (config/ fills them from log; zeroed: the defaults). */
struct log_conf {
	char *access;       /* log.access: path of the access log, or NULL for none */
	char *access_where; /* "file:line:column: log.access", for the file check */
	char *level;        /* log.level: error|warn|info|debug, NULL: info */
};

/* Sets the most verbose level written (default LOG_LEVEL_INFO). */
void log_set_level(enum log_level lvl);
/* Parses "error", "warn", "info", "debug"; -1 on anything else. */
int log_level_parse(const char *s, enum log_level *out);
/* Names the calling thread in its log lines ("main", "w0", ...). Copies. */
void log_set_thread_name(const char *name);

void log_msg(enum log_level lvl, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level lvl, const char *subsys, const char *fmt, va_list ap);

#define log_err(sub, ...)   log_msg(LOG_LEVEL_ERR, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_msg(LOG_LEVEL_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_msg(LOG_LEVEL_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...) log_msg(LOG_LEVEL_DEBUG, sub, __VA_ARGS__)

#endif
