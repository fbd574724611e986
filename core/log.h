/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/log.h — the error log: one line per event on stderr (or a file), with
 * time, level, subsystem and the calling worker.  Lines are lower-case and name
 * the object they speak of.  Thread-safe; each line is one write(2).
 */
#ifndef OUTPOST_CORE_LOG_H
#define OUTPOST_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/*
 * The fields an access log line may carry (log.fields), in one table: the
 * enum, the configuration's names and the JSON keys.  The default list is
 * the fields marked 1, in this order.
 */
#define LOG_FIELD_TABLE(X)                                                                         \
	X(time, 1)                                                                                 \
	X(client, 1)                                                                               \
	X(worker, 1)                                                                               \
	X(method, 1)                                                                               \
	X(host, 1)                                                                                 \
	X(path, 1)                                                                                 \
	X(query, 0)                                                                                \
	X(status, 1)                                                                               \
	X(bytes, 1)                                                                                \
	X(cache, 1)                                                                                \
	X(tier, 0)                                                                                 \
	X(site, 0)                                                                                 \
	X(route, 0)                                                                                \
	X(pool, 0)                                                                                 \
	X(duration_ms, 1)                                                                          \
	X(duration_us, 0)                                                                          \
	X(tls, 0)                                                                                  \
	X(protocol, 0)                                                                             \
	X(user_agent, 0)                                                                           \
	X(referer, 0)                                                                              \
	X(request_id, 0)                                                                           \
	X(upstream, 0)                                                                             \
	X(upstream_ms, 0)

enum log_field {
#define LOG_FIELD_ENUM(name, dflt) LOG_FIELD_##name,
	LOG_FIELD_TABLE(LOG_FIELD_ENUM)
#undef LOG_FIELD_ENUM
	    LOG_FIELD__COUNT
};

/* The names of the fields, by enum log_field. */
extern const char *const log_field_names[LOG_FIELD__COUNT];

enum log_format {
	LOG_FORMAT_JSON = 0, /* one JSON object a line, the fields of log.fields */
	LOG_FORMAT_COMBINED, /* Apache/nginx "combined" */
};

enum log_syslog_framing {
	LOG_SYSLOG_RFC5424 = 0,
	LOG_SYSLOG_RFC3164,
};

/* Settings of the logs (config/ fills them from log; zeroed: the defaults). */
struct log_conf {
	char *access;           /* log.access: path of the access log, or NULL for none */
	char *access_where;     /* "file:line:column: log.access", for the file check */
	char *level;            /* log.level: error|warn|info|debug, NULL: info */
	enum log_format format; /* log.format, default json */
	uint64_t buffer_bytes;  /* log.buffer: each worker's queue of access log lines,
	                           rounded up to a power of two; 0: the default, 1MiB */
	/* log.fields: the JSON fields in order; n_fields 0: the default list */
	unsigned char fields[LOG_FIELD__COUNT];
	size_t n_fields;
	/* log.syslog: the access log lines also go to a datagram Unix socket */
	char *syslog_socket;      /* log.syslog.socket, or NULL: no syslog */
	unsigned syslog_facility; /* log.syslog.facility (0..23), default 16 (local0) */
	char *syslog_tag;         /* log.syslog.tag, default "outpost" */
	enum log_syslog_framing syslog_framing; /* log.syslog.framing, default rfc5424 */
	/* log.request_id.keep_client: a valid X-Request-Id of the client's is kept
	 * (else the node's replaces it); default false */
	bool request_id_keep_client;
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
