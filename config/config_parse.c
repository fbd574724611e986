/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config_parse.c — config_load(): YAML file → validated snapshot.
 *
 * Two passes.  First the libyaml event stream is turned into a small tree of
 * scalars, sequences and mappings that remembers where each node starts
 * (1-based line and column).  Then the tree is walked section by section
 * with the key path of the current node ("pools[0].members[1].address") kept
 * in a buffer, filling a snapshot that starts with every default.
 *
 * Every problem is recorded, not just the first: the walk goes on after an
 * error, and at the end the messages are sorted by position and written to
 * errf as "file:line:column: key.path: reason".  A YAML syntax error stops
 * the first pass (libyaml cannot resume), so it is reported alone.
 *
 * Choices: aliases ("*name") are rejected (anchors alone are harmless and
 * ignored), so no node is shared and no input can expand; a single document
 * is allowed; a null value ("key:", "~", "null") counts as an absent key.
 * Pool names are resolved after both "sites" and "pools" are read, so their
 * order in the file does not matter.
 *
 * Called from the main thread at start and on reload; uses no global state.
 */
/* <config.h>: "config.h" would find config/config.h, next to this file. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pcre2.h>
#include <yaml.h>

#include "config/config.h"
#include "config/config_file.h"
#include "config/config_parse.h"
#include "config/config_tls.h"
#include "config/config_value.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "origin/origin_pool.h"
#include "origin/origin_sibling.h"

#define CONFIG_MAX_DEPTH   64
#define CONFIG_WORKERS_MAX 256
#define CONFIG_DAY_MS      (24ULL * 3600 * 1000)

enum cnode_type {
	CNODE_SCALAR = 0,
	CNODE_SEQ,
	CNODE_MAP,
	CNODE_BAD, /* an alias, already reported: skipped silently */
};

struct cnode {
	enum cnode_type type;
	unsigned line, col;  /* 1-based */
	char *str;           /* scalar value, NUL-terminated */
	bool plain;          /* unquoted scalar (null detection) */
	struct cnode **kids; /* seq: items; map: key, value, key, value... */
	size_t n, cap;
};

struct cerr {
	unsigned line, col;
	size_t seq;
	char *msg;
};

struct cref {
	struct config_pool **slot; /* where the resolved pool goes */
	const struct cnode *name;
	char *path; /* key path of the reference */
};

struct chost {
	const char *name;
	const struct cnode *node;
	size_t site;
	char *path;
};

struct cparse {
	const char *file;
	struct config *c;
	struct cerr *errs;
	size_t n_errs, cap_errs;
	char path[512];
	size_t plen;
	struct cref *refs;
	size_t n_refs, cap_refs;
	struct chost *hosts;
	size_t n_hosts, cap_hosts;
	struct coding_conf site_coding; /* the site's compression (types: views into
	                                   the tree), what its routes start from */
	const struct cnode *tls_listen; /* first "tls: true" listener value */
	char *tls_listen_path;
	size_t tls_sites;              /* sites with a tls section */
	const struct cnode *pp_listen; /* first "proxy_protocol: true" value */
	char *pp_listen_path;
	bool has_default;                            /* a site said tls.default: true */
	const struct config_srv_member *srv_members; /* siblings.srv's, resolved */
	size_t n_srv_members;
};

static char *
cparse_vfmt(const char *fmt, va_list ap)
{
	va_list ap2;
	char *s;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	s = xmalloc((size_t)n + 1);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static void cparse_err_at(struct cparse *p, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* msg with its control characters (a value quoted in it may hold newlines)
 * written as \xNN, so each error stays one line.  Takes msg. */
static char *
cparse_printable(char *msg)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0, k = 0;
	char *out;

	for (const char *q = msg; *q != '\0'; q++)
		n += (unsigned char)*q < 0x20 || *q == 0x7f ? 4 : 1;
	if (n == strlen(msg))
		return msg;
	out = xmalloc(n + 1);
	for (const char *q = msg; *q != '\0'; q++) {
		unsigned char ch = (unsigned char)*q;

		if (ch < 0x20 || ch == 0x7f) {
			out[k++] = '\\';
			out[k++] = 'x';
			out[k++] = hex[ch >> 4];
			out[k++] = hex[ch & 15];
		} else {
			out[k++] = (char)ch;
		}
	}
	out[k] = '\0';
	free(msg);
	return out;
}

static void
cparse_err_at(struct cparse *p, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	if (p->n_errs == p->cap_errs) {
		p->cap_errs = p->cap_errs ? p->cap_errs * 2 : 8;
		p->errs = xrealloc(p->errs, p->cap_errs * sizeof p->errs[0]);
	}
	va_start(ap, fmt);
	p->errs[p->n_errs] =
	    (struct cerr){line, col, p->n_errs, cparse_printable(cparse_vfmt(fmt, ap))};
	va_end(ap);
	p->n_errs++;
}

/* "file:line:col: <current key path>: reason" at node n. */
static void cparse_err(struct cparse *p, const struct cnode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cparse_err(struct cparse *p, const struct cnode *n, const char *fmt, ...)
{
	va_list ap;
	char *reason;

	va_start(ap, fmt);
	reason = cparse_vfmt(fmt, ap);
	va_end(ap);
	cparse_err_at(p, n->line, n->col, "%s:%u:%u: %s: %s", p->file, n->line, n->col,
	    p->plen ? p->path : "top level", reason);
	free(reason);
}

static int
cparse_err_cmp(const void *a, const void *b)
{
	const struct cerr *ea = a, *eb = b;

	if (ea->line != eb->line)
		return ea->line < eb->line ? -1 : 1;
	if (ea->col != eb->col)
		return ea->col < eb->col ? -1 : 1;
	return ea->seq < eb->seq ? -1 : ea->seq > eb->seq;
}

/* Key path helpers: each returns the length to restore with cparse_pop. */
static size_t
cparse_push_key(struct cparse *p, const char *key)
{
	size_t old = p->plen;
	int n;

	n = snprintf(p->path + p->plen, sizeof p->path - p->plen, "%s%s", p->plen ? "." : "", key);
	if (n > 0)
		p->plen =
		    p->plen + (size_t)n < sizeof p->path ? p->plen + (size_t)n : sizeof p->path - 1;
	return old;
}

static size_t
cparse_push_index(struct cparse *p, size_t i)
{
	size_t old = p->plen;
	int n;

	n = snprintf(p->path + p->plen, sizeof p->path - p->plen, "[%zu]", i);
	if (n > 0)
		p->plen =
		    p->plen + (size_t)n < sizeof p->path ? p->plen + (size_t)n : sizeof p->path - 1;
	return old;
}

static void
cparse_pop(struct cparse *p, size_t old)
{
	p->plen = old;
	p->path[old] = '\0';
}

/* ---- Pass 1: events → tree ---------------------------------------------- */

static struct cnode *
cnode_new(enum cnode_type type, const yaml_mark_t *m)
{
	struct cnode *n = xcalloc(1, sizeof *n);

	n->type = type;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	return n;
}

static void
cnode_add(struct cnode *parent, struct cnode *kid)
{
	if (parent->n == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 4;
		parent->kids = xrealloc(parent->kids, parent->cap * sizeof parent->kids[0]);
	}
	parent->kids[parent->n++] = kid;
}

static void
cnode_free(struct cnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		cnode_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static const char *
cnode_type_name(const struct cnode *n)
{
	switch (n->type) {
	case CNODE_SCALAR:
		return "a scalar";
	case CNODE_SEQ:
		return "a sequence";
	case CNODE_MAP:
		return "a mapping";
	case CNODE_BAD:
		break;
	}
	return "an alias";
}

static bool
cnode_is_null(const struct cnode *n)
{
	return n->type == CNODE_SCALAR && n->plain &&
	       (n->str[0] == '\0' || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0);
}

static void
cparse_yaml_error(struct cparse *p, const yaml_parser_t *yp)
{
	const yaml_mark_t *m = &yp->problem_mark;
	const char *problem = yp->problem ? yp->problem : "invalid YAML";

	if (yp->error == YAML_READER_ERROR) {
		cparse_err_at(
		    p, 1, 1, "%s:1:1: yaml: %s at byte %zu", p->file, problem, yp->problem_offset);
		return;
	}
	if (yp->context != NULL)
		cparse_err_at(p, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    "%s:%u:%u: yaml: %s (%s at line %u, column %u)", p->file, (unsigned)m->line + 1,
		    (unsigned)m->column + 1, problem, yp->context,
		    (unsigned)yp->context_mark.line + 1, (unsigned)yp->context_mark.column + 1);
	else
		cparse_err_at(p, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    "%s:%u:%u: yaml: %s", p->file, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    problem);
}

/* Returns the root node, or NULL (nothing usable; errors recorded). */
static struct cnode *
cparse_tree(struct cparse *p, FILE *f)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	struct cnode *stack[CONFIG_MAX_DEPTH];
	struct cnode *root = NULL;
	size_t depth = 0;
	unsigned docs = 0;
	bool done = false, failed = false;

	if (!yaml_parser_initialize(&yp)) {
		cparse_err_at(p, 0, 0, "%s: yaml: cannot initialize the parser", p->file);
		return NULL;
	}
	yaml_parser_set_input_file(&yp, f);
	while (!done) {
		struct cnode *n = NULL;

		if (!yaml_parser_parse(&yp, &ev)) {
			cparse_yaml_error(p, &yp);
			failed = true;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				cparse_err_at(p, (unsigned)ev.start_mark.line + 1,
				    (unsigned)ev.start_mark.column + 1,
				    "%s:%u:%u: yaml: only one document is allowed", p->file,
				    (unsigned)ev.start_mark.line + 1,
				    (unsigned)ev.start_mark.column + 1);
				failed = done = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			cparse_err_at(p, (unsigned)ev.start_mark.line + 1,
			    (unsigned)ev.start_mark.column + 1,
			    "%s:%u:%u: yaml: aliases are not supported (\"*%s\")", p->file,
			    (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
			    (const char *)(const void *)ev.data.alias.anchor);
			n = cnode_new(CNODE_BAD, &ev.start_mark);
			break;
		case YAML_SCALAR_EVENT:
			n = cnode_new(CNODE_SCALAR, &ev.start_mark);
			n->str = xstrndup((const char *)(const void *)ev.data.scalar.value,
			    ev.data.scalar.length);
			n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
			n = cnode_new(CNODE_SEQ, &ev.start_mark);
			break;
		case YAML_MAPPING_START_EVENT:
			n = cnode_new(CNODE_MAP, &ev.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		if (n != NULL) {
			if (depth > 0)
				cnode_add(stack[depth - 1], n);
			else if (root == NULL)
				root = n;
			else
				cnode_free(n);
			if (n->type == CNODE_SEQ || n->type == CNODE_MAP) {
				if (depth == CONFIG_MAX_DEPTH) {
					cparse_err_at(p, n->line, n->col,
					    "%s:%u:%u: yaml: nested deeper than %d levels", p->file,
					    n->line, n->col, CONFIG_MAX_DEPTH);
					failed = done = true;
				} else {
					stack[depth++] = n;
				}
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	if (failed) {
		cnode_free(root);
		return NULL;
	}
	if (root == NULL || cnode_is_null(root))
		cparse_err_at(p, 1, 1, "%s:1:1: top level: the file is empty", p->file);
	return root;
}

/* ---- Pass 2: helpers ----------------------------------------------------- */

/* The value of the first pair named key, or NULL (absent or null). */
static const struct cnode *
cmap_get(const struct cnode *m, const char *key, const struct cnode **key_node)
{
	size_t i;

	for (i = 0; i + 1 < m->n; i += 2) {
		const struct cnode *k = m->kids[i];

		if (k->type == CNODE_SCALAR && strcmp(k->str, key) == 0) {
			if (key_node != NULL)
				*key_node = k;
			return cnode_is_null(m->kids[i + 1]) ? NULL : m->kids[i + 1];
		}
	}
	return NULL;
}

/* A node that is not a BAD placeholder, with a type error when it is not want. */
static bool
cparse_type(struct cparse *p, const struct cnode *n, enum cnode_type want)
{
	static const char *const names[] = {
	    [CNODE_SCALAR] = "a scalar",
	    [CNODE_SEQ] = "a sequence",
	    [CNODE_MAP] = "a mapping",
	};

	if (n->type == CNODE_BAD)
		return false;
	if (n->type != want) {
		cparse_err(p, n, "expected %s, got %s", names[want], cnode_type_name(n));
		return false;
	}
	return true;
}

/*
 * Checks that n is a mapping whose keys are scalars, known (in keys) and
 * unique.  Returns false when n is not a usable mapping.
 */
static bool
cparse_map(struct cparse *p, const struct cnode *n, const char *const *keys)
{
	size_t i, j, old;

	if (!cparse_type(p, n, CNODE_MAP))
		return false;
	for (i = 0; i + 1 < n->n; i += 2) {
		const struct cnode *k = n->kids[i];
		bool known = false;

		if (k->type == CNODE_BAD)
			continue;
		if (k->type != CNODE_SCALAR) {
			cparse_err(p, k, "keys must be scalars, got %s", cnode_type_name(k));
			continue;
		}
		old = cparse_push_key(p, k->str);
		for (j = 0; keys[j] != NULL && !known; j++)
			known = strcmp(keys[j], k->str) == 0;
		if (!known) {
			cparse_err(p, k, "unknown key");
		} else {
			for (j = 0; j < i; j += 2) {
				const struct cnode *prev = n->kids[j];

				if (prev->type == CNODE_SCALAR && strcmp(prev->str, k->str) == 0) {
					cparse_err(p, k,
					    "duplicate key (first at line %u, "
					    "column %u)",
					    prev->line, prev->col);
					break;
				}
			}
		}
		cparse_pop(p, old);
	}
	return true;
}

/* A required key of map m: reports "missing required key" when absent. */
static const struct cnode *
cparse_required(struct cparse *p, const struct cnode *m, const char *key)
{
	const struct cnode *k = NULL, *v = cmap_get(m, key, &k);
	size_t old;

	if (v != NULL)
		return v;
	old = cparse_push_key(p, key);
	if (k != NULL)
		cparse_err(p, k, "a value is required");
	else
		cparse_err(p, m, "missing required key");
	cparse_pop(p, old);
	return NULL;
}

/* A non-empty sequence, or NULL after an error. */
static bool
cparse_seq(struct cparse *p, const struct cnode *n)
{
	if (!cparse_type(p, n, CNODE_SEQ))
		return false;
	if (n->n == 0) {
		cparse_err(p, n, "must not be empty");
		return false;
	}
	return true;
}

/* A non-empty scalar's text, or NULL after an error. */
static const char *
cparse_str(struct cparse *p, const struct cnode *n)
{
	if (!cparse_type(p, n, CNODE_SCALAR))
		return NULL;
	if (n->str[0] == '\0') {
		cparse_err(p, n, "must not be empty");
		return NULL;
	}
	return n->str;
}

/*
 * Typed getters for map m, key: absent/null leaves *out untouched (the
 * default); an invalid value is reported under "path.key" and also leaves it.
 */
static void
cget_str(struct cparse *p, const struct cnode *m, const char *key, char **out)
{
	const struct cnode *v = cmap_get(m, key, NULL);
	size_t old;
	const char *s;

	if (v == NULL)
		return;
	old = cparse_push_key(p, key);
	if ((s = cparse_str(p, v)) != NULL) {
		free(*out);
		*out = xstrdup(s);
	}
	cparse_pop(p, old);
}

static char *cparse_where(struct cparse *p, const struct cnode *n);

/* cget_str for a file the node will write, keeping where it was named
 * (config_check_files reports against it). */
static void
cget_path_where(struct cparse *p, const struct cnode *m, const char *key, char **out, char **where)
{
	const struct cnode *v = cmap_get(m, key, NULL);
	size_t old;

	cget_str(p, m, key, out);
	if (v == NULL || *out == NULL)
		return;
	old = cparse_push_key(p, key);
	free(*where);
	*where = cparse_where(p, v);
	cparse_pop(p, old);
}

static void
cget_uint(struct cparse *p, const struct cnode *m, const char *key, uint64_t min, uint64_t max,
    unsigned *out)
{
	const struct cnode *v = cmap_get(m, key, NULL);
	uint64_t n;
	size_t old;

	if (v == NULL)
		return;
	old = cparse_push_key(p, key);
	if (cparse_type(p, v, CNODE_SCALAR)) {
		if (config_value_uint(v->str, &n) == -1)
			cparse_err(p, v,
			    "invalid number \"%.80s\" (expected an integer %llu..%llu)", v->str,
			    (unsigned long long)min, (unsigned long long)max);
		else if (n < min || n > max)
			cparse_err(p, v, "%llu is out of range (%llu..%llu)", (unsigned long long)n,
			    (unsigned long long)min, (unsigned long long)max);
		else
			*out = (unsigned)n;
	}
	cparse_pop(p, old);
}

static void
cget_size(struct cparse *p, const struct cnode *m, const char *key, uint64_t min, uint64_t max,
    uint64_t *out)
{
	const struct cnode *v = cmap_get(m, key, NULL);
	char err[CONFIG_VALUE_ERRLEN], lo[32], hi[32];
	uint64_t n;
	size_t old;

	if (v == NULL)
		return;
	old = cparse_push_key(p, key);
	if (cparse_type(p, v, CNODE_SCALAR)) {
		if (config_value_size(v->str, &n, err, sizeof err) == -1) {
			cparse_err(p, v, "%s", err);
		} else if (n < min || n > max) {
			config_value_fmt_size(min, lo, sizeof lo);
			config_value_fmt_size(max, hi, sizeof hi);
			cparse_err(p, v, "\"%.80s\" is out of range (%s..%s)", v->str, lo, hi);
		} else {
			*out = n;
		}
	}
	cparse_pop(p, old);
}

static void
cget_size32(struct cparse *p, const struct cnode *m, const char *key, uint64_t min, uint64_t max,
    uint32_t *out)
{
	uint64_t v = *out;

	cget_size(p, m, key, min, max, &v);
	*out = (uint32_t)v;
}

/* Durations into milliseconds (unit_ms 1) or whole seconds (unit_ms 1000). */
static void
cget_duration(struct cparse *p, const struct cnode *m, const char *key, uint64_t min_ms,
    uint64_t max_ms, unsigned unit_ms, unsigned *out)
{
	const struct cnode *v = cmap_get(m, key, NULL);
	char err[CONFIG_VALUE_ERRLEN], lo[32], hi[32];
	uint64_t ms;
	size_t old;

	if (v == NULL)
		return;
	old = cparse_push_key(p, key);
	if (cparse_type(p, v, CNODE_SCALAR)) {
		if (config_value_duration_ms(v->str, &ms, err, sizeof err) == -1) {
			cparse_err(p, v, "%s", err);
		} else if (ms < min_ms || ms > max_ms) {
			config_value_fmt_duration(min_ms, lo, sizeof lo);
			config_value_fmt_duration(max_ms, hi, sizeof hi);
			cparse_err(p, v, "\"%.80s\" is out of range (%s..%s)", v->str, lo, hi);
		} else if (ms % unit_ms != 0) {
			cparse_err(p, v, "\"%.80s\" is not a whole number of seconds", v->str);
		} else {
			*out = (unsigned)(ms / unit_ms);
		}
	}
	cparse_pop(p, old);
}

static void
cget_bool(
    struct cparse *p, const struct cnode *m, const char *key, bool *out, const struct cnode **where)
{
	const struct cnode *v = cmap_get(m, key, NULL);
	size_t old;

	if (v == NULL)
		return;
	old = cparse_push_key(p, key);
	if (cparse_type(p, v, CNODE_SCALAR)) {
		if (config_value_bool(v->str, out) == -1)
			cparse_err(p, v, "expected true or false, got \"%.80s\"", v->str);
		else if (where != NULL)
			*where = v;
	}
	cparse_pop(p, old);
}

/* A numeric listen address; *out keeps address/addr/addrlen. */
static void
cparse_listen_addr(struct cparse *p, const struct cnode *v, struct config_listen *out)
{
	char err[CONFIG_VALUE_ERRLEN];
	const char *s;

	if ((s = cparse_str(p, v)) == NULL)
		return;
	if (config_value_sockaddr(s, &out->addr, &out->addrlen, err, sizeof err) == -1) {
		cparse_err(p, v, "%s", err);
		return;
	}
	out->address = xstrdup(s);
}

/* ---- Pass 2: sections ---------------------------------------------------- */

/* node.user and node.group: names the system knows (edge/edge_privdrop.c
 * switches to them after start-up). */
static void
cparse_node_ids(struct cparse *p, const struct cnode *m)
{
	const struct cnode *v;
	size_t old;

	cget_str(p, m, "user", &p->c->node_user);
	cget_str(p, m, "group", &p->c->node_group);
	if (p->c->node_user != NULL && getpwnam(p->c->node_user) == NULL) {
		v = cmap_get(m, "user", NULL);
		old = cparse_push_key(p, "user");
		cparse_err(p, v, "no such user \"%.80s\"", p->c->node_user);
		cparse_pop(p, old);
	}
	if (p->c->node_group != NULL && getgrnam(p->c->node_group) == NULL) {
		v = cmap_get(m, "group", NULL);
		old = cparse_push_key(p, "group");
		cparse_err(p, v, "no such group \"%.80s\"", p->c->node_group);
		cparse_pop(p, old);
	}
}

static void
cparse_node(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"name", "workers", "user", "group", NULL};
	const struct cnode *v;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	cget_str(p, m, "name", &p->c->node_name);
	cparse_node_ids(p, m);
	/* it goes into Via and the /status JSON as it is: letters, digits and
	 * ".-_" only (a host name's alphabet) */
	if (p->c->node_name != NULL &&
	    (p->c->node_name[0] == '\0' || strlen(p->c->node_name) > 64 ||
	        strspn(p->c->node_name,
	            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
	            strlen(p->c->node_name))) {
		v = cmap_get(m, "name", NULL);
		old = cparse_push_key(p, "name");
		cparse_err(p, v, "invalid node name \"%.80s\" (1 to 64 of A-Z a-z 0-9 . - _)",
		    p->c->node_name);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "workers", NULL)) != NULL && v->type == CNODE_SCALAR &&
	    strcmp(v->str, "auto") == 0)
		return;
	if (v != NULL && v->type == CNODE_SCALAR &&
	    config_value_uint(v->str, &(uint64_t){0}) == -1) {
		old = cparse_push_key(p, "workers");
		cparse_err(p, v, "invalid value \"%.80s\" (expected \"auto\" or 1..%d)", v->str,
		    CONFIG_WORKERS_MAX);
		cparse_pop(p, old);
		return;
	}
	cget_uint(p, m, "workers", 1, CONFIG_WORKERS_MAX, &p->c->workers);
}

/* listen[].tls as a mapping: { protocols: [...], ciphers: S, ciphersuites: S } */
static void
cparse_listen_tls(struct cparse *p, const struct cnode *m, struct config_listen *l)
{
	static const char *const keys[] = {"protocols", "ciphers", "ciphersuites", NULL};
	const struct cnode *v;
	char err[512];
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	if ((v = cmap_get(m, "protocols", NULL)) != NULL) {
		old = cparse_push_key(p, "protocols");
		for (size_t i = 0; cparse_seq(p, v) && i < v->n; i++) {
			size_t o2 = cparse_push_index(p, i);
			const char *s = cparse_str(p, v->kids[i]);

			if (s == NULL)
				; /* reported */
			else if (strcmp(s, "TLSv1.2") == 0)
				l->tls_protocols |= CONFIG_TLS_V1_2;
			else if (strcmp(s, "TLSv1.3") == 0)
				l->tls_protocols |= CONFIG_TLS_V1_3;
			else if (strcmp(s, "TLSv1") == 0 || strcmp(s, "TLSv1.0") == 0 ||
			         strcmp(s, "TLSv1.1") == 0 || strcmp(s, "SSLv3") == 0)
				cparse_err(
				    p, v->kids[i], "\"%s\" is not supported (TLSv1.2, TLSv1.3)", s);
			else
				cparse_err(
				    p, v->kids[i], "expected TLSv1.2 or TLSv1.3, got \"%.80s\"", s);
			cparse_pop(p, o2);
		}
		cparse_pop(p, old);
	}
	for (int suites = 0; suites < 2; suites++) {
		const char *key = suites ? "ciphersuites" : "ciphers";
		char **out = suites ? &l->tls_ciphersuites : &l->tls_ciphers;

		cget_str(p, m, key, out);
		if (*out == NULL || config_tls_check_ciphers(*out, suites, err, sizeof err) == 0)
			continue;
		old = cparse_push_key(p, key);
		cparse_err(p, cmap_get(m, key, NULL), "%s", err);
		cparse_pop(p, old);
		free(*out);
		*out = NULL;
	}
}

/* listen[].http2: true | false | prior_knowledge; by default true on a
 * TLS listener (ALPN), false on a plain one. */
static void
cparse_listen_http2(struct cparse *p, const struct cnode *m, struct config_listen *l)
{
	const struct cnode *v = cmap_get(m, "http2", NULL);
	bool on = false;
	size_t old;

	l->http2 = l->tls ? CONFIG_HTTP2_ALPN : CONFIG_HTTP2_OFF;
	if (v == NULL)
		return;
	old = cparse_push_key(p, "http2");
	if (!cparse_type(p, v, CNODE_SCALAR)) {
		/* reported */
	} else if (strcmp(v->str, "prior_knowledge") == 0) {
		if (l->tls)
			cparse_err(p, v,
			    "prior_knowledge is for a plain listener (with tls, ALPN "
			    "negotiates h2: use true)");
		else
			l->http2 = CONFIG_HTTP2_PRIOR;
	} else if (config_value_bool(v->str, &on) == -1) {
		cparse_err(p, v, "expected true, false or prior_knowledge, got \"%.80s\"", v->str);
	} else if (on && !l->tls) {
		cparse_err(p, v,
		    "true needs tls (ALPN); a plain listener speaks h2c with "
		    "http2: prior_knowledge");
	} else {
		l->http2 = on ? CONFIG_HTTP2_ALPN : CONFIG_HTTP2_OFF;
	}
	cparse_pop(p, old);
}

static void
cparse_listens(struct cparse *p, const struct cnode *seq)
{
	static const char *const keys[] = {"address", "tls", "proxy_protocol", "http2", NULL};
	struct config *c = p->c;
	size_t i, j, old;

	if (!cparse_seq(p, seq))
		return;
	c->listens = xcalloc(seq->n, sizeof c->listens[0]);
	for (i = 0; i < seq->n; i++) {
		const struct cnode *m = seq->kids[i], *v, *tls = NULL;
		struct config_listen l = {0};

		old = cparse_push_index(p, i);
		if (cparse_map(p, m, keys)) {
			if ((v = cparse_required(p, m, "address")) != NULL) {
				size_t o2 = cparse_push_key(p, "address");

				cparse_listen_addr(p, v, &l);
				for (j = 0; j < c->n_listens && l.address != NULL; j++) {
					if (c->listens[j].addrlen == l.addrlen &&
					    memcmp(&c->listens[j].addr, &l.addr, l.addrlen) == 0) {
						cparse_err(p, v,
						    "duplicate address \"%s\" "
						    "(also listen[%zu])",
						    l.address, j);
						break;
					}
				}
				cparse_pop(p, o2);
			}
			if ((v = cmap_get(m, "tls", NULL)) != NULL && v->type == CNODE_MAP) {
				size_t o2 = cparse_push_key(p, "tls");

				l.tls = true;
				tls = v;
				cparse_listen_tls(p, v, &l);
				cparse_pop(p, o2);
			} else {
				cget_bool(p, m, "tls", &l.tls, &tls);
			}
			if (l.tls && p->tls_listen == NULL) {
				size_t o2 = cparse_push_key(p, "tls");

				p->tls_listen = tls;
				p->tls_listen_path = xstrdup(p->path);
				cparse_pop(p, o2);
			}
			if (l.tls)
				c->n_tls_listens++;
			cget_bool(p, m, "proxy_protocol", &l.proxy_protocol, NULL);
			if (l.proxy_protocol && p->pp_listen == NULL) {
				size_t o2 = cparse_push_key(p, "proxy_protocol");

				p->pp_listen = cmap_get(m, "proxy_protocol", NULL);
				p->pp_listen_path = xstrdup(p->path);
				cparse_pop(p, o2);
			}
			cparse_listen_http2(p, m, &l);
		}
		if (l.address != NULL) {
			c->listens[c->n_listens++] = l;
		} else {
			free(l.tls_ciphers);
			free(l.tls_ciphersuites);
		}
		cparse_pop(p, old);
	}
}

static void
cparse_admin(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"listen", NULL};
	const struct cnode *v;
	size_t i, old;

	if (!cparse_map(p, m, keys) || (v = cparse_required(p, m, "listen")) == NULL)
		return;
	old = cparse_push_key(p, "listen");
	cparse_listen_addr(p, v, &p->c->admin);
	for (i = 0; i < p->c->n_listens && p->c->admin.address != NULL; i++) {
		const struct config_listen *l = &p->c->listens[i];

		if (l->addrlen == p->c->admin.addrlen &&
		    memcmp(&l->addr, &p->c->admin.addr, l->addrlen) == 0) {
			cparse_err(p, v, "address \"%s\" is also listen[%zu]", l->address, i);
			break;
		}
	}
	cparse_pop(p, old);
}

/* The digest of a token: from "sha256" (64 hex digits) or from the contents
 * of "file" (surrounding whitespace cut). */
static void
cparse_token_digest(struct cparse *p, const struct cnode *m, struct purge_token_conf *t)
{
	const struct cnode *h = cmap_get(m, "sha256", NULL), *f = cmap_get(m, "file", NULL);
	size_t old;

	if ((h == NULL) == (f == NULL)) {
		cparse_err(p, m, "give one of sha256 and file");
		return;
	}
	if (h != NULL) {
		old = cparse_push_key(p, "sha256");
		if (cparse_type(p, h, CNODE_SCALAR)) {
			size_t i;

			for (i = 0; i < 64 && isxdigit((unsigned char)h->str[i]); i++) {
				unsigned v =
				    (unsigned)(h->str[i] <= '9' ? h->str[i] - '0'
				                                : (h->str[i] | 0x20) - 'a' + 10);

				t->sha256[i / 2] = (unsigned char)(t->sha256[i / 2] << 4 | v);
			}
			if (i != 64 || h->str[64] != '\0')
				cparse_err(
				    p, h, "must be 64 hex digits (the SHA-256 of the token)");
		}
		cparse_pop(p, old);
		return;
	}
	old = cparse_push_key(p, "file");
	if (cparse_str(p, f) != NULL) {
		char buf[4096];
		FILE *fp = config_file_fopen(f->str);
		size_t n = fp != NULL ? fread(buf, 1, sizeof buf, fp) : 0, b = 0;

		if (fp == NULL) {
			cparse_err(p, f, "cannot read \"%.200s\": %s", f->str, strerror(errno));
		} else {
			while (n > 0 && isspace((unsigned char)buf[n - 1]))
				n--;
			while (b < n && isspace((unsigned char)buf[b]))
				b++;
			if (n == b || n == sizeof buf)
				cparse_err(p, f, "\"%.200s\" must hold one token (1 to 4095 bytes)",
				    f->str);
			else
				SHA256((const unsigned char *)buf + b, n - b, t->sha256);
			OPENSSL_cleanse(buf, sizeof buf);
			fclose(fp);
		}
	}
	cparse_pop(p, old);
}

static void
cparse_purge_token(struct cparse *p, const struct cnode *m, struct purge_token_conf *t)
{
	static const char *const keys[] = {"id", "sha256", "file", "hosts", "all", NULL};
	const struct cnode *v;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	if ((v = cparse_required(p, m, "id")) != NULL) {
		old = cparse_push_key(p, "id");
		if (cparse_str(p, v) != NULL)
			t->id = xstrdup(v->str);
		cparse_pop(p, old);
	}
	cparse_token_digest(p, m, t);
	cget_bool(p, m, "all", &t->all, NULL);
	if ((v = cparse_required(p, m, "hosts")) == NULL)
		return;
	old = cparse_push_key(p, "hosts");
	if (cparse_seq(p, v)) {
		t->hosts = xcalloc(v->n, sizeof *t->hosts);
		for (size_t i = 0; i < v->n; i++) {
			const char *s;
			size_t o2 = cparse_push_index(p, i);

			if ((s = cparse_str(p, v->kids[i])) != NULL) {
				if (strchr(s + 1, '*') != NULL ||
				    (s[0] == '*' && s[1] != '\0' && s[1] != '.'))
					cparse_err(p, v->kids[i],
					    "\"%.80s\": a host, \"*.\" and a domain, or \"*\"", s);
				else
					t->hosts[t->n_hosts++] = xstrdup(s);
			}
			cparse_pop(p, o2);
		}
	}
	cparse_pop(p, old);
}

/* purge.client_listeners: [CIDR, ...] */
static void
cparse_purge_cidrs(struct cparse *p, const struct cnode *m)
{
	const struct cnode *v = cmap_get(m, "client_listeners", NULL);
	struct config *c = p->c;
	size_t old;

	if (v == NULL)
		return;
	old = cparse_push_key(p, "client_listeners");
	if (cparse_seq(p, v)) {
		c->purge.client_cidrs = xcalloc(v->n + 1, sizeof *c->purge.client_cidrs);
		for (size_t i = 0; i < v->n; i++) {
			const struct cnode *k = v->kids[i];

			if (k->type != CNODE_SCALAR ||
			    purge_cidr_parse(
			        k->str, &c->purge.client_cidrs[c->purge.n_client_cidrs]) != 0)
				cparse_err(
				    p, k, "not an address block (192.0.2.0/24, 2001:db8::/32)");
			else
				c->purge.n_client_cidrs++;
		}
	}
	cparse_pop(p, old);
}

static void
cparse_purge(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {
	    "tokens", "rate", "audit_log", "client_listeners", "max_body", NULL};
	const struct cnode *v;
	struct config *c = p->c;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	cget_uint(p, m, "rate", 0, 1000000, &c->purge.rate);
	cget_path_where(p, m, "audit_log", &c->purge.audit_log, &c->purge.audit_log_where);
	cget_size(p, m, "max_body", 1024, PURGE_BODY_LIMIT, &c->purge.max_body);
	cparse_purge_cidrs(p, m);
	if ((v = cmap_get(m, "tokens", NULL)) == NULL)
		return;
	old = cparse_push_key(p, "tokens");
	if (cparse_seq(p, v)) {
		c->purge.tokens = xcalloc(v->n, sizeof *c->purge.tokens);
		c->purge.n_tokens = v->n;
		for (size_t i = 0; i < v->n; i++) {
			size_t o2 = cparse_push_index(p, i);

			cparse_purge_token(p, v->kids[i], &c->purge.tokens[i]);
			for (size_t j = 0; j < i && c->purge.tokens[i].id != NULL; j++)
				if (c->purge.tokens[j].id != NULL &&
				    strcmp(c->purge.tokens[j].id, c->purge.tokens[i].id) == 0) {
					cparse_err(p, cmap_get(v->kids[i], "id", NULL),
					    "duplicate token id \"%s\"", c->purge.tokens[i].id);
					break;
				}
			cparse_pop(p, o2);
		}
	}
	cparse_pop(p, old);
}

/* fleet: { nats: { servers, credentials, tls: { ca, cert, key } }, catchup_timeout } */
static void
cparse_fleet_nats(struct cparse *p, const struct cnode *m, struct purge_fleet_conf *f)
{
	static const char *const keys[] = {"servers", "credentials", "tls", NULL};
	static const char *const tls_keys[] = {"ca", "cert", "key", NULL};
	const struct cnode *v;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	cget_str(p, m, "credentials", &f->credentials);
	if ((v = cmap_get(m, "tls", NULL)) != NULL) {
		old = cparse_push_key(p, "tls");
		if (cparse_map(p, v, tls_keys)) {
			cget_str(p, v, "ca", &f->tls_ca);
			cget_str(p, v, "cert", &f->tls_cert);
			cget_str(p, v, "key", &f->tls_key);
			if ((f->tls_cert == NULL) != (f->tls_key == NULL))
				cparse_err(p, v, "cert and key go together");
		}
		cparse_pop(p, old);
	}
	if ((v = cparse_required(p, m, "servers")) == NULL)
		return;
	old = cparse_push_key(p, "servers");
	if (cparse_seq(p, v)) {
		if (v->n == 0)
			cparse_err(p, v, "must list at least one server");
		f->servers = xcalloc(v->n + 1, sizeof *f->servers);
		for (size_t i = 0; i < v->n; i++) {
			const char *s;
			size_t o2 = cparse_push_index(p, i);

			if ((s = cparse_str(p, v->kids[i])) != NULL) {
				if (strncmp(s, "nats://", 7) != 0 && strncmp(s, "tls://", 6) != 0)
					cparse_err(p, v->kids[i],
					    "\"%.80s\": a nats://host:port or tls://host:port URL",
					    s);
				else
					f->servers[f->n_servers++] = xstrdup(s);
			}
			cparse_pop(p, o2);
		}
	}
	cparse_pop(p, old);
}

static void
cparse_fleet(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"nats", "catchup_timeout", NULL};
	struct purge_fleet_conf *f = &p->c->fleet;
	const struct cnode *v;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	cget_duration(p, m, "catchup_timeout", 0, 10 * 60 * 1000, 1, &f->catchup_timeout_ms);
	if ((v = cmap_get(m, "nats", NULL)) == NULL)
		return;
	old = cparse_push_key(p, "nats");
	cparse_fleet_nats(p, v, f);
	if (p->c->cache.disk_path == NULL)
		cparse_err(p, v, "needs cache.disk (the purge log there keeps this node's place)");
	cparse_pop(p, old);
}

static void
cparse_cache(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"ram", "max_object", "range_fill_max", "fill_memory",
	    "fill_per_client", "disk", "grace", "heuristic_max", "sendfile", "slice", NULL};
	static const char *const disk_keys[] = {"path", "size", "max_object", NULL};
	static const char *const slice_keys[] = {"enabled", "size", NULL};
	const struct cnode *d, *v;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	cget_size(p, m, "ram", 0, UINT64_MAX, &p->c->cache.ram_bytes);
	cget_size(p, m, "max_object", 1, UINT64_MAX, &p->c->cache.max_object_bytes);
	cget_duration(p, m, "grace", 0, 365 * CONFIG_DAY_MS, 1000, &p->c->cache.grace_s);
	p->c->cache.grace_set = cmap_get(m, "grace", NULL) != NULL;
	cget_duration(
	    p, m, "heuristic_max", 0, 365 * CONFIG_DAY_MS, 1000, &p->c->cache.heuristic_max_s);
	cget_size(p, m, "range_fill_max", 0, UINT64_MAX, &p->c->cache.range_fill_max_bytes);
	cget_size(p, m, "fill_memory", 1, 1ULL << 50, &p->c->cache.fill_memory_bytes);
	cget_size(p, m, "fill_per_client", 0, 1ULL << 50, &p->c->cache.fill_per_client_bytes);
	cget_bool(p, m, "sendfile", &p->c->cache.sendfile, NULL);
	/* by default no larger than cache.max_object: a slice is stored whole */
	if (p->c->cache.slice_bytes > p->c->cache.max_object_bytes)
		p->c->cache.slice_bytes = p->c->cache.max_object_bytes;
	if ((d = cmap_get(m, "slice", NULL)) != NULL) {
		bool on = true;

		old = cparse_push_key(p, "slice");
		if (cparse_map(p, d, slice_keys)) {
			cget_size(p, d, "size", 1ULL << 20, 64ULL << 20, &p->c->cache.slice_bytes);
			cget_bool(p, d, "enabled", &on, NULL);
			if (on && p->c->cache.slice_bytes > p->c->cache.max_object_bytes)
				cparse_err(p, d,
				    "size %llu is over cache.max_object (%llu): a slice is stored "
				    "whole",
				    (unsigned long long)p->c->cache.slice_bytes,
				    (unsigned long long)p->c->cache.max_object_bytes);
			if (!on)
				p->c->cache.slice_bytes = 0;
		}
		cparse_pop(p, old);
	}
	if ((d = cmap_get(m, "disk", NULL)) == NULL)
		return;
	old = cparse_push_key(p, "disk");
	if (cparse_map(p, d, disk_keys)) {
		if ((v = cparse_required(p, d, "path")) != NULL) {
			size_t o2 = cparse_push_key(p, "path");
			const char *s = cparse_str(p, v);

			if (s != NULL && s[0] != '/')
				cparse_err(p, v, "\"%.80s\" is not an absolute path", s);
			else if (s != NULL)
				p->c->cache.disk_path = xstrdup(s);
			cparse_pop(p, o2);
		}
		if (cparse_required(p, d, "size") != NULL)
			cget_size(p, d, "size", 1, UINT64_MAX, &p->c->cache.disk_bytes);
		if ((v = cmap_get(d, "max_object", NULL)) != NULL) {
			cget_size(
			    p, d, "max_object", 1, UINT64_MAX, &p->c->cache.disk_max_object_bytes);
			if (p->c->cache.disk_max_object_bytes < p->c->cache.max_object_bytes)
				cparse_err(p, v,
				    "%llu is under cache.max_object (%llu): an object stored whole "
				    "goes to the disk tier too",
				    (unsigned long long)p->c->cache.disk_max_object_bytes,
				    (unsigned long long)p->c->cache.max_object_bytes);
			else if (p->c->cache.disk_max_object_bytes > p->c->cache.disk_bytes)
				cparse_err(p, v, "%llu is over cache.disk.size (%llu)",
				    (unsigned long long)p->c->cache.disk_max_object_bytes,
				    (unsigned long long)p->c->cache.disk_bytes);
		}
	}
	cparse_pop(p, old);
}

static void
cparse_timeouts(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {
	    "header", "idle", "body", "body_total", "send", "drain", "drain_announce", NULL};
	struct config *c = p->c;

	if (!cparse_map(p, m, keys))
		return;
	cget_duration(p, m, "header", 1, CONFIG_DAY_MS, 1, &c->header_timeout_ms);
	cget_duration(p, m, "idle", 1, CONFIG_DAY_MS, 1, &c->idle_timeout_ms);
	cget_duration(p, m, "body", 1, CONFIG_DAY_MS, 1, &c->body_timeout_ms);
	cget_duration(p, m, "body_total", 0, CONFIG_DAY_MS, 1, &c->body_total_ms);
	cget_duration(p, m, "send", 1, CONFIG_DAY_MS, 1, &c->send_timeout_ms);
	cget_duration(p, m, "drain", 0, CONFIG_DAY_MS, 1, &c->drain_timeout_ms);
	cget_duration(p, m, "drain_announce", 0, 3600 * 1000, 1, &c->drain_announce_ms);
}

static void
cparse_limits(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {
	    "request_line",
	    "headers",
	    "header_count",
	    "body",
	    "body_buffer",
	    "body_temp_path",
	    "body_min_rate",
	    "send_min_rate",
	    "connections",
	    "handshakes_per_ip",
	    "connections_per_ip",
	    "requests_per_ip",
	    NULL,
	};
	struct config *c = p->c;
	const struct cnode *v;

	if (!cparse_map(p, m, keys))
		return;
	cget_size32(p, m, "request_line", 16, 1ULL << 20, &c->max_request_line);
	cget_size32(p, m, "headers", 16, 16ULL << 20, &c->max_header_bytes);
	cget_uint(p, m, "header_count", 1, 10000, &c->max_header_count);
	cget_size(p, m, "body", 0, UINT64_MAX, &c->max_body_bytes);
	cget_size(p, m, "body_buffer", 0, 1ULL << 30, &c->body_buffer_bytes);
	cget_size(p, m, "body_min_rate", 0, 1ULL << 30, &c->body_min_rate);
	cget_size(p, m, "send_min_rate", 0, 1ULL << 30, &c->send_min_rate);
	if ((v = cmap_get(m, "body_temp_path", NULL)) != NULL) {
		size_t old = cparse_push_key(p, "body_temp_path");
		const char *s = cparse_str(p, v);
		struct stat st;

		if (s != NULL && s[0] != '/')
			cparse_err(p, v, "\"%.80s\" is not an absolute path", s);
		else if (s != NULL && (stat(s, &st) == -1 || !S_ISDIR(st.st_mode)))
			cparse_err(p, v, "\"%.80s\" is not a directory", s);
		else if (s != NULL && access(s, W_OK | X_OK) == -1)
			cparse_err(
			    p, v, "directory \"%.80s\" is not writable: %s", s, strerror(errno));
		else if (s != NULL) {
			free(c->body_temp_path);
			c->body_temp_path = xstrdup(s);
		}
		cparse_pop(p, old);
	}
	cget_uint(p, m, "connections", 1, 1000000, &c->max_connections);
	cget_uint(p, m, "handshakes_per_ip", 0, 1000000, &c->max_handshakes_per_ip);
	cget_uint(p, m, "connections_per_ip", 0, 1000000, &c->max_connections_per_ip);
	cget_uint(p, m, "requests_per_ip", 0, 1000000, &c->max_requests_per_ip);
}

static int cparse_enum(
    struct cparse *p, const struct cnode *v, const char *what, const char *const *names, size_t n);

/* log.fields: names of the field table, each once. */
static void
cparse_log_fields(struct cparse *p, const struct cnode *v, struct log_conf *lc)
{
	size_t old = cparse_push_key(p, "fields");

	if (cparse_seq(p, v)) {
		if (v->n == 0)
			cparse_err(p, v, "empty list (leave the key out for the default fields)");
		for (size_t i = 0; i < v->n; i++) {
			size_t o2 = cparse_push_index(p, i);
			int f =
			    cparse_enum(p, v->kids[i], "field", log_field_names, LOG_FIELD__COUNT);

			for (size_t j = 0; f >= 0 && j < lc->n_fields; j++)
				if (lc->fields[j] == f) {
					cparse_err(p, v->kids[i], "field \"%s\" listed twice",
					    log_field_names[f]);
					f = -1;
				}
			if (f >= 0)
				lc->fields[lc->n_fields++] = (unsigned char)f;
			cparse_pop(p, o2);
		}
	}
	cparse_pop(p, old);
}

/* log.syslog: {socket, facility, tag, framing}. */
static void
cparse_log_syslog(struct cparse *p, const struct cnode *m, struct log_conf *lc)
{
	static const char *const keys[] = {"socket", "facility", "tag", "framing", NULL};
	static const char *const facilities[] = {"kern", "user", "mail", "daemon", "auth", "syslog",
	    "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console",
	    "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
	    "local7"};
	static const char *const framings[] = {"rfc5424", "rfc3164"};
	const struct cnode *v;
	size_t old = cparse_push_key(p, "syslog");
	int i;

	if (!cparse_map(p, m, keys)) {
		cparse_pop(p, old);
		return;
	}
	lc->syslog_facility = 16; /* local0 */
	cget_str(p, m, "socket", &lc->syslog_socket);
	if (cmap_get(m, "socket", NULL) == NULL)
		(void)cparse_required(p, m, "socket");
	else if (lc->syslog_socket != NULL && lc->syslog_socket[0] != '/') {
		size_t o2 = cparse_push_key(p, "socket");

		cparse_err(p, cmap_get(m, "socket", NULL), "not an absolute path: \"%.80s\"",
		    lc->syslog_socket);
		cparse_pop(p, o2);
	}
	cget_str(p, m, "tag", &lc->syslog_tag);
	if ((v = cmap_get(m, "facility", NULL)) != NULL) {
		size_t o2 = cparse_push_key(p, "facility");

		if ((i = cparse_enum(p, v, "facility", facilities, 24)) >= 0)
			lc->syslog_facility = (unsigned)i;
		cparse_pop(p, o2);
	}
	if ((v = cmap_get(m, "framing", NULL)) != NULL) {
		size_t o2 = cparse_push_key(p, "framing");

		if ((i = cparse_enum(p, v, "framing", framings, 2)) >= 0)
			lc->syslog_framing = (enum log_syslog_framing)i;
		cparse_pop(p, o2);
	}
	cparse_pop(p, old);
}

static void
cparse_log(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {
	    "access", "level", "format", "fields", "syslog", "buffer", "request_id", NULL};
	static const char *const formats[] = {"json", "combined"};
	struct log_conf *lc = &p->c->log;
	const struct cnode *v;
	enum log_level lvl;
	size_t old;
	int i;

	if (!cparse_map(p, m, keys))
		return;
	cget_path_where(p, m, "access", &p->c->log.access, &p->c->log.access_where);
	if ((v = cmap_get(m, "format", NULL)) != NULL) {
		old = cparse_push_key(p, "format");
		if ((i = cparse_enum(p, v, "format", formats, 2)) >= 0)
			lc->format = (enum log_format)i;
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "fields", NULL)) != NULL) {
		cparse_log_fields(p, v, lc);
		if (lc->format == LOG_FORMAT_COMBINED) {
			old = cparse_push_key(p, "fields");
			cparse_err(p, v, "only with format: json (combined has its own fields)");
			cparse_pop(p, old);
		}
	}
	if ((v = cmap_get(m, "syslog", NULL)) != NULL)
		cparse_log_syslog(p, v, lc);
	cget_size(p, m, "buffer", 4096, 64u << 20, &lc->buffer_bytes);
	if ((v = cmap_get(m, "request_id", NULL)) != NULL) {
		static const char *const rkeys[] = {"keep_client", NULL};

		old = cparse_push_key(p, "request_id");
		if (cparse_map(p, v, rkeys))
			cget_bool(p, v, "keep_client", &lc->request_id_keep_client, NULL);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "level", NULL)) == NULL)
		return;
	old = cparse_push_key(p, "level");
	if (cparse_type(p, v, CNODE_SCALAR)) {
		if (log_level_parse(v->str, &lvl) == -1) {
			cparse_err(p, v,
			    "invalid level \"%.80s\" (expected error, warn, info or "
			    "debug)",
			    v->str);
		} else {
			free(p->c->log.level);
			p->c->log.level = xstrdup(v->str);
		}
	}
	cparse_pop(p, old);
}

static void
cparse_resolver(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"servers", "min_ttl", "max_ttl", NULL};
	struct config *c = p->c;
	const struct cnode *v;
	size_t i, old, len = 0, cap = 0;
	char *csv = NULL;

	if (!cparse_map(p, m, keys))
		return;
	if ((v = cmap_get(m, "servers", NULL)) != NULL) {
		old = cparse_push_key(p, "servers");
		if (cparse_seq(p, v)) {
			for (i = 0; i < v->n; i++) {
				size_t o2 = cparse_push_index(p, i), n;
				struct sockaddr_storage ss;
				socklen_t sl;
				char err[CONFIG_VALUE_ERRLEN];
				const char *s = cparse_str(p, v->kids[i]);

				if (s != NULL &&
				    config_value_sockaddr(s, &ss, &sl, err, sizeof err) == -1)
					cparse_err(p, v->kids[i], "%s", err);
				else if (s != NULL) {
					n = strlen(s);
					if (len + n + 2 > cap) {
						cap = (len + n + 2) * 2;
						csv = xrealloc(csv, cap);
					}
					if (len > 0)
						csv[len++] = ',';
					memcpy(csv + len, s, n + 1);
					len += n;
				}
				cparse_pop(p, o2);
			}
		}
		cparse_pop(p, old);
		c->resolver.servers = csv;
	}
	cget_duration(p, m, "min_ttl", 0, 7 * CONFIG_DAY_MS, 1000, &c->resolver.min_ttl_s);
	cget_duration(p, m, "max_ttl", 0, 7 * CONFIG_DAY_MS, 1000, &c->resolver.max_ttl_s);
	if (c->resolver.max_ttl_s < c->resolver.min_ttl_s &&
	    (v = cmap_get(m, "max_ttl", NULL)) != NULL) {
		old = cparse_push_key(p, "max_ttl");
		cparse_err(p, v, "must not be less than resolver.min_ttl");
		cparse_pop(p, old);
	}
}

/* "200", "200-399": status range 100..599. */
static void
cparse_expect(struct cparse *p, const struct cnode *v, struct config_pool *pool)
{
	unsigned lo = 0, hi = 0;
	int n = 0;
	char tail;

	if (!cparse_type(p, v, CNODE_SCALAR))
		return;
	if (sscanf(v->str, "%3u-%3u%c", &lo, &hi, &tail) == 2 ||
	    (sscanf(v->str, "%3u%c", &lo, &tail) == 1 && (hi = lo, true)))
		n = 1;
	if (n == 0 || strspn(v->str, "0123456789-") != strlen(v->str) || lo < 100 || hi > 599 ||
	    lo > hi) {
		cparse_err(
		    p, v, "invalid status range \"%.80s\" (expected e.g. 200 or 200-399)", v->str);
		return;
	}
	pool->health_expect_min = lo;
	pool->health_expect_max = hi;
}

static void
cparse_health(struct cparse *p, const struct cnode *v, struct config_pool *pool)
{
	static const char *const keys[] = {
	    "path",
	    "interval",
	    "timeout",
	    "expect",
	    "rise",
	    "fall",
	    "host",
	    NULL,
	};
	const struct cnode *x;
	size_t old;

	if (!cparse_map(p, v, keys))
		return;
	if ((x = cparse_required(p, v, "path")) != NULL) {
		old = cparse_push_key(p, "path");
		if (cparse_str(p, x) != NULL) {
			if (x->str[0] != '/' || strpbrk(x->str, " \t\r\n") != NULL)
				cparse_err(p, x,
				    "\"%.80s\" must start with '/' and contain no white space",
				    x->str);
			else
				pool->health_path = xstrdup(x->str);
		}
		cparse_pop(p, old);
	}
	if ((x = cmap_get(v, "host", NULL)) != NULL) {
		old = cparse_push_key(p, "host");
		if (cparse_str(p, x) != NULL) {
			if (strpbrk(x->str, " \t\r\n") != NULL)
				cparse_err(p, x, "\"%.80s\" contains white space", x->str);
			else
				pool->health_host = xstrdup(x->str);
		}
		cparse_pop(p, old);
	}
	cget_duration(p, v, "interval", 100, CONFIG_DAY_MS, 1, &pool->health_interval_ms);
	cget_duration(p, v, "timeout", 1, CONFIG_DAY_MS, 1, &pool->health_timeout_ms);
	cget_uint(p, v, "rise", 1, 100, &pool->health_rise);
	cget_uint(p, v, "fall", 1, 100, &pool->health_fall);
	if ((x = cmap_get(v, "expect", NULL)) != NULL) {
		old = cparse_push_key(p, "expect");
		cparse_expect(p, x, pool);
		cparse_pop(p, old);
	}
	if (pool->health_timeout_ms > pool->health_interval_ms &&
	    (x = cmap_get(v, "timeout", NULL)) != NULL) {
		old = cparse_push_key(p, "timeout");
		cparse_err(p, x, "must not be longer than health.interval");
		cparse_pop(p, old);
	}
}

static void
cparse_passive(struct cparse *p, const struct cnode *v, struct config_pool *pool)
{
	static const char *const keys[] = {
	    "failures", "backoff", "max_backoff", "error_rate", "window", NULL};
	const struct cnode *x;
	size_t old;

	if (!cparse_map(p, v, keys))
		return;
	cget_uint(p, v, "failures", 0, 1000, &pool->passive_failures);
	if ((x = cmap_get(v, "error_rate", NULL)) != NULL) {
		old = cparse_push_key(p, "error_rate");
		if (cparse_type(p, x, CNODE_SCALAR)) {
			char *end;
			unsigned long n = strtoul(x->str, &end, 10);

			if (end == x->str || (*end != '\0' && strcmp(end, "%") != 0) ||
			    x->str[0] == '-' || n > 100)
				cparse_err(
				    p, x, "invalid rate \"%.80s\" (expected 0%%..100%%)", x->str);
			else
				pool->passive_error_rate_pct = (unsigned)n;
		}
		cparse_pop(p, old);
	}
	cget_uint(p, v, "window", 2, 64, &pool->passive_window);
	cget_duration(p, v, "backoff", 1, CONFIG_DAY_MS, 1, &pool->passive_backoff_ms);
	cget_duration(p, v, "max_backoff", 1, CONFIG_DAY_MS, 1, &pool->passive_max_backoff_ms);
	if (pool->passive_max_backoff_ms < pool->passive_backoff_ms &&
	    (x = cmap_get(v, "max_backoff", NULL)) != NULL) {
		old = cparse_push_key(p, "max_backoff");
		cparse_err(p, x, "must not be less than passive.backoff");
		cparse_pop(p, old);
	}
}

/* pools[].tls: { enabled, verify, ca_file, sni, client_cert, client_key };
 * the files are checked here so a bad one is an error at its key. */
static void
cparse_pool_tls(struct cparse *p, const struct cnode *v, struct config_pool *pool)
{
	static const char *const keys[] = {
	    "enabled", "verify", "ca_file", "sni", "client_cert", "client_key", NULL};
	const struct cnode *x, *cv, *kv;
	char err[512];
	bool exposed;
	size_t old;
	FILE *f = NULL;

	if (!cparse_map(p, v, keys))
		return;
	pool->tls = true;
	pool->tls_verify = true;
	cget_bool(p, v, "enabled", &pool->tls, NULL);
	cget_bool(p, v, "verify", &pool->tls_verify, NULL);
	cget_str(p, v, "sni", &pool->tls_sni);
	cget_str(p, v, "ca_file", &pool->tls_ca_file);
	if (pool->tls_ca_file != NULL && (f = config_file_fopen(pool->tls_ca_file)) == NULL) {
		x = cmap_get(v, "ca_file", NULL);
		old = cparse_push_key(p, "ca_file");
		cparse_err(p, x, "cannot read \"%s\": %s", pool->tls_ca_file, strerror(errno));
		cparse_pop(p, old);
	} else if (pool->tls_ca_file != NULL &&
	           config_tls_check_ca(pool->tls_ca_file, err, sizeof err) != 0) {
		x = cmap_get(v, "ca_file", NULL);
		old = cparse_push_key(p, "ca_file");
		cparse_err(p, x, "%s", err);
		cparse_pop(p, old);
	}
	if (f != NULL)
		fclose(f);
	cget_str(p, v, "client_cert", &pool->tls_client_cert);
	cget_str(p, v, "client_key", &pool->tls_client_key);
	cv = cmap_get(v, "client_cert", NULL);
	kv = cmap_get(v, "client_key", NULL);
	if ((pool->tls_client_cert == NULL) != (pool->tls_client_key == NULL)) {
		x = cv != NULL ? cv : kv;
		old = cparse_push_key(p, cv != NULL ? "client_cert" : "client_key");
		cparse_err(p, x, "client_cert and client_key go together");
		cparse_pop(p, old);
	} else if (pool->tls_client_cert != NULL &&
	           config_tls_check_pair(pool->tls_client_cert, pool->tls_client_key, &exposed, err,
	               sizeof err) != 0) {
		old = cparse_push_key(p, "client_cert");
		cparse_err(p, cv, "%s", err);
		cparse_pop(p, old);
	}
}

static void
cparse_retry_on(struct cparse *p, const struct cnode *v, struct config_pool *pool)
{
	size_t i;

	if (!cparse_type(p, v, CNODE_SEQ))
		return;
	for (i = 0; i < v->n; i++) {
		size_t o2 = cparse_push_index(p, i);
		const char *s = cparse_str(p, v->kids[i]);

		if (s == NULL)
			;
		else if (strcmp(s, "502") == 0)
			pool->retry_on |= CONFIG_RETRY_ON_502;
		else if (strcmp(s, "503") == 0)
			pool->retry_on |= CONFIG_RETRY_ON_503;
		else if (strcmp(s, "504") == 0)
			pool->retry_on |= CONFIG_RETRY_ON_504;
		else
			cparse_err(p, v->kids[i],
			    "invalid status \"%.80s\" (expected 502, 503 or 504)", s);
		cparse_pop(p, o2);
	}
}

static const char *const cparse_balancers[] = {
    [CONFIG_BALANCER_ROUND_ROBIN] = "round_robin",
    [CONFIG_BALANCER_LEAST_CONN] = "least_conn",
    [CONFIG_BALANCER_RANDOM_TWO] = "random_two_choices",
    [CONFIG_BALANCER_IP_HASH] = "ip_hash",
    [CONFIG_BALANCER_CONSISTENT_HASH] = "consistent_hash",
    [CONFIG_BALANCER_EWMA] = "ewma",
};

static const char *const cparse_hash_keys[] = {
    [CONFIG_HASH_KEY_URI] = "uri",
    [CONFIG_HASH_KEY_HOST] = "host",
    [CONFIG_HASH_KEY_CLIENT_IP] = "client_ip",
};

/* Index of v's text in names[0..n), or -1 after an error naming the choices. */
static int
cparse_enum(
    struct cparse *p, const struct cnode *v, const char *what, const char *const *names, size_t n)
{
	char list[256];
	size_t i, len = 0;

	if (!cparse_type(p, v, CNODE_SCALAR))
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(v->str, names[i]) == 0)
			return (int)i;
	list[0] = '\0';
	for (i = 0; i < n && len < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
		    i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
	cparse_err(p, v, "unknown %s \"%.80s\" (expected %s)", what, v->str, list);
	return -1;
}

/* cparse_enum of the value of key in map m: its index, or -1 when absent or
 * after an error. */
static int
cget_enum(struct cparse *p, const struct cnode *m, const char *key, const char *what,
    const char *const *names, size_t n)
{
	const struct cnode *v = cmap_get(m, key, NULL);
	size_t old;
	int e;

	if (v == NULL)
		return -1;
	old = cparse_push_key(p, key);
	e = cparse_enum(p, v, what, names, n);
	cparse_pop(p, old);
	return e;
}

static void
cparse_pool(struct cparse *p, const struct cnode *m, struct config_pool *pool)
{
	static const char *const keys[] = {
	    "name",
	    "balancer",
	    "hash_key",
	    "members",
	    "timeouts",
	    "keepalive",
	    "retries",
	    "retry_budget",
	    "retry_on",
	    "passive",
	    "health",
	    "queue",
	    "queue_timeout",
	    "grace",
	    "tls",
	    NULL,
	};
	static const char *const member_keys[] = {"address", "weight", "backup", "max_conns", NULL};
	static const char *const timeout_keys[] = {
	    "connect",
	    "first_byte",
	    "between_bytes",
	    "send",
	    "total",
	    NULL,
	};
	static const char *const keepalive_keys[] = {"idle", "max_idle", "max_requests", NULL};
	const struct cnode *v, *hk;
	size_t i, old, n_backup = 0;
	int e;

	origin_pool_conf_defaults(pool);
	if (!cparse_map(p, m, keys))
		return;
	if ((v = cparse_required(p, m, "name")) != NULL) {
		old = cparse_push_key(p, "name");
		if (cparse_str(p, v) != NULL)
			pool->name = xstrdup(v->str);
		cparse_pop(p, old);
	}
	e = cget_enum(p, m, "balancer", "balancer", cparse_balancers,
	    sizeof cparse_balancers / sizeof cparse_balancers[0]);
	if (e >= 0)
		pool->balancer = (enum config_balancer)e;
	if ((hk = cmap_get(m, "hash_key", NULL)) != NULL) {
		old = cparse_push_key(p, "hash_key");
		e = cparse_enum(p, hk, "hash key", cparse_hash_keys,
		    sizeof cparse_hash_keys / sizeof cparse_hash_keys[0]);
		if (e >= 0)
			pool->hash_key = (enum config_hash_key)e;
		if (e >= 0 && pool->balancer != CONFIG_BALANCER_CONSISTENT_HASH)
			cparse_err(p, hk, "only used with balancer: consistent_hash");
		cparse_pop(p, old);
	}
	if ((v = cparse_required(p, m, "members")) != NULL) {
		old = cparse_push_key(p, "members");
		if (cparse_seq(p, v)) {
			pool->members = xcalloc(v->n, sizeof pool->members[0]);
			for (i = 0; i < v->n; i++) {
				const struct cnode *mm = v->kids[i], *a;
				struct config_member mem = {NULL, 0, 1, false, 0, NULL, 0};
				size_t o2 = cparse_push_index(p, i);

				if (cparse_map(p, mm, member_keys) &&
				    (a = cparse_required(p, mm, "address")) != NULL) {
					size_t o3 = cparse_push_key(p, "address");
					char err[CONFIG_VALUE_ERRLEN];

					if (cparse_str(p, a) != NULL &&
					    config_value_hostport(a->str, &mem.host, &mem.port, err,
					        sizeof err) == -1)
						cparse_err(p, a, "%s", err);
					cparse_pop(p, o3);
				}
				if (mm->type == CNODE_MAP) {
					cget_uint(p, mm, "weight", 1, 1000, &mem.weight);
					cget_bool(p, mm, "backup", &mem.backup, NULL);
					cget_uint(p, mm, "max_conns", 0, 1000000, &mem.max_conns);
				}
				if (mem.host != NULL) {
					n_backup += mem.backup;
					pool->members[pool->n_members++] = mem;
				}
				cparse_pop(p, o2);
			}
			if (pool->n_members > 0 && n_backup == pool->n_members)
				cparse_err(
				    p, v, "needs at least one member without \"backup: true\"");
		}
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "timeouts", NULL)) != NULL) {
		old = cparse_push_key(p, "timeouts");
		if (cparse_map(p, v, timeout_keys)) {
			cget_duration(
			    p, v, "connect", 1, CONFIG_DAY_MS, 1, &pool->connect_timeout_ms);
			cget_duration(
			    p, v, "first_byte", 1, CONFIG_DAY_MS, 1, &pool->first_byte_timeout_ms);
			cget_duration(p, v, "between_bytes", 1, CONFIG_DAY_MS, 1,
			    &pool->between_bytes_timeout_ms);
			cget_duration(p, v, "send", 1, CONFIG_DAY_MS, 1, &pool->send_timeout_ms);
			cget_duration(p, v, "total", 1, CONFIG_DAY_MS, 1, &pool->total_timeout_ms);
		}
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "keepalive", NULL)) != NULL) {
		old = cparse_push_key(p, "keepalive");
		if (cparse_map(p, v, keepalive_keys)) {
			cget_duration(p, v, "idle", 1, CONFIG_DAY_MS, 1, &pool->idle_timeout_ms);
			cget_uint(p, v, "max_idle", 0, 100000, &pool->max_idle_per_worker);
			cget_uint(p, v, "max_requests", 0, 100000000, &pool->max_requests);
		}
		cparse_pop(p, old);
	}
	cget_uint(p, m, "queue", 0, 1000000, &pool->queue);
	cget_bool(p, m, "grace", &pool->grace, NULL);
	cget_duration(p, m, "queue_timeout", 1, CONFIG_DAY_MS, 1, &pool->queue_timeout_ms);
	cget_uint(p, m, "retries", 0, CONFIG_RETRIES_MAX, &pool->retries);
	cget_uint(p, m, "retry_budget", 0, 100, &pool->retry_budget_pct);
	if ((v = cmap_get(m, "retry_on", NULL)) != NULL) {
		old = cparse_push_key(p, "retry_on");
		cparse_retry_on(p, v, pool);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "passive", NULL)) != NULL) {
		old = cparse_push_key(p, "passive");
		cparse_passive(p, v, pool);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "health", NULL)) != NULL) {
		old = cparse_push_key(p, "health");
		cparse_health(p, v, pool);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "tls", NULL)) != NULL) {
		old = cparse_push_key(p, "tls");
		cparse_pool_tls(p, v, pool);
		cparse_pop(p, old);
	}
}

/*
 * Entry i of the sequence seq (an array of structs of `stride` bytes whose
 * name is the char * at name_off) is an error when an earlier entry has the
 * same name; reported at its "name" value with the first one's position.
 */
static void
cparse_dup_name(struct cparse *p, const struct cnode *seq, size_t i, const void *arr, size_t stride,
    size_t name_off, const char *what)
{
	const char *base = arr;
	const char *name = *(char *const *)(const void *)(base + i * stride + name_off);

	if (name == NULL)
		return;
	for (size_t j = 0; j < i; j++) {
		const char *other = *(char *const *)(const void *)(base + j * stride + name_off);

		if (other != NULL && strcmp(other, name) == 0) {
			const struct cnode *a = cmap_get(seq->kids[j], "name", NULL);
			const struct cnode *b = cmap_get(seq->kids[i], "name", NULL);
			size_t o2 = cparse_push_key(p, "name");

			cparse_err(p, b, "duplicate %s name \"%s\" (first at line %u, column %u)",
			    what, name, a->line, a->col);
			cparse_pop(p, o2);
			return;
		}
	}
}

static void
cparse_pools(struct cparse *p, const struct cnode *seq)
{
	struct config *c = p->c;
	size_t i, old;

	if (!cparse_seq(p, seq))
		return;
	c->pools = xcalloc(seq->n, sizeof c->pools[0]);
	c->n_pools = seq->n;
	for (i = 0; i < seq->n; i++) {
		old = cparse_push_index(p, i);
		cparse_pool(p, seq->kids[i], &c->pools[i]);
		cparse_dup_name(p, seq, i, c->pools, sizeof c->pools[0],
		    offsetof(struct config_pool, name), "pool");
		cparse_pop(p, old);
	}
}

static const char *const cparse_sibling_stores[] = {
    [ORIGIN_SIBLING_STORE_ALWAYS] = "always",
    [ORIGIN_SIBLING_STORE_SMALL] = "small",
};

/* siblings.key_file: 32 to 4096 bytes, read whole. */
static void
cparse_sibling_key(struct cparse *p, const struct cnode *f, struct origin_sibling_conf *sc)
{
	unsigned char buf[ORIGIN_SIBLING_KEY_MAX + 1];
	FILE *fp;
	size_t n;

	if (cparse_str(p, f) == NULL)
		return;
	sc->key_file = xstrdup(f->str);
	if ((fp = config_file_fopen(f->str)) == NULL) {
		cparse_err(p, f, "cannot read \"%.200s\": %s", f->str, strerror(errno));
		return;
	}
	n = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	if (n < ORIGIN_SIBLING_KEY_MIN || n > ORIGIN_SIBLING_KEY_MAX)
		cparse_err(p, f, "\"%.200s\" must hold %d to %d bytes (the fleet key), not %zu%s",
		    f->str, ORIGIN_SIBLING_KEY_MIN, ORIGIN_SIBLING_KEY_MAX,
		    n > ORIGIN_SIBLING_KEY_MAX ? (size_t)ORIGIN_SIBLING_KEY_MAX : n,
		    n > ORIGIN_SIBLING_KEY_MAX ? " or more" : "");
	else {
		sc->key = xmalloc(n);
		memcpy(sc->key, buf, n);
		sc->key_len = n;
	}
	OPENSSL_cleanse(buf, sizeof buf);
}

/* An SRV owner name (RFC 2782): labels of letters, digits, '-' and '_' (the
 * service and protocol labels start with one), 1 to 63 bytes each, 253 in
 * all, an optional final dot. */
static bool
cparse_srv_name(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(ch) || ch == '-' || ch == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/*
 * siblings: { self, members: [ "host:port" | {address, weight} ], key_file,
 * store, store_max, timeouts: { connect, first_byte } } — the members become
 * the siblings pool, appended to pools (consistent_hash on the cache key,
 * no retries: a sibling that fails is replaced by the origin).
 */
static void
cparse_siblings(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {
	    "self", "members", "srv", "key_file", "store", "store_max", "timeouts", "grace", NULL};
	static const char *const member_keys[] = {"address", "weight", "admin", NULL};
	static const char *const timeout_keys[] = {"connect", "first_byte", NULL};
	const struct cnode *admin_first = NULL, *admin_missing = NULL;
	struct config *c = p->c;
	struct origin_sibling_conf *sc = &c->siblings;
	struct config_pool pool;
	const struct cnode *v, *self_node;
	char *self_host = NULL;
	uint16_t self_port = 0;
	bool self_found = false;
	size_t old;
	int e;

	if (!cparse_map(p, m, keys))
		return;
	memset(&pool, 0, sizeof pool);
	origin_pool_conf_defaults(&pool);
	pool.balancer = CONFIG_BALANCER_CONSISTENT_HASH;
	pool.retries = 0;
	pool.grace = false;
	pool.passive_failures = 1;
	pool.connect_timeout_ms = 500;
	pool.first_byte_timeout_ms = 30000;
	sc->store_max = 1024 * 1024;
	if ((self_node = cparse_required(p, m, "self")) != NULL) {
		char err[CONFIG_VALUE_ERRLEN];

		old = cparse_push_key(p, "self");
		if (cparse_str(p, self_node) != NULL) {
			if (config_value_hostport(
			        self_node->str, &self_host, &self_port, err, sizeof err) == -1)
				cparse_err(p, self_node, "%s", err);
			else
				sc->self = xstrdup(self_node->str);
		}
		cparse_pop(p, old);
	}
	if ((v = cparse_required(p, m, "key_file")) != NULL) {
		old = cparse_push_key(p, "key_file");
		cparse_sibling_key(p, v, sc);
		cparse_pop(p, old);
	}
	e = cget_enum(p, m, "store", "store", cparse_sibling_stores,
	    sizeof cparse_sibling_stores / sizeof cparse_sibling_stores[0]);
	if (e >= 0)
		sc->store = (enum origin_sibling_store)e;
	cget_size(p, m, "store_max", 0, UINT64_MAX, &sc->store_max);
	sc->grace_ms = 60000;
	cget_duration(p, m, "grace", 0, CONFIG_DAY_MS, 1, &sc->grace_ms);
	if ((v = cmap_get(m, "timeouts", NULL)) != NULL) {
		old = cparse_push_key(p, "timeouts");
		if (cparse_map(p, v, timeout_keys)) {
			cget_duration(
			    p, v, "connect", 1, CONFIG_DAY_MS, 1, &pool.connect_timeout_ms);
			cget_duration(
			    p, v, "first_byte", 1, CONFIG_DAY_MS, 1, &pool.first_byte_timeout_ms);
		}
		cparse_pop(p, old);
	}
	/* srv: the members are its SRV records, as main resolved them */
	if ((v = cmap_get(m, "srv", NULL)) != NULL) {
		old = cparse_push_key(p, "srv");
		if (cmap_get(m, "members", NULL) != NULL)
			cparse_err(
			    p, v, "members and srv exclude each other: name the siblings one way");
		else if (cparse_str(p, v) != NULL && !cparse_srv_name(v->str))
			cparse_err(p, v,
			    "\"%s\" is not a DNS name (e.g. _outpost._tcp.pop1.example.net)",
			    v->str);
		else if (v->str != NULL)
			sc->srv = xstrdup(v->str);
		cparse_pop(p, old);
		pool.members = xcalloc(p->n_srv_members + 2, sizeof pool.members[0]);
		for (size_t i = 0; sc->srv != NULL && i < p->n_srv_members; i++) {
			const struct config_srv_member *sm = &p->srv_members[i];

			if (self_host != NULL && sm->port == self_port &&
			    strcmp(sm->host, self_host) == 0) {
				sc->self_idx = (unsigned)pool.n_members;
				self_found = true;
			}
			pool.members[pool.n_members++] = (struct config_member){
			    xstrdup(sm->host), sm->port, sm->weight, false, 0, NULL, 0};
		}
	} else if ((v = cparse_required(p, m, "members")) != NULL) {
		old = cparse_push_key(p, "members");
		if (cparse_seq(p, v)) {
			pool.members = xcalloc(v->n + 1, sizeof pool.members[0]);
			for (size_t i = 0; i < v->n; i++) {
				const struct cnode *mm = v->kids[i], *a = mm;
				struct config_member mem = {NULL, 0, 1, false, 0, NULL, 0};
				char err[CONFIG_VALUE_ERRLEN];
				size_t o2 = cparse_push_index(p, i), o3;

				if (mm->type == CNODE_MAP)
					a = cparse_map(p, mm, member_keys)
					        ? cparse_required(p, mm, "address")
					        : NULL;
				if (a != NULL) {
					o3 = mm->type == CNODE_MAP ? cparse_push_key(p, "address")
					                           : p->plen;
					if (cparse_str(p, a) != NULL &&
					    config_value_hostport(a->str, &mem.host, &mem.port, err,
					        sizeof err) == -1)
						cparse_err(p, a, "%s", err);
					cparse_pop(p, o3);
				}
				if (mm->type == CNODE_MAP)
					cget_uint(p, mm, "weight", 1, 1000, &mem.weight);
				/* admin: its admin listener, probed on /healthz */
				if (mm->type == CNODE_MAP &&
				    (a = cmap_get(mm, "admin", NULL)) != NULL) {
					o3 = cparse_push_key(p, "admin");
					if (cparse_str(p, a) != NULL &&
					    config_value_hostport(a->str, &mem.probe_host,
					        &mem.probe_port, err, sizeof err) == -1)
						cparse_err(p, a, "%s", err);
					cparse_pop(p, o3);
					if (admin_first == NULL)
						admin_first = a;
				} else if (admin_missing == NULL) {
					admin_missing = mm;
				}
				for (size_t j = 0; mem.host != NULL && j < pool.n_members; j++)
					if (pool.members[j].port == mem.port &&
					    strcmp(pool.members[j].host, mem.host) == 0) {
						cparse_err(p, mm, "\"%s:%u\" is listed twice",
						    mem.host, (unsigned)mem.port);
						free(mem.host);
						free(mem.probe_host);
						mem.host = NULL;
					}
				if (mem.host != NULL) {
					if (self_host != NULL && mem.port == self_port &&
					    strcmp(mem.host, self_host) == 0) {
						sc->self_idx = (unsigned)pool.n_members;
						self_found = true;
					}
					pool.members[pool.n_members++] = mem;
				}
				cparse_pop(p, o2);
			}
		}
		cparse_pop(p, old);
	}
	/* active probes of every member's admin listener, or none */
	if (admin_first != NULL && admin_missing != NULL)
		cparse_err(p, admin_missing,
		    "needs admin (\"host:port\" of its admin listener) as the others have");
	else if (admin_first != NULL && !self_found)
		cparse_err(
		    p, admin_first, "with admin, self must be listed in members (with its admin)");
	if (admin_first != NULL) {
		pool.health_path = xstrdup("/healthz");
		pool.health_interval_ms = 1000;
		pool.health_timeout_ms = 1000;
		pool.health_rise = 2;
		pool.health_fall = 2;
	}
	/* self is a member, listed or not */
	sc->self_listed = self_found;
	if (self_host != NULL && !self_found && pool.members != NULL) {
		sc->self_idx = (unsigned)pool.n_members;
		pool.members[pool.n_members++] =
		    (struct config_member){self_host, self_port, 1, false, 0, NULL, 0};
		self_host = NULL;
	}
	free(self_host);
	if (p->n_errs > 0 || pool.n_members == 0 || sc->key == NULL || sc->self == NULL) {
		for (size_t i = 0; i < pool.n_members; i++) {
			free(pool.members[i].host);
			free(pool.members[i].probe_host);
		}
		free(pool.members);
		free(pool.health_path);
		return;
	}
	for (size_t i = 0; i < c->n_pools; i++)
		if (strcmp(c->pools[i].name, ORIGIN_SIBLING_POOL) == 0)
			cparse_err(p, m,
			    "the pool name \"%s\" is the siblings' own: rename that pool",
			    ORIGIN_SIBLING_POOL);
	pool.name = xstrdup(ORIGIN_SIBLING_POOL);
	pool.sibling = true;
	c->pools = xrealloc(c->pools, (c->n_pools + 1) * sizeof c->pools[0]);
	c->pools[c->n_pools] = pool;
	sc->pool_idx = (unsigned)c->n_pools++;
	sc->enabled = true;
}

static void
cparse_add_ref(struct cparse *p, struct config_pool **slot, const struct cnode *name)
{
	if (p->n_refs == p->cap_refs) {
		p->cap_refs = p->cap_refs ? p->cap_refs * 2 : 8;
		p->refs = xrealloc(p->refs, p->cap_refs * sizeof p->refs[0]);
	}
	p->refs[p->n_refs++] = (struct cref){slot, name, xstrdup(p->path)};
}

/* A PCRE2 pattern compiled at load (JIT when the library has it); NULL after
 * an error naming PCRE2's reason. */
static struct pcre2_real_code_8 *
cparse_regex(struct cparse *p, const struct cnode *v, unsigned *groups)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	uint32_t n = 0;
	pcre2_code *re;
	int err;

	if (cparse_str(p, v) == NULL)
		return NULL;
	re = pcre2_compile((PCRE2_SPTR)v->str, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
	if (re == NULL) {
		(void)pcre2_get_error_message(err, msg, sizeof msg);
		cparse_err(p, v, "invalid regex \"%.80s\": %s at offset %zu", v->str,
		    (const char *)msg, (size_t)off);
		return NULL;
	}
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* interpreted without JIT */
	(void)pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &n);
	*groups = n;
	return re;
}

/* A template's variables must exist, and its $N groups too (groups: how many
 * the regex it follows has). */
static void
cparse_template(struct cparse *p, const struct cnode *v, unsigned groups, bool vars)
{
	for (const char *t = v->str; *t != '\0'; t++) {
		unsigned g = 0;
		size_t len = 0;
		int var;

		if ((unsigned char)*t <= 0x20 || *t == 0x7f) {
			cparse_err(
			    p, v, "space or control character in \"%.80s\" (write %%20)", v->str);
			return;
		}
		if (*t != '$')
			continue;
		var = config_template_var(t + 1, &len, &g);
		if (var < 0 || (!vars && var != CONFIG_TVAR_GROUP && var != CONFIG_TVAR_DOLLAR)) {
			cparse_err(p, v, "unknown variable at \"%.20s\" (expected %s)", t,
			    vars ? "$scheme, $host, $path, $query, $request_uri, $1..$9 or $$"
			         : "$1..$9 or $$");
			return;
		}
		if (var == CONFIG_TVAR_GROUP && g > groups) {
			cparse_err(p, v, "$%u: the regex has %u capture group%s", g, groups,
			    groups == 1 ? "" : "s");
			return;
		}
		t += len;
	}
}

/* Field names a header rule may not touch: framing, hop-by-hop and Host
 * (origin_host sets that one) — NULL — or those the node writes itself on
 * every request or response (a rule would duplicate them) — the reason. */
static const char *
cparse_hdr_reserved(const char *name)
{
	static const char *const framing[] = {"Host", "Content-Length", "Transfer-Encoding",
	    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", NULL};
	static const char *const node[] = {"Via", "X-Forwarded-For", "X-Forwarded-Proto", "X-Cache",
	    "Cache-Status", "Age", "Date", NULL};
	size_t i;

	for (i = 0; framing[i] != NULL; i++)
		if (strcasecmp(framing[i], name) == 0)
			return strcasecmp(name, "Host") == 0 ? " (use origin_host)" : "";
	for (i = 0; node[i] != NULL; i++)
		if (strcasecmp(node[i], name) == 0)
			return " (the node writes it)";
	return NULL;
}

static void
cparse_hdr_add(struct cparse *p, const struct cnode *k, const struct cnode *v,
    enum config_hdr_op op, struct config_hdr_rules *h)
{
	struct config_hdr_rule *rule;
	const char *name, *why;
	size_t i;

	if ((name = cparse_str(p, k)) == NULL)
		return;
	for (i = 0; name[i] != '\0'; i++)
		if (!str_is_tchar((unsigned char)name[i]))
			break;
	if (name[i] != '\0' || i > 256) {
		cparse_err(p, k, "\"%.80s\" is not a field name", name);
		return;
	}
	if ((why = cparse_hdr_reserved(name)) != NULL) {
		cparse_err(p, k, "\"%s\" cannot be changed by a rule%s", name, why);
		return;
	}
	if (v != NULL) {
		if (!cparse_type(p, v, CNODE_SCALAR))
			return;
		for (i = 0; v->str[i] != '\0'; i++) {
			unsigned char ch = (unsigned char)v->str[i];

			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				break;
		}
		if (v->str[i] != '\0' || i > 4096) {
			cparse_err(
			    p, v, "invalid field value (control characters or over 4096 bytes)");
			return;
		}
	}
	h->rules = xrealloc(h->rules, (h->n + 1) * sizeof h->rules[0]);
	rule = &h->rules[h->n++];
	*rule = (struct config_hdr_rule){.op = op, .name = xstrdup(name), .name_len = strlen(name)};
	if (v != NULL) {
		size_t n = rule->name_len + strlen(v->str) + 5;

		rule->line = xmalloc(n);
		rule->line_len = (size_t)snprintf(rule->line, n, "%s: %s\r\n", name, v->str);
	}
}

/* request_headers / response_headers: { add: {N: V}, set: {N: V}, remove: [N] } */
static void
cparse_hdr_rules(struct cparse *p, const struct cnode *m, struct config_hdr_rules *h)
{
	static const char *const keys[] = {"add", "set", "remove", NULL};
	static const struct {
		const char *key;
		enum config_hdr_op op;
	} ops[] = {{"remove", CONFIG_HDR_REMOVE}, {"set", CONFIG_HDR_SET}, {"add", CONFIG_HDR_ADD}};
	const struct cnode *v;
	size_t i, j, old, o2;

	if (!cparse_map(p, m, keys))
		return;
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		if ((v = cmap_get(m, ops[i].key, NULL)) == NULL)
			continue;
		old = cparse_push_key(p, ops[i].key);
		if (ops[i].op == CONFIG_HDR_REMOVE) {
			if (cparse_seq(p, v)) {
				for (j = 0; j < v->n; j++) {
					o2 = cparse_push_index(p, j);
					cparse_hdr_add(p, v->kids[j], NULL, ops[i].op, h);
					cparse_pop(p, o2);
				}
			}
		} else if (cparse_type(p, v, CNODE_MAP)) {
			for (j = 0; j + 1 < v->n; j += 2) {
				if (v->kids[j]->type != CNODE_SCALAR)
					continue;
				o2 = cparse_push_key(p, v->kids[j]->str);
				cparse_hdr_add(p, v->kids[j], v->kids[j + 1], ops[i].op, h);
				cparse_pop(p, o2);
			}
		}
		cparse_pop(p, old);
	}
}

/* routes[].rewrite: { prefix: {from: /a/, to: /b/} } or { regex: RE, to: TEMPLATE } */
static void
cparse_rewrite(struct cparse *p, const struct cnode *m, struct config_route *r)
{
	static const char *const keys[] = {"prefix", "regex", "to", NULL};
	static const char *const prefix_keys[] = {"from", "to", NULL};
	const struct cnode *pv, *rv, *v;
	unsigned groups = 0;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	pv = cmap_get(m, "prefix", NULL);
	rv = cmap_get(m, "regex", NULL);
	if ((pv == NULL) == (rv == NULL)) {
		cparse_err(p, m, "needs exactly one of \"prefix\" and \"regex\"");
		return;
	}
	if (pv != NULL) {
		old = cparse_push_key(p, "prefix");
		if (cmap_get(m, "to", NULL) != NULL)
			cparse_err(p, m, "\"to\" goes inside \"prefix\"");
		if (cparse_map(p, pv, prefix_keys)) {
			const struct cnode *from = cparse_required(p, pv, "from");
			const struct cnode *to = cparse_required(p, pv, "to");

			if (from != NULL && to != NULL && cparse_str(p, from) != NULL &&
			    cparse_str(p, to) != NULL) {
				if (from->str[0] != '/' || to->str[0] != '/') {
					cparse_err(p, from->str[0] != '/' ? from : to,
					    "must start with '/'");
				} else {
					r->rewrite = CONFIG_REWRITE_PREFIX;
					r->rewrite_from = xstrdup(from->str);
					r->rewrite_from_len = strlen(from->str);
					r->rewrite_to = xstrdup(to->str);
				}
			}
		}
		cparse_pop(p, old);
		return;
	}
	old = cparse_push_key(p, "regex");
	r->rewrite_re = cparse_regex(p, rv, &groups);
	cparse_pop(p, old);
	if ((v = cparse_required(p, m, "to")) == NULL || r->rewrite_re == NULL)
		return;
	old = cparse_push_key(p, "to");
	if (cparse_str(p, v) != NULL) {
		if (v->str[0] != '/')
			cparse_err(p, v, "must start with '/'");
		else
			cparse_template(p, v, groups, false);
		r->rewrite = CONFIG_REWRITE_REGEX;
		r->rewrite_to = xstrdup(v->str);
	}
	cparse_pop(p, old);
}

/* routes[].redirect: { status: 301|302|307|308, to: TEMPLATE } */
static void
cparse_redirect(struct cparse *p, const struct cnode *m, struct config_route *r)
{
	static const char *const keys[] = {"status", "to", NULL};
	const struct cnode *v;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	r->redirect_status = 302;
	if ((v = cmap_get(m, "status", NULL)) != NULL) {
		old = cparse_push_key(p, "status");
		if (cparse_type(p, v, CNODE_SCALAR)) {
			if (strcmp(v->str, "301") == 0 || strcmp(v->str, "302") == 0 ||
			    strcmp(v->str, "307") == 0 || strcmp(v->str, "308") == 0)
				r->redirect_status = (unsigned)atoi(v->str);
			else
				cparse_err(p, v,
				    "invalid redirect status \"%.20s\" (expected 301, 302, "
				    "307 or 308)",
				    v->str);
		}
		cparse_pop(p, old);
	}
	if ((v = cparse_required(p, m, "to")) != NULL) {
		old = cparse_push_key(p, "to");
		if (cparse_str(p, v) != NULL) {
			cparse_template(
			    p, v, r->match == CONFIG_MATCH_REGEX ? r->re_groups : 0, true);
			r->redirect_to = xstrdup(v->str);
		}
		cparse_pop(p, old);
	}
}

/* "5%", "0.5%", "12.25%": 0..100 % in 1/10000. */
static int
cparse_weight(const char *s, unsigned *out)
{
	unsigned whole = 0, frac = 0, digits = 0, nfrac = 0;

	for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
		whole = whole * 10 + (unsigned)(*s - '0');
	if (digits == 0)
		return -1;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9' && nfrac < 2; s++, nfrac++)
			frac = frac * 10 + (unsigned)(*s - '0');
		if (nfrac == 0)
			return -1;
		if (nfrac == 1)
			frac *= 10;
	}
	if (strcmp(s, "%") != 0 || whole * 100 + frac > 10000)
		return -1;
	*out = whole * 100 + frac;
	return 0;
}

/* routes[].canary: { pool: NAME, weight: 5%, sticky: ip | cookie:NAME } */
static void
cparse_canary(struct cparse *p, const struct cnode *m, struct config_route *r)
{
	static const char *const keys[] = {"pool", "weight", "sticky", NULL};
	const struct cnode *v;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	if ((v = cparse_required(p, m, "pool")) != NULL) {
		old = cparse_push_key(p, "pool");
		if (cparse_str(p, v) != NULL)
			cparse_add_ref(p, &r->canary_pool, v);
		cparse_pop(p, old);
	}
	if ((v = cparse_required(p, m, "weight")) != NULL) {
		old = cparse_push_key(p, "weight");
		if (cparse_type(p, v, CNODE_SCALAR) &&
		    cparse_weight(v->str, &r->canary_weight) != 0)
			cparse_err(p, v,
			    "invalid weight \"%.20s\" (expected a percentage 0%%..100%%, "
			    "e.g. 5%% or 0.5%%)",
			    v->str);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "sticky", NULL)) != NULL) {
		old = cparse_push_key(p, "sticky");
		if (cparse_str(p, v) != NULL) {
			const char *name = v->str + 7;
			size_t i;

			if (strcmp(v->str, "ip") == 0) {
				r->canary_sticky = CONFIG_STICKY_IP;
			} else if (strncmp(v->str, "cookie:", 7) == 0 && name[0] != '\0') {
				for (i = 0; name[i] != '\0' && str_is_tchar((unsigned char)name[i]);
				     i++)
					;
				if (name[i] != '\0') {
					cparse_err(p, v, "\"%.80s\" is not a cookie name", name);
				} else {
					r->canary_sticky = CONFIG_STICKY_COOKIE;
					r->canary_cookie = xstrdup(name);
					r->canary_cookie_len = i;
				}
			} else {
				cparse_err(p, v,
				    "unknown sticky \"%.80s\" (expected ip or cookie:NAME)",
				    v->str);
			}
		}
		cparse_pop(p, old);
	}
}

/*
 * routes[].cache.override_headers: strip | forward | key for every field of
 * CONFIG_OVERRIDE_FIELDS, or a mapping of field names (and "default", for the
 * others) to one of them.
 */
static void
cparse_overrides(struct cparse *p, const struct cnode *v, struct config_route *r)
{
#define CONFIG_OVERRIDE_KEY_NAME(s) s,
	static const char *const keys[] = {
	    "default", CONFIG_OVERRIDE_FIELDS(CONFIG_OVERRIDE_KEY_NAME) NULL};
#undef CONFIG_OVERRIDE_KEY_NAME
	static const char *const modes[] = {"strip", "forward", "key"};
	const struct cnode *d;
	size_t old;
	int mode;

	if (v->type == CNODE_SCALAR) {
		mode = cparse_enum(p, v, "override mode", modes, sizeof modes / sizeof modes[0]);
		if (mode >= 0)
			memset(r->override, mode, sizeof r->override);
	} else if (cparse_map(p, v, keys)) {
		if ((d = cmap_get(v, "default", NULL)) != NULL) {
			old = cparse_push_key(p, "default");
			mode = cparse_enum(
			    p, d, "override mode", modes, sizeof modes / sizeof modes[0]);
			if (mode >= 0)
				memset(r->override, mode, sizeof r->override);
			cparse_pop(p, old);
		}
		for (unsigned i = 0; i < CONFIG_N_OVERRIDE; i++) {
			if ((d = cmap_get(v, config_override_name(i), NULL)) == NULL)
				continue;
			old = cparse_push_key(p, config_override_name(i));
			mode = cparse_enum(
			    p, d, "override mode", modes, sizeof modes / sizeof modes[0]);
			if (mode >= 0)
				r->override[i] = (unsigned char)mode;
			cparse_pop(p, old);
		}
	}
	for (unsigned i = 0; i < CONFIG_N_OVERRIDE; i++)
		r->override_key |= r->override[i] == CONFIG_OVERRIDE_KEY;
}

/* routes[].geo_pools: { EU: pool-fra, DE: pool-x, default: pool-iad } — keys
 * as geo_pool_map_add takes them, values pool names */
static void
cparse_geo_pools(struct cparse *p, const struct cnode *v, struct config_route *r)
{
	char err[256];

	if (!cparse_type(p, v, CNODE_MAP))
		return;
	r->geo_pools = geo_pool_map_new();
	r->geo_pool_refs = xcalloc(v->n / 2 + 1, sizeof r->geo_pool_refs[0]);
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		const struct cnode *k = v->kids[i], *name = v->kids[i + 1];
		size_t old = cparse_push_key(p, k->str);

		if (geo_pool_map_add(r->geo_pools, k->str, (int)r->n_geo_pools, err, sizeof err) !=
		    0)
			cparse_err(p, k, "%s", err);
		else if (cparse_str(p, name) != NULL)
			cparse_add_ref(p, &r->geo_pool_refs[r->n_geo_pools++], name);
		cparse_pop(p, old);
	}
}

/* routes[].cache: { enabled, default_ttl, error_ttl, grace, query, query_allow,
 * get_body, override_headers, vary_geo } */
static void
cparse_route_cache(struct cparse *p, const struct cnode *v, struct config_route *r)
{
	static const char *const keys[] = {"enabled", "default_ttl", "error_ttl", "grace", "query",
	    "query_allow", "get_body", "override_headers", "vary_geo", NULL};
	static const char *const modes[] = {"keep", "sort", "drop", "allow"};
	static const char *const vary_geo[] = {"none", "country", "continent"};
	static const char *const get_body[] = {"drop", "reject", "pass"};
	const struct cnode *q, *qa;
	size_t old, i;
	int mode;

	if (!cparse_map(p, v, keys))
		return;
	cget_bool(p, v, "enabled", &r->cache, NULL);
	cget_duration(p, v, "default_ttl", 0, 3650 * CONFIG_DAY_MS, 1000, &r->default_ttl_s);
	cget_duration(p, v, "error_ttl", 0, 3650 * CONFIG_DAY_MS, 1000, &r->error_ttl_s);
	cget_duration(p, v, "grace", 0, 365 * CONFIG_DAY_MS, 1000, &r->grace_s);
	mode = cget_enum(
	    p, v, "get_body", "get_body mode", get_body, sizeof get_body / sizeof get_body[0]);
	if (mode >= 0)
		r->get_body = (enum config_get_body)mode;
	mode = cget_enum(
	    p, v, "vary_geo", "vary_geo field", vary_geo, sizeof vary_geo / sizeof vary_geo[0]);
	if (mode >= 0)
		r->vary_geo = (enum config_vary_geo)mode;
	if ((q = cmap_get(v, "override_headers", NULL)) != NULL) {
		old = cparse_push_key(p, "override_headers");
		cparse_overrides(p, q, r);
		cparse_pop(p, old);
	}
	if ((q = cmap_get(v, "query", NULL)) != NULL) {
		old = cparse_push_key(p, "query");
		mode = cparse_enum(p, q, "query mode", modes, sizeof modes / sizeof modes[0]);
		if (mode >= 0)
			r->query = (enum config_query)mode;
		cparse_pop(p, old);
	}
	qa = cmap_get(v, "query_allow", NULL);
	if (r->query == CONFIG_QUERY_ALLOW && qa == NULL && q != NULL) {
		old = cparse_push_key(p, "query");
		cparse_err(p, q, "\"allow\" needs query_allow (the parameter names to keep)");
		cparse_pop(p, old);
	}
	if (qa == NULL)
		return;
	old = cparse_push_key(p, "query_allow");
	if (r->query != CONFIG_QUERY_ALLOW) {
		cparse_err(p, qa, "only with query: allow");
	} else if (cparse_seq(p, qa)) {
		r->query_allow = xcalloc(qa->n, sizeof r->query_allow[0]);
		for (i = 0; i < qa->n; i++) {
			size_t o2 = cparse_push_index(p, i);

			if (cparse_str(p, qa->kids[i]) != NULL)
				r->query_allow[r->n_query_allow++] = xstrdup(qa->kids[i]->str);
			cparse_pop(p, o2);
		}
	}
	cparse_pop(p, old);
}

/* routes[].methods: [GET, HEAD, ...] — tokens, case-sensitive (RFC 9110 §9.1) */
static void
cparse_methods(struct cparse *p, const struct cnode *v, struct config_route *r)
{
	size_t i, j, len = sizeof "Allow: \r\n";

	if (!cparse_seq(p, v))
		return;
	r->methods = xcalloc(v->n, sizeof r->methods[0]);
	for (i = 0; i < v->n; i++) {
		size_t old = cparse_push_index(p, i);
		const char *m = cparse_str(p, v->kids[i]);

		for (j = 0; m != NULL && m[j] != '\0'; j++)
			if (!str_is_tchar((unsigned char)m[j]))
				break;
		if (m != NULL && (m[j] != '\0' || j > 32)) {
			cparse_err(p, v->kids[i], "\"%.40s\" is not a method", m);
		} else if (m != NULL) {
			r->methods[r->n_methods++] = xstrdup(m);
			len += j + 2;
		}
		cparse_pop(p, old);
	}
	r->allow_line = xmalloc(len);
	strcpy(r->allow_line, "Allow: ");
	for (i = 0; i < r->n_methods; i++) {
		if (i > 0)
			strcat(r->allow_line, ", ");
		strcat(r->allow_line, r->methods[i]);
	}
	strcat(r->allow_line, "\r\n");
}

/* The key of each way to match a route's path. */
static const char *const cparse_match_keys[] = {
    [CONFIG_MATCH_PREFIX] = "path",
    [CONFIG_MATCH_EXACT] = "exact",
    [CONFIG_MATCH_REGEX] = "regex",
};

/* The route's matcher: exactly one of path (prefix), exact and regex. */
static void
cparse_route_match(struct cparse *p, const struct cnode *m, struct config_route *r)
{
	const char *const *kinds = cparse_match_keys;
	const struct cnode *v = NULL, *kv;
	size_t i, n = 0, old;

	for (i = 0; i < 3; i++) {
		if ((kv = cmap_get(m, kinds[i], NULL)) == NULL)
			continue;
		if (n++ > 0) {
			old = cparse_push_key(p, kinds[i]);
			cparse_err(p, kv, "only one of \"path\", \"exact\" and \"regex\"");
			cparse_pop(p, old);
			continue;
		}
		v = kv;
		r->match = (enum config_match)i;
	}
	if (v == NULL) {
		cparse_err(p, m, "needs one of \"path\", \"exact\" or \"regex\"");
		return;
	}
	old = cparse_push_key(p, kinds[r->match]);
	if (r->match == CONFIG_MATCH_REGEX) {
		r->re = cparse_regex(p, v, &r->re_groups);
		if (r->re != NULL)
			r->path = xstrdup(v->str);
	} else if (cparse_str(p, v) != NULL) {
		if (v->str[0] != '/')
			cparse_err(p, v, "\"%.80s\" does not start with '/'", v->str);
		else
			r->path = xstrdup(v->str);
	}
	cparse_pop(p, old);
}

/* compression.prefer: a sequence of codings (or one string "zstd, br"). */
static void
cparse_coding_pref(struct cparse *p, const struct cnode *v, struct coding_conf *cc)
{
	char list[256], err[128];
	size_t len = 0;

	if (v->type == CNODE_SCALAR) {
		snprintf(list, sizeof list, "%s", v->str);
	} else {
		if (!cparse_seq(p, v))
			return;
		list[0] = '\0';
		for (size_t i = 0; i < v->n; i++) {
			size_t old = cparse_push_index(p, i);
			const char *s = cparse_str(p, v->kids[i]);

			cparse_pop(p, old);
			if (s == NULL)
				return;
			len +=
			    (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0,
			        "%s%s", i > 0 ? ", " : "", s);
			if (len >= sizeof list) {
				cparse_err(p, v, "too long");
				return;
			}
		}
	}
	if (coding_conf_parse_pref(list, &cc->pref, err, sizeof err) != 0)
		cparse_err(p, v, "%s", err);
}

/* compression.levels: { br, zstd, gzip, deflate } */
static void
cparse_coding_levels(struct cparse *p, const struct cnode *v, struct coding_conf *cc)
{
	static const char *const keys[] = {"br", "zstd", "gzip", "deflate", NULL};
	char err[128];

	if (!cparse_map(p, v, keys))
		return;
	for (size_t i = 0; keys[i] != NULL; i++) {
		const struct cnode *l = cmap_get(v, keys[i], NULL);
		int c = coding_from_name(str_cstr(keys[i]));
		size_t old;

		if (l == NULL)
			continue;
		old = cparse_push_key(p, keys[i]);
		if (cparse_type(p, l, CNODE_SCALAR) &&
		    coding_conf_parse_level(
		        (enum coding)c, l->str, &cc->level[c], err, sizeof err) != 0)
			cparse_err(p, l, "%s", err);
		cparse_pop(p, old);
	}
}

/* compression.types: media types ("text/html", "text/\*", "+json"); they
 * replace the defaults.  Views into the tree: cparse_coding_own copies. */
static void
cparse_coding_types(struct cparse *p, const struct cnode *v, struct coding_conf *cc)
{
	char err[128];

	if (!cparse_seq(p, v))
		return;
	if (v->n > CODING_TYPES_MAX) {
		cparse_err(p, v, "at most %d types", CODING_TYPES_MAX);
		return;
	}
	cc->n_types = 0;
	for (size_t i = 0; i < v->n; i++) {
		size_t old = cparse_push_index(p, i);
		const char *s = cparse_str(p, v->kids[i]);

		if (s != NULL &&
		    coding_conf_parse_type(s, &cc->types[cc->n_types], err, sizeof err) != 0)
			cparse_err(p, v->kids[i], "%s", err);
		else if (s != NULL)
			cc->n_types++;
		cparse_pop(p, old);
	}
}

/* compression: { enabled, types, min_size, levels, prefer } on a site or a
 * route, over cc (the defaults, or the site's). */
static void
cparse_compression(struct cparse *p, const struct cnode *v, struct coding_conf *cc)
{
	static const char *const keys[] = {
	    "enabled", "types", "min_size", "levels", "prefer", NULL};
	static const struct {
		const char *key;
		void (*fn)(struct cparse *, const struct cnode *, struct coding_conf *);
	} parts[] = {
	    {"types", cparse_coding_types},
	    {"levels", cparse_coding_levels},
	    {"prefer", cparse_coding_pref},
	};
	char err[128];

	if (!cparse_map(p, v, keys))
		return;
	cget_bool(p, v, "enabled", &cc->enabled, NULL);
	cget_size(p, v, "min_size", 0, (uint64_t)1 << 40, &cc->min_size);
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		const struct cnode *k = cmap_get(v, parts[i].key, NULL);
		size_t old;

		if (k == NULL)
			continue;
		old = cparse_push_key(p, parts[i].key);
		parts[i].fn(p, k, cc);
		cparse_pop(p, old);
	}
	if (coding_conf_check(cc, err, sizeof err) != 0)
		cparse_err(p, v, "%s", err);
}

/* The route's compression (the site's, then its own compression key when
 * m has one), its types copied into one allocation the route owns. */
static void
cparse_route_coding(struct cparse *p, const struct cnode *m, struct config_route *r)
{
	const struct cnode *v = m != NULL ? cmap_get(m, "compression", NULL) : NULL;
	struct coding_conf *cc = &r->compression;
	size_t len = 0, off = 0;

	*cc = p->site_coding;
	if (v != NULL) {
		size_t old = cparse_push_key(p, "compression");

		cparse_compression(p, v, cc);
		cparse_pop(p, old);
	}
	for (size_t i = 0; i < cc->n_types; i++)
		len += cc->types[i].len + 1;
	r->compression_types = xmalloc(len + 1);
	for (size_t i = 0; i < cc->n_types; i++) {
		memcpy(r->compression_types + off, cc->types[i].p, cc->types[i].len);
		r->compression_types[off + cc->types[i].len] = '\0';
		cc->types[i] = str_make(r->compression_types + off, cc->types[i].len);
		off += cc->types[i].len + 1;
	}
}

/* What a route has before its keys are read: the routes a site's "pool:"
 * shorthand makes get the same. */
/* ---- the policy stage: trusted_proxies, access, rate_limit ---- */

/* trusted_proxies: a list of CIDR blocks, into one set. */
static void
cparse_trusted_proxies(struct cparse *p, const struct cnode *v)
{
	struct policy_prefix pf;
	char net[POLICY_PREFIX_STRLEN];

	if (!cparse_seq(p, v))
		return;
	p->c->trusted_proxies = policy_cidr_new();
	for (size_t i = 0; i < v->n; i++) {
		const struct cnode *k = v->kids[i];
		size_t old = cparse_push_index(p, i);
		enum policy_cidr_status st;

		if (cparse_str(p, k) != NULL) {
			st = policy_prefix_parse(str_cstr(k->str), &pf);
			if (st == POLICY_CIDR_OK)
				st = policy_cidr_add(p->c->trusted_proxies, &pf, (uint32_t)i);
			if (st == POLICY_CIDR_E_HOST_BITS)
				cparse_err(p, k, "%s (did you mean %s?)", policy_cidr_strerror(st),
				    policy_prefix_format(&pf, net));
			else if (st != POLICY_CIDR_OK)
				cparse_err(p, k, "\"%.80s\": %s", k->str, policy_cidr_strerror(st));
		}
		cparse_pop(p, old);
	}
}

/* client_address_header: x-forwarded-for | forwarded */
static void
cparse_client_address_header(struct cparse *p, const struct cnode *v)
{
	static const char *const names[] = {
	    [POLICY_CLIENTIP_XFF] = "x-forwarded-for",
	    [POLICY_CLIENTIP_FORWARDED] = "forwarded",
	};
	int i = cparse_enum(p, v, "header", names, sizeof names / sizeof names[0]);

	if (i >= 0)
		p->c->client_address_header = (enum policy_clientip_header)i;
}

/* hide_origin: { enabled: true, fields: [N...] } */
static void
cparse_hide_origin(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"enabled", "fields", NULL};
	const struct cnode *v;
	size_t j, old, o2;

	if (!cparse_map(p, m, keys))
		return;
	cget_bool(p, m, "enabled", &p->c->hide_origin, NULL);
	if ((v = cmap_get(m, "fields", NULL)) == NULL)
		return;
	old = cparse_push_key(p, "fields");
	if (cparse_seq(p, v))
		for (j = 0; j < v->n; j++) {
			o2 = cparse_push_index(p, j);
			cparse_hdr_add(
			    p, v->kids[j], NULL, CONFIG_HDR_REMOVE, &p->c->hide_origin_fields);
			cparse_pop(p, o2);
		}
	cparse_pop(p, old);
}

/* access: { deny: [...] | allow: [...], status: 403 | 451, default: allow | deny } */
static struct config_access *
cparse_access(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"deny", "allow", "status", "default", NULL};
	const struct cnode *deny, *allow, *list, *v;
	struct geo_access_conf gc;
	struct geo_rule *rules;
	struct config_access *a;
	char err[160];
	size_t old, n_bad = 0;
	unsigned status = 403;

	if (!cparse_map(p, m, keys))
		return NULL;
	geo_access_conf_defaults(&gc);
	deny = cmap_get(m, "deny", NULL);
	allow = cmap_get(m, "allow", NULL);
	if (deny != NULL && allow != NULL) {
		old = cparse_push_key(p, "allow");
		cparse_err(p, allow, "\"deny\" and \"allow\" are mutually exclusive");
		cparse_pop(p, old);
		return NULL;
	}
	if (deny == NULL && allow == NULL) {
		cparse_err(p, m, "needs a \"deny\" or an \"allow\" list");
		return NULL;
	}
	gc.mode = allow != NULL ? GEO_ACCESS_ALLOW : GEO_ACCESS_DENY;
	list = allow != NULL ? allow : deny;
	cget_uint(p, m, "status", 100, 599, &status);
	if ((v = cmap_get(m, "status", NULL)) != NULL &&
	    geo_access_status_check(status, err, sizeof err) != 0) {
		old = cparse_push_key(p, "status");
		cparse_err(p, v, "%s", err);
		cparse_pop(p, old);
	}
	gc.status = status;
	if ((v = cmap_get(m, "default", NULL)) != NULL) {
		old = cparse_push_key(p, "default");
		if (cparse_str(p, v) != NULL &&
		    geo_verdict_parse(v->str, &gc.unknown, err, sizeof err) != 0)
			cparse_err(p, v, "%s", err);
		cparse_pop(p, old);
	}
	old = cparse_push_key(p, allow != NULL ? "allow" : "deny");
	if (!cparse_seq(p, list)) {
		cparse_pop(p, old);
		return NULL;
	}
	rules = xcalloc(list->n, sizeof *rules);
	for (size_t i = 0; i < list->n; i++) {
		size_t o2 = cparse_push_index(p, i);

		if (cparse_str(p, list->kids[i]) == NULL) {
			n_bad++;
		} else if (geo_rule_parse(list->kids[i]->str, &rules[i], err, sizeof err) != 0) {
			cparse_err(p, list->kids[i], "%s", err);
			n_bad++;
		}
		cparse_pop(p, o2);
	}
	a = xcalloc(1, sizeof *a);
	if (n_bad == 0 && geo_rules_compile(&gc, rules, list->n, &a->rules, err, sizeof err) != 0)
		cparse_err(p, list, "%s", err);
	cparse_pop(p, old);
	if (a->rules == NULL) {
		free(rules);
		free(a);
		return NULL;
	}
	a->n = list->n;
	a->text = xcalloc(a->n, sizeof *a->text);
	for (size_t i = 0; i < a->n; i++) {
		char buf[GEO_RULE_TEXT_MAX];

		geo_rule_format(&rules[i], buf, sizeof buf);
		a->text[i] = xstrdup(buf);
		a->geo |= rules[i].kind != GEO_RULE_CIDR;
	}
	a->denials = xcalloc(a->n + 2, sizeof *a->denials);
	free(rules);
	return a;
}

/* One key of rate_limit (by, rate or burst) into rl; false after an error. */
static bool
cparse_rl_field(struct cparse *p, const struct cnode *v, const char *key,
    struct config_rate_limit *rl, struct str *header)
{
	size_t old = cparse_push_key(p, key);
	enum policy_rl_status st;
	bool ok = cparse_str(p, v) != NULL;

	if (ok) {
		struct str s = str_cstr(v->str);

		if (strcmp(key, "by") == 0)
			st = policy_rl_by_parse(s, &rl->conf.by, header);
		else if (strcmp(key, "rate") == 0)
			st = policy_rate_parse(s, &rl->conf.rate);
		else
			st = policy_burst_parse(s, &rl->conf.burst);
		if (st != POLICY_RL_OK) {
			cparse_err(p, v, "\"%.80s\": %s", v->str, policy_rl_strerror(st));
			ok = false;
		}
	}
	cparse_pop(p, old);
	return ok;
}

/* rate_limit: { by: address | prefix | "header:NAME", rate: 100/s, burst: 200 } */
static struct config_rate_limit *
cparse_rate_limit(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"by", "rate", "burst", NULL};
	struct config_rate_limit *rl;
	const struct cnode *v;
	struct str header = STR_NULL;
	bool ok = true;

	if (!cparse_map(p, m, keys))
		return NULL;
	rl = xcalloc(1, sizeof *rl);
	policy_ratelimit_conf_defaults(&rl->conf);
	if ((v = cmap_get(m, "by", NULL)) != NULL) {
		if (!cparse_rl_field(p, v, "by", rl, &header)) {
			ok = false;
		} else if (rl->conf.by == POLICY_RL_BY_HEADER) {
			rl->header = xstrndup(header.p, header.len);
			rl->conf.header = str_make(rl->header, header.len);
		}
	}
	if ((v = cparse_required(p, m, "rate")) == NULL || !cparse_rl_field(p, v, "rate", rl, NULL))
		ok = false;
	if ((v = cmap_get(m, "burst", NULL)) != NULL && !cparse_rl_field(p, v, "burst", rl, NULL))
		ok = false;
	if (!ok) {
		config_rate_limit_free(&rl);
		return NULL;
	}
	policy_rl_limit_make(&rl->conf.rate, rl->conf.burst, &rl->limit);
	return rl;
}

/* The secret of a signed_url key from file f: one base64 token, surrounding
 * whitespace cut, into buf (NUL-terminated); false after an error at f. */
static bool
cparse_secret_file(struct cparse *p, const struct cnode *f, char *buf, size_t buflen)
{
	FILE *fp = fopen(f->str, "r");
	size_t n = fp != NULL ? fread(buf, 1, buflen - 1, fp) : 0, b = 0;
	bool ok = false;

	if (fp == NULL) {
		cparse_err(p, f, "cannot read \"%.200s\": %s", f->str, strerror(errno));
		return false;
	}
	fclose(fp);
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	while (b < n && isspace((unsigned char)buf[b]))
		b++;
	buf[n] = '\0';
	if (n == b || n == buflen - 1 || strcspn(buf + b, " \t\r\n") != n - b)
		cparse_err(p, f, "\"%.200s\" must hold one base64 secret", f->str);
	else
		ok = true;
	memmove(buf, buf + b, n - b + 1);
	return ok;
}

/* signed_url: { keys: [{ id, file }], leeway } */
static struct config_signed_url *
cparse_signed_url(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"keys", "leeway", NULL};
	static const char *const key_keys[] = {"id", "file", NULL};
	struct config_signed_url *su = NULL;
	const struct cnode *v;
	char text[POLICY_SIGNED_KEYS_MAX * (POLICY_SIGNED_KID_MAX + 256)], secret[1024];
	char err[256];
	size_t len = 0, old;
	bool ok = true;

	if (!cparse_map(p, m, keys))
		return NULL;
	if ((v = cparse_required(p, m, "keys")) == NULL)
		return NULL;
	old = cparse_push_key(p, "keys");
	if (!cparse_seq(p, v)) {
		cparse_pop(p, old);
		return NULL;
	}
	if (v->n > POLICY_SIGNED_KEYS_MAX) {
		cparse_err(p, v, "at most %d keys", POLICY_SIGNED_KEYS_MAX);
		ok = false;
	}
	for (size_t i = 0; i < v->n && i < POLICY_SIGNED_KEYS_MAX; i++) {
		const struct cnode *k = v->kids[i], *id, *f;
		size_t o2 = cparse_push_index(p, i), o3;
		struct policy_signed_keys *one = NULL;
		bool kok = true;
		int n;

		if (!cparse_map(p, k, key_keys) || (id = cparse_required(p, k, "id")) == NULL ||
		    (f = cparse_required(p, k, "file")) == NULL) {
			ok = false;
			cparse_pop(p, o2);
			continue;
		}
		o3 = cparse_push_key(p, "id");
		kok = cparse_str(p, id) != NULL;
		if (kok &&
		    (strlen(id->str) > POLICY_SIGNED_KID_MAX ||
		        strspn(id->str, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                        "0123456789._-") != strlen(id->str))) {
			cparse_err(p, id, "\"%.40s\": 1 to %d of A-Z a-z 0-9 . _ -", id->str,
			    POLICY_SIGNED_KID_MAX);
			kok = false;
		}
		for (size_t j = 0; j < i && kok; j++) {
			const struct cnode *prev = cmap_get(v->kids[j], "id", NULL);

			if (prev != NULL && prev->type == CNODE_SCALAR &&
			    strcmp(prev->str, id->str) == 0) {
				cparse_err(p, id, "duplicate key id \"%.40s\"", id->str);
				kok = false;
			}
		}
		cparse_pop(p, o3);
		o3 = cparse_push_key(p, "file");
		kok = kok && cparse_str(p, f) != NULL &&
		      cparse_secret_file(p, f, secret, sizeof secret);
		if (kok) {
			/* one line of a key file (policy_signed_keys_parse checks both) */
			n = snprintf(text + len, sizeof text - len, "%s %s\n", id->str, secret);
			if (n < 0 || (size_t)n >= sizeof text - len) {
				cparse_err(p, f, "secret too long");
				kok = false;
			} else if (policy_signed_keys_parse(
			               f->str, text + len, (size_t)n, &one, err, sizeof err) != 0) {
				cparse_err(p, f, "%s", err);
				kok = false;
			} else {
				len += (size_t)n;
			}
			policy_signed_keys_unref(&one);
		}
		OPENSSL_cleanse(secret, sizeof secret);
		ok = ok && kok;
		cparse_pop(p, o3);
		cparse_pop(p, o2);
	}
	if (ok) {
		su = xcalloc(1, sizeof *su);
		su->refs = 1;
		policy_signed_conf_defaults(&su->conf);
		if (policy_signed_keys_parse("signed_url", text, len, &su->keys, err, sizeof err) !=
		    0) {
			cparse_err(p, v, "%s", err);
			config_signed_url_unref(&su);
		}
	}
	OPENSSL_cleanse(text, sizeof text);
	cparse_pop(p, old);
	if (su != NULL)
		cget_duration(p, m, "leeway", 0, 3600 * 1000, 1000, &su->conf.leeway_s);
	return su;
}

/* A string of a jwt setting, kept in j->strs; NULL after an error. */
static const char *
cparse_jwt_str(struct cparse *p, const struct cnode *n, struct config_jwt *j)
{
	const char *s = cparse_str(p, n);

	if (s == NULL)
		return NULL;
	ASSERT(j->n_strs < sizeof j->strs / sizeof j->strs[0]);
	return j->strs[j->n_strs++] = xstrdup(s);
}

/* jwt.algorithms: [RS256, ES256, HS256] */
static void
cparse_jwt_algs(struct cparse *p, const struct cnode *v, struct config_jwt *j)
{
	static const struct {
		const char *name;
		unsigned bit;
	} algs[] = {
	    {"RS256", POLICY_JWT_RS256}, {"ES256", POLICY_JWT_ES256}, {"HS256", POLICY_JWT_HS256}};

	if (!cparse_seq(p, v))
		return;
	for (size_t i = 0; i < v->n; i++) {
		size_t o2 = cparse_push_index(p, i), a;
		const char *s = cparse_str(p, v->kids[i]);

		for (a = 0; s != NULL && a < sizeof algs / sizeof algs[0]; a++)
			if (strcmp(s, algs[a].name) == 0)
				break;
		if (s != NULL && a == sizeof algs / sizeof algs[0])
			cparse_err(p, v->kids[i], "\"%.40s\": one of RS256, ES256, HS256", s);
		else if (s != NULL)
			j->conf.algs |= algs[a].bit;
		cparse_pop(p, o2);
	}
}

/* jwt.audience: a string or a list of them */
static void
cparse_jwt_audience(struct cparse *p, const struct cnode *v, struct config_jwt *j)
{
	const char *s;

	if (v->type == CNODE_SCALAR) {
		if ((s = cparse_jwt_str(p, v, j)) != NULL)
			j->conf.audiences[j->conf.n_audiences++] = s;
		return;
	}
	if (!cparse_seq(p, v))
		return;
	if (v->n > POLICY_JWT_AUD_MAX) {
		cparse_err(p, v, "at most %d audiences", POLICY_JWT_AUD_MAX);
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		size_t o2 = cparse_push_index(p, i);

		if ((s = cparse_jwt_str(p, v->kids[i], j)) != NULL)
			j->conf.audiences[j->conf.n_audiences++] = s;
		cparse_pop(p, o2);
	}
}

/* jwt.claims_headers: { claim: Header-Name, ... } */
static void
cparse_jwt_claims(struct cparse *p, const struct cnode *v, struct config_jwt *j)
{
	char err[160];

	if (!cparse_type(p, v, CNODE_MAP))
		return;
	if (v->n / 2 > POLICY_JWT_FORWARD_MAX) {
		cparse_err(p, v, "at most %d claims", POLICY_JWT_FORWARD_MAX);
		return;
	}
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		const struct cnode *k = v->kids[i];
		struct policy_jwt_forward *f = &j->conf.forward[j->conf.n_forward];
		size_t o2;

		if (k->type != CNODE_SCALAR) {
			cparse_err(p, k, "keys must be scalars, got %s", cnode_type_name(k));
			continue;
		}
		o2 = cparse_push_key(p, k->str);
		f->claim = cparse_jwt_str(p, k, j);
		f->header = cparse_jwt_str(p, v->kids[i + 1], j);
		if (f->claim != NULL && f->header != NULL) {
			j->conf.n_forward++;
			if (policy_jwt_conf_check(&j->conf, err, sizeof err) != 0) {
				cparse_err(p, v->kids[i + 1], "%s", err);
				j->conf.n_forward--;
			}
		}
		cparse_pop(p, o2);
	}
}

/* jwt: { jwks, issuer, audience, algorithms, leeway, require_exp,
 * max_token_bytes, claims_headers } */
static struct config_jwt *
cparse_jwt(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"jwks", "issuer", "audience", "algorithms", "leeway",
	    "require_exp", "max_token_bytes", "claims_headers", NULL};
	struct config_jwt *j;
	const struct cnode *v;
	char err[512];
	size_t old, errs = p->n_errs;

	if (!cparse_map(p, m, keys))
		return NULL;
	j = xcalloc(1, sizeof *j);
	j->refs = 1;
	policy_jwt_conf_defaults(&j->conf);
	if ((v = cparse_required(p, m, "jwks")) != NULL) {
		old = cparse_push_key(p, "jwks");
		if ((j->conf.jwks_file = cparse_jwt_str(p, v, j)) != NULL &&
		    policy_jwks_load(j->conf.jwks_file, &j->jwks, err, sizeof err) != 0)
			cparse_err(p, v, "%s", err);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "issuer", NULL)) != NULL) {
		old = cparse_push_key(p, "issuer");
		j->conf.issuer = cparse_jwt_str(p, v, j);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "audience", NULL)) != NULL) {
		old = cparse_push_key(p, "audience");
		cparse_jwt_audience(p, v, j);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "algorithms", NULL)) != NULL) {
		old = cparse_push_key(p, "algorithms");
		cparse_jwt_algs(p, v, j);
		cparse_pop(p, old);
	}
	cget_duration(p, m, "leeway", 0, 3600 * 1000, 1000, &j->conf.leeway_s);
	cget_bool(p, m, "require_exp", &j->conf.require_exp, NULL);
	if (cmap_get(m, "max_token_bytes", NULL) != NULL) {
		uint64_t max = j->conf.max_token_bytes;

		cget_size(p, m, "max_token_bytes", 64, POLICY_JWT_TOKEN_MAX, &max);
		j->conf.max_token_bytes = (size_t)max;
	}
	if ((v = cmap_get(m, "claims_headers", NULL)) != NULL) {
		old = cparse_push_key(p, "claims_headers");
		cparse_jwt_claims(p, v, j);
		cparse_pop(p, old);
	}
	if (p->n_errs != errs || j->jwks == NULL)
		config_jwt_unref(&j);
	return j;
}

/* The access, rate_limit, signed_url, jwt and geo_headers keys of map m (a
 * site or a route). */
static void
cparse_guard_keys(struct cparse *p, const struct cnode *m, struct config_access **access,
    struct config_rate_limit **rl, struct config_signed_url **su, struct config_jwt **jwt,
    enum config_tristate *geo_headers)
{
	const struct cnode *v;
	size_t old;
	bool on = false;

	if (cmap_get(m, "geo_headers", NULL) != NULL) {
		v = NULL;
		cget_bool(p, m, "geo_headers", &on, &v);
		if (v != NULL)
			*geo_headers = on ? CONFIG_ON : CONFIG_OFF;
	}

	if ((v = cmap_get(m, "access", NULL)) != NULL) {
		old = cparse_push_key(p, "access");
		*access = cparse_access(p, v);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "rate_limit", NULL)) != NULL) {
		old = cparse_push_key(p, "rate_limit");
		*rl = cparse_rate_limit(p, v);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "signed_url", NULL)) != NULL) {
		old = cparse_push_key(p, "signed_url");
		*su = cparse_signed_url(p, v);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "jwt", NULL)) != NULL) {
		old = cparse_push_key(p, "jwt");
		*jwt = cparse_jwt(p, v);
		cparse_pop(p, old);
	}
}

/* A rate limit's zone: FNV-1a of the site's name and the route's path (""
 * for the site's own), so a reload that keeps them keeps the buckets. */
static uint32_t
cparse_zone(const char *site, const char *path)
{
	uint32_t h = 2166136261u;
	const char *parts[2] = {site != NULL ? site : "", path != NULL ? path : ""};

	for (int i = 0; i < 2; i++) {
		for (const char *q = parts[i]; *q != '\0'; q++)
			h = (h ^ (uint8_t)*q) * 16777619u;
		h = (h ^ 0xffu) * 16777619u; /* a separator no name holds */
	}
	return h;
}

/* ---- geo: databases and the fields to the origin ---- */

static _Atomic uint64_t cparse_geo_serial;

/* geo.databases[i]: { path, type }; each file is opened and checked now. */
static void
cparse_geo_db(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"path", "type", NULL};
	static const char *const kinds[] = {"country", "city", "asn"};
	const struct cnode *pv, *tv;
	struct geo_conf one;
	struct geo_dbs *d = NULL;
	char err[512];
	size_t old;
	int k = -1;

	if (!cparse_map(p, m, keys))
		return;
	pv = cparse_required(p, m, "path");
	tv = cparse_required(p, m, "type");
	if (tv != NULL) {
		old = cparse_push_key(p, "type");
		if (cparse_str(p, tv) != NULL) {
			for (int i = 0; i < GEO_DB__N; i++)
				if (strcmp(tv->str, kinds[i]) == 0)
					k = i;
			if (k < 0)
				cparse_err(p, tv, "unknown type \"%.40s\" (country, city or asn)",
				    tv->str);
			else if (p->c->geo_paths[k] != NULL)
				cparse_err(p, tv, "a second %s database", kinds[k]);
		}
		cparse_pop(p, old);
	}
	if (pv == NULL || k < 0 || p->c->geo_paths[k] != NULL)
		return;
	old = cparse_push_key(p, "path");
	if (cparse_str(p, pv) != NULL) {
		geo_conf_defaults(&one);
		one.db_path[k] = pv->str;
		if (geo_dbs_open(&one, &d, err, sizeof err) != 0) {
			cparse_err(p, pv, "%s", err);
		} else {
			geo_dbs_unref(&d);
			p->c->geo_paths[k] = xstrdup(pv->str);
			p->c->geo_conf.db_path[k] = p->c->geo_paths[k];
		}
	}
	cparse_pop(p, old);
}

/* geo.headers: true | false | { country: NAME, ... } (the others keep
 * their default names). */
static void
cparse_geo_headers(struct cparse *p, const struct cnode *v)
{
	static const char *const keys[] = {"country", "continent", "region", "city", "asn", NULL};
	static const enum geo_hdr which[] = {
	    GEO_HDR_COUNTRY, GEO_HDR_CONTINENT, GEO_HDR_REGION, GEO_HDR_CITY, GEO_HDR_ASN};
	struct config *c = p->c;

	if (v->type == CNODE_SCALAR) {
		if (config_value_bool(v->str, &c->geo_conf.headers) == -1)
			cparse_err(p, v, "expected true, false or a mapping of field names");
		return;
	}
	if (!cparse_map(p, v, keys))
		return;
	for (size_t i = 0; keys[i] != NULL; i++) {
		const struct cnode *n = cmap_get(v, keys[i], NULL);
		size_t old;

		if (n == NULL)
			continue;
		old = cparse_push_key(p, keys[i]);
		if (cparse_str(p, n) != NULL) {
			size_t j = 0;

			while (n->str[j] != '\0' && str_is_tchar((unsigned char)n->str[j]))
				j++;
			if (n->str[j] != '\0' || j > 64) {
				cparse_err(p, n, "\"%.80s\" is not a field name", n->str);
			} else {
				free(c->geo_hdr_names[which[i]]);
				c->geo_hdr_names[which[i]] = xstrdup(n->str);
			}
		}
		cparse_pop(p, old);
	}
}

static void
cparse_geo(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"databases", "headers", NULL};
	const struct cnode *v;
	char err[512];
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	if ((v = cparse_required(p, m, "databases")) != NULL) {
		old = cparse_push_key(p, "databases");
		if (cparse_seq(p, v))
			for (size_t i = 0; i < v->n; i++) {
				size_t o2 = cparse_push_index(p, i);

				cparse_geo_db(p, v->kids[i]);
				cparse_pop(p, o2);
			}
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "headers", NULL)) != NULL) {
		old = cparse_push_key(p, "headers");
		cparse_geo_headers(p, v);
		cparse_pop(p, old);
	}
	if (p->n_errs == 0 && geo_dbs_open(&p->c->geo_conf, &p->c->geo, err, sizeof err) != 0)
		cparse_err(p, m, "%s", err);
}

/* The field names of geo.headers left at their defaults. */
static void
cparse_geo_defaults(struct config *c)
{
	for (int i = 0; i < GEO_HDR__N; i++)
		if (c->geo_hdr_names[i] == NULL)
			c->geo_hdr_names[i] = xstrdup(geo_hdr_name((enum geo_hdr)i));
	c->geo_serial = atomic_fetch_add_explicit(&cparse_geo_serial, 1, memory_order_relaxed) + 1;
}

static void
cparse_route_defaults(struct config_route *r)
{
	r->cache = true;
	r->grace_s = CONFIG_GRACE_INHERIT;
	r->request_buffering = true;
}

static void
cparse_route(struct cparse *p, const struct cnode *m, struct config_route *r)
{
	static const char *const keys[] = {"path", "exact", "regex", "pool", "methods", "cache",
	    "rewrite", "origin_host", "redirect", "request_headers", "response_headers", "canary",
	    "request_buffering", "underscores_in_headers", "compression", "access", "rate_limit",
	    "signed_url", "jwt", "geo_headers", "geo_pools", NULL};
	static const struct {
		const char *key;
		void (*fn)(struct cparse *, const struct cnode *, struct config_route *);
	} parts[] = {
	    {"cache", cparse_route_cache},
	    {"rewrite", cparse_rewrite},
	    {"redirect", cparse_redirect},
	    {"canary", cparse_canary},
	    {"methods", cparse_methods},
	    {"geo_pools", cparse_geo_pools},
	};
	const struct cnode *v;
	char err[CONFIG_VALUE_ERRLEN];
	size_t i, old;

	cparse_route_defaults(r);
	if (!cparse_map(p, m, keys))
		return;
	cparse_route_match(p, m, r);
	cparse_route_coding(p, m, r);
	cget_bool(p, m, "request_buffering", &r->request_buffering, NULL);
	cget_bool(p, m, "underscores_in_headers", &r->underscores, NULL);
	cparse_guard_keys(
	    p, m, &r->access, &r->rate_limit, &r->signed_url, &r->jwt, &r->geo_headers);
	for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if ((v = cmap_get(m, parts[i].key, NULL)) == NULL)
			continue;
		old = cparse_push_key(p, parts[i].key);
		parts[i].fn(p, v, r);
		cparse_pop(p, old);
	}
	/* a redirect is answered by the node: no pool needed */
	v = r->redirect_to != NULL ? cmap_get(m, "pool", NULL) : cparse_required(p, m, "pool");
	if (v != NULL) {
		old = cparse_push_key(p, "pool");
		if (cparse_str(p, v) != NULL)
			cparse_add_ref(p, &r->pool, v);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "origin_host", NULL)) != NULL) {
		old = cparse_push_key(p, "origin_host");
		if (cparse_str(p, v) != NULL) {
			const char *colon = strrchr(v->str, ':');
			size_t hl = colon != NULL && v->str[0] != '[' ? (size_t)(colon - v->str)
			                                              : strlen(v->str);
			uint16_t port;

			if (!config_value_dns_name(v->str, hl) ||
			    (colon != NULL &&
			        config_value_port(colon + 1, strlen(colon + 1), &port) != 0)) {
				snprintf(err, sizeof err,
				    "invalid host \"%.80s\" (a DNS name, optionally "
				    ":port)",
				    v->str);
				cparse_err(p, v, "%s", err);
			} else {
				r->origin_host = xstrdup(v->str);
			}
		}
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "request_headers", NULL)) != NULL) {
		old = cparse_push_key(p, "request_headers");
		cparse_hdr_rules(p, v, &r->req_hdrs);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "response_headers", NULL)) != NULL) {
		old = cparse_push_key(p, "response_headers");
		cparse_hdr_rules(p, v, &r->resp_hdrs);
		cparse_pop(p, old);
	}
}

static void
cparse_add_host(struct cparse *p, const char *name, const struct cnode *n, size_t site)
{
	if (p->n_hosts == p->cap_hosts) {
		p->cap_hosts = p->cap_hosts ? p->cap_hosts * 2 : 16;
		p->hosts = xrealloc(p->hosts, p->cap_hosts * sizeof p->hosts[0]);
	}
	p->hosts[p->n_hosts++] = (struct chost){name, n, site, xstrdup(p->path)};
}

/* "file:line:column: key.path" of node n, kept for errors found after load. */
static char *
cparse_where(struct cparse *p, const struct cnode *n)
{
	char buf[1024];

	snprintf(buf, sizeof buf, "%s:%u:%u: %s", p->file, n->line, n->col, p->path);
	return xstrdup(buf);
}

/* sites[].tls.certificates[i]: { cert: FILE, key: FILE, ocsp: FILE } */
static void
cparse_cert(struct cparse *p, const struct cnode *m, struct config_site *s)
{
	static const char *const keys[] = {"cert", "key", "ocsp", NULL};
	const struct cnode *cv, *kv, *ov;
	struct config_cert cc = {0};
	const char *ocsp = NULL;
	char err[512];
	bool exposed;
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	cv = cparse_required(p, m, "cert");
	kv = cparse_required(p, m, "key");
	if ((ov = cmap_get(m, "ocsp", NULL)) != NULL) {
		old = cparse_push_key(p, "ocsp");
		ocsp = cparse_str(p, ov); /* the files are checked below */
		cparse_pop(p, old);
	}
	if (cv == NULL || kv == NULL)
		return;
	old = cparse_push_key(p, "cert");
	if (cparse_str(p, cv) != NULL)
		cc.cert = xstrdup(cv->str);
	cparse_pop(p, old);
	old = cparse_push_key(p, "key");
	if (cparse_str(p, kv) != NULL)
		cc.key = xstrdup(kv->str);
	cparse_pop(p, old);
	if (cc.cert == NULL || cc.key == NULL)
		goto fail;
	if (config_tls_check_pair(cc.cert, cc.key, &exposed, err, sizeof err) != 0) {
		/* a key problem is reported at the key, the rest at the cert */
		bool at_key = strstr(err, cc.key) != NULL && strstr(err, "does not match") == NULL;

		old = cparse_push_key(p, at_key ? "key" : "cert");
		cparse_err(p, at_key ? kv : cv, "%s", err);
		cparse_pop(p, old);
		goto fail;
	}
	if (exposed) {
		old = cparse_push_key(p, "key");
		log_warn("config",
		    "%s:%u:%u: %s: private key \"%s\" is readable by others "
		    "(chmod 600 and owner root)",
		    p->file, kv->line, kv->col, p->path, cc.key);
		cparse_pop(p, old);
	}
	if (ov != NULL) {
		if (ocsp == NULL)
			goto fail; /* reported */
		if (config_tls_check_ocsp(cc.cert, ocsp, err, sizeof err) != 0) {
			old = cparse_push_key(p, "ocsp");
			cparse_err(p, ov, "%s", err);
			cparse_pop(p, old);
			goto fail;
		}
		cc.ocsp = xstrdup(ocsp);
	}
	cc.where = cparse_where(p, m);
	s->certs[s->n_certs++] = cc;
	return;
fail:
	free(cc.cert);
	free(cc.key);
}

/* sites[].tls: { certificates: [...], default: BOOL } */
static void
cparse_site_tls(struct cparse *p, const struct cnode *m, struct config_site *s)
{
	static const char *const keys[] = {"certificates", "default", NULL};
	const struct cnode *v, *dv = NULL;
	size_t i, old;

	if (!cparse_map(p, m, keys))
		return;
	if ((v = cparse_required(p, m, "certificates")) != NULL) {
		old = cparse_push_key(p, "certificates");
		if (cparse_seq(p, v)) {
			s->certs = xcalloc(v->n, sizeof s->certs[0]);
			for (i = 0; i < v->n; i++) {
				size_t o2 = cparse_push_index(p, i);

				cparse_cert(p, v->kids[i], s);
				cparse_pop(p, o2);
			}
		}
		cparse_pop(p, old);
	}
	cget_bool(p, m, "default", &s->tls_default, &dv);
	if (s->tls_default) {
		if (p->has_default) {
			old = cparse_push_key(p, "default");
			cparse_err(p, dv, "only one site may be the TLS default");
			cparse_pop(p, old);
		}
		p->has_default = true;
	}
}

/* Top-level tls: { ticket_keys: FILE, session_cache: N } */
static void
cparse_tls(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {"ticket_keys", "session_cache", NULL};
	const struct cnode *v;
	char err[512];
	size_t old;

	if (!cparse_map(p, m, keys))
		return;
	cget_uint(p, m, "session_cache", 0, 10000000, &p->c->tls_session_cache);
	if ((v = cmap_get(m, "ticket_keys", NULL)) == NULL)
		return;
	old = cparse_push_key(p, "ticket_keys");
	if (cparse_str(p, v) != NULL) {
		if (config_tls_check_ticket_keys(v->str, err, sizeof err) != 0)
			cparse_err(p, v, "%s", err);
		else
			p->c->tls_ticket_keys = xstrdup(v->str);
	}
	cparse_pop(p, old);
}

static void
cparse_site(struct cparse *p, const struct cnode *m, struct config_site *s, size_t idx)
{
	static const char *const keys[] = {"name", "hosts", "routes", "pool", "tls",
	    "redirect_https", "hsts", "compression", "access", "rate_limit", "signed_url", "jwt",
	    NULL};
	const struct cnode *v, *routes, *pool;
	size_t i, j, old;

	coding_conf_defaults(&p->site_coding);
	if (!cparse_map(p, m, keys))
		return;
	if ((v = cmap_get(m, "compression", NULL)) != NULL) {
		old = cparse_push_key(p, "compression");
		cparse_compression(p, v, &p->site_coding);
		cparse_pop(p, old);
	}
	if ((v = cmap_get(m, "tls", NULL)) != NULL) {
		p->tls_sites++;
		old = cparse_push_key(p, "tls");
		cparse_site_tls(p, v, s);
		cparse_pop(p, old);
	}
	cget_bool(p, m, "redirect_https", &s->redirect_https, NULL);
	if ((v = cmap_get(m, "hsts", NULL)) != NULL) {
		char err[CONFIG_VALUE_ERRLEN];

		old = cparse_push_key(p, "hsts");
		if (cparse_str(p, v) != NULL) {
			if (config_value_hsts(v->str, err, sizeof err) == -1)
				cparse_err(p, v, "%s", err);
			else
				s->hsts = xstrdup(v->str);
		}
		cparse_pop(p, old);
	}

	if ((v = cparse_required(p, m, "name")) != NULL) {
		old = cparse_push_key(p, "name");
		if (cparse_str(p, v) != NULL)
			s->name = xstrdup(v->str);
		cparse_pop(p, old);
	}
	if ((v = cparse_required(p, m, "hosts")) != NULL) {
		old = cparse_push_key(p, "hosts");
		if (cparse_seq(p, v)) {
			s->hosts = xcalloc(v->n, sizeof s->hosts[0]);
			for (i = 0; i < v->n; i++) {
				size_t o2 = cparse_push_index(p, i);
				char err[CONFIG_VALUE_ERRLEN], *h;

				if (cparse_str(p, v->kids[i]) != NULL) {
					if (config_value_host_pattern(
					        v->kids[i]->str, err, sizeof err) == -1) {
						cparse_err(p, v->kids[i], "%s", err);
					} else {
						h = xstrdup(v->kids[i]->str);
						for (j = 0; h[j] != '\0'; j++)
							h[j] = (char)str_lower((unsigned char)h[j]);
						s->hosts[s->n_hosts++] = h;
						cparse_add_host(p, h, v->kids[i], idx);
					}
				}
				cparse_pop(p, o2);
			}
		}
		cparse_pop(p, old);
	}
	routes = cmap_get(m, "routes", NULL);
	pool = cmap_get(m, "pool", NULL);
	if (routes != NULL && pool != NULL) {
		old = cparse_push_key(p, "pool");
		cparse_err(p, pool, "\"pool\" and \"routes\" are mutually exclusive");
		cparse_pop(p, old);
	} else if (routes == NULL && pool == NULL) {
		cparse_err(p, m, "needs \"routes\" or \"pool\"");
	} else if (pool != NULL) {
		old = cparse_push_key(p, "pool");
		if (cparse_str(p, pool) != NULL) {
			s->routes = xcalloc(1, sizeof s->routes[0]);
			s->n_routes = 1;
			s->routes[0].path = xstrdup("/");
			cparse_route_defaults(&s->routes[0]);
			cparse_route_coding(p, NULL, &s->routes[0]);
			cparse_add_ref(p, &s->routes[0].pool, pool);
		}
		cparse_pop(p, old);
	} else {
		old = cparse_push_key(p, "routes");
		if (cparse_seq(p, routes)) {
			s->routes = xcalloc(routes->n, sizeof s->routes[0]);
			s->n_routes = routes->n;
			for (i = 0; i < routes->n; i++) {
				size_t o2 = cparse_push_index(p, i);

				cparse_route(p, routes->kids[i], &s->routes[i]);
				for (j = 0; j < i && s->routes[i].path != NULL; j++) {
					const char *k = cparse_match_keys[s->routes[i].match];

					if (s->routes[j].path != NULL &&
					    s->routes[j].match == s->routes[i].match &&
					    strcmp(s->routes[j].path, s->routes[i].path) == 0) {
						const struct cnode *a, *b;
						size_t o3 = cparse_push_key(p, k);

						a = cmap_get(routes->kids[j], k, NULL);
						b = cmap_get(routes->kids[i], k, NULL);
						cparse_err(p, b,
						    "duplicate path \"%s\" (first at "
						    "line %u, column %u)",
						    s->routes[i].path, a->line, a->col);
						cparse_pop(p, o3);
						break;
					}
				}
				cparse_pop(p, o2);
			}
		}
		cparse_pop(p, old);
	}
	cparse_guard_keys(
	    p, m, &s->access, &s->rate_limit, &s->signed_url, &s->jwt, &s->geo_headers);
	if (s->rate_limit != NULL)
		s->rate_limit->zone = cparse_zone(s->name, NULL);
	for (i = 0; i < s->n_routes; i++) {
		struct config_route *r = &s->routes[i];

		if (r->rate_limit != NULL)
			r->rate_limit->zone = cparse_zone(s->name, r->path);
		/* a route without its own takes the site's: one pointer per request */
		if (r->signed_url == NULL && s->signed_url != NULL) {
			r->signed_url = s->signed_url;
			s->signed_url->refs++;
		}
		if (r->jwt == NULL && s->jwt != NULL) {
			r->jwt = s->jwt;
			s->jwt->refs++;
		}
	}
}

static int
chost_cmp(const void *a, const void *b)
{
	const struct chost *ha = a, *hb = b;
	int r = strcmp(ha->name, hb->name);

	if (r != 0)
		return r;
	if (ha->node->line != hb->node->line)
		return ha->node->line < hb->node->line ? -1 : 1;
	return ha->node->col < hb->node->col ? -1 : ha->node->col > hb->node->col;
}

static void
cparse_sites(struct cparse *p, const struct cnode *seq)
{
	struct config *c = p->c;
	size_t i, old;

	if (!cparse_seq(p, seq))
		return;
	c->sites = xcalloc(seq->n, sizeof c->sites[0]);
	c->n_sites = seq->n;
	for (i = 0; i < seq->n; i++) {
		old = cparse_push_index(p, i);
		cparse_site(p, seq->kids[i], &c->sites[i], i);
		cparse_dup_name(p, seq, i, c->sites, sizeof c->sites[0],
		    offsetof(struct config_site, name), "site");
		cparse_pop(p, old);
	}
	/* Hosts are unique across all sites (so at most one "*" site). */
	if (p->n_hosts > 1)
		qsort(p->hosts, p->n_hosts, sizeof p->hosts[0], chost_cmp);
	for (i = 1; i < p->n_hosts; i++) {
		const struct chost *a = &p->hosts[i - 1], *b = &p->hosts[i];
		const char *site;

		if (strcmp(a->name, b->name) != 0)
			continue;
		site = c->sites[a->site].name ? c->sites[a->site].name : "?";
		/* Report b under its own path. */
		old = p->plen;
		snprintf(p->path, sizeof p->path, "%s", b->path);
		p->plen = strlen(p->path);
		cparse_err(p, b->node,
		    "duplicate host \"%s\" (first in site \"%s\" at line %u, "
		    "column %u)",
		    b->name, site, a->node->line, a->node->col);
		cparse_pop(p, old);
	}
}

/* Pool names → pointers, after both sections are read. */
static void
cparse_resolve(struct cparse *p)
{
	size_t i, j;

	for (i = 0; i < p->n_refs; i++) {
		const struct cref *r = &p->refs[i];

		for (j = 0; j < p->c->n_pools; j++) {
			if (p->c->pools[j].name != NULL && !p->c->pools[j].sibling &&
			    strcmp(p->c->pools[j].name, r->name->str) == 0) {
				*r->slot = &p->c->pools[j];
				break;
			}
		}
		if (*r->slot == NULL && p->c->n_pools > 0) {
			snprintf(p->path, sizeof p->path, "%s", r->path);
			p->plen = strlen(p->path);
			cparse_err(p, r->name, "unknown pool \"%.80s\"", r->name->str);
			cparse_pop(p, 0);
		}
	}
}

/* An error found after the walk, at node n whose key path was saved. */
static void
cparse_err_under(struct cparse *p, const char *path, const struct cnode *n, const char *msg)
{
	snprintf(p->path, sizeof p->path, "%s", path);
	p->plen = strlen(p->path);
	cparse_err(p, n, "%s", msg);
	cparse_pop(p, 0);
}

/* http2: the limits of an HTTP/2 connection (edge/edge_h2.h; the ranges
 * are edge_h2_conf_check's, which the transport asserts). */
static void
cparse_http2(struct cparse *p, const struct cnode *m)
{
	static const char *const keys[] = {
	    "max_concurrent_streams",
	    "max_header_list",
	    "max_header_fields",
	    "hpack_table",
	    "max_continuations",
	    "max_frame",
	    "stream_window",
	    "connection_window",
	    "stream_buffer",
	    "output_buffer",
	    "reset_budget",
	    "reset_window",
	    "control_budget",
	    "empty_data_budget",
	    "flood_window",
	    "settings_timeout",
	    NULL,
	};
	struct edge_h2_conf *h = &p->c->http2;

	if (!cparse_map(p, m, keys))
		return;
	cget_uint(p, m, "max_concurrent_streams", 1, 1u << 20, &h->max_concurrent_streams);
	cget_size32(p, m, "max_header_list", 1024, 1u << 24, &h->max_header_list_bytes);
	cget_uint(p, m, "max_header_fields", 8, 10000, &h->max_header_fields);
	cget_size32(p, m, "hpack_table", 0, 1u << 20, &h->hpack_table_bytes);
	cget_uint(p, m, "max_continuations", 0, 1000, &h->max_continuations);
	cget_size32(p, m, "max_frame", 16384, 16777215, &h->max_frame_bytes);
	cget_size32(p, m, "stream_window", 1, 2147483647u, &h->stream_window_bytes);
	cget_size32(p, m, "connection_window", 65535, 2147483647u, &h->conn_window_bytes);
	cget_size32(p, m, "stream_buffer", 1024, 1u << 30, &h->stream_buffer_bytes);
	cget_size32(p, m, "output_buffer", 1024, 1u << 30, &h->out_buffer_bytes);
	cget_uint(p, m, "reset_budget", 1, 1000000, &h->reset_budget);
	cget_duration(p, m, "reset_window", 1, 3600000, 1, &h->reset_window_ms);
	cget_uint(p, m, "control_budget", 1, 1000000, &h->control_budget);
	cget_uint(p, m, "empty_data_budget", 1, 1000000, &h->empty_data_budget);
	cget_duration(p, m, "flood_window", 1, 3600000, 1, &h->flood_window_ms);
	cget_duration(p, m, "settings_timeout", 1, 3600000, 1, &h->settings_timeout_ms);
}

static void
cparse_root(struct cparse *p, const struct cnode *root)
{
	static const char *const keys[] = {
	    "node",
	    "listen",
	    "admin",
	    "cache",
	    "timeouts",
	    "limits",
	    "log",
	    "resolver",
	    "tls",
	    "sites",
	    "pools",
	    "purge",
	    "fleet",
	    "trusted_proxies",
	    "client_address_header",
	    "hide_origin",
	    "geo",
	    "siblings",
	    "http2",
	    NULL,
	};
	static const struct {
		const char *key;
		void (*fn)(struct cparse *, const struct cnode *);
		bool required;
	} sections[] = {
	    {"node", cparse_node, false},
	    {"listen", cparse_listens, true},
	    {"admin", cparse_admin, false},
	    {"cache", cparse_cache, false},
	    {"timeouts", cparse_timeouts, false},
	    {"limits", cparse_limits, false},
	    {"log", cparse_log, false},
	    {"resolver", cparse_resolver, false},
	    {"tls", cparse_tls, false},
	    {"pools", cparse_pools, true},
	    {"siblings", cparse_siblings, false},
	    {"sites", cparse_sites, true},
	    {"purge", cparse_purge, false},
	    {"fleet", cparse_fleet, false},
	    {"trusted_proxies", cparse_trusted_proxies, false},
	    {"client_address_header", cparse_client_address_header, false},
	    {"hide_origin", cparse_hide_origin, false},
	    {"geo", cparse_geo, false},
	    {"http2", cparse_http2, false},
	};
	const struct cnode *v;
	size_t i, old;

	if (!cparse_map(p, root, keys))
		return;
	for (i = 0; i < sizeof sections / sizeof sections[0]; i++) {
		v = sections[i].required ? cparse_required(p, root, sections[i].key)
		                         : cmap_get(root, sections[i].key, NULL);
		if (v == NULL)
			continue;
		old = cparse_push_key(p, sections[i].key);
		sections[i].fn(p, v);
		cparse_pop(p, old);
	}
	cparse_resolve(p);
	if (p->tls_listen != NULL && p->tls_sites == 0)
		cparse_err_under(p, p->tls_listen_path, p->tls_listen,
		    "a TLS listener needs at least one certificate "
		    "(sites[].tls.certificates)");
	if (p->pp_listen != NULL && p->c->trusted_proxies == NULL)
		cparse_err_under(p, p->pp_listen_path, p->pp_listen,
		    "a PROXY protocol listener needs trusted_proxies (the peers whose header "
		    "is believed)");
}

/* Defaults derived from other cache settings (when not given). */
static void
cparse_cache_defaults(struct config *c)
{
	if (c->cache.fill_memory_bytes == UINT64_MAX) {
		uint64_t quarter = c->cache.ram_bytes / 4;
		uint64_t objs = c->cache.max_object_bytes > UINT64_MAX / 16
		                    ? UINT64_MAX / 4
		                    : 4 * c->cache.max_object_bytes;

		c->cache.fill_memory_bytes = quarter > objs ? quarter : objs;
	}
	if (c->cache.fill_per_client_bytes == UINT64_MAX)
		c->cache.fill_per_client_bytes = c->cache.fill_memory_bytes / 2;
}

/* Defaults that depend on the machine. */
static void
cparse_machine_defaults(struct config *c)
{
	char name[256];
	long n;

	if (c->node_name == NULL) {
		if (gethostname(name, sizeof name) == -1)
			snprintf(name, sizeof name, "outpost");
		name[sizeof name - 1] = '\0';
		c->node_name = xstrdup(name);
	}
	if (c->workers == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = n < 1 ? 1 : n > CONFIG_WORKERS_MAX ? CONFIG_WORKERS_MAX : (unsigned)n;
	}
	if (c->log.level == NULL)
		c->log.level = xstrdup("info");
}

static void
cparse_done(struct cparse *p)
{
	size_t i;

	for (i = 0; i < p->n_errs; i++)
		free(p->errs[i].msg);
	free(p->errs);
	for (i = 0; i < p->n_refs; i++)
		free(p->refs[i].path);
	free(p->refs);
	for (i = 0; i < p->n_hosts; i++)
		free(p->hosts[i].path);
	free(p->hosts);
	free(p->tls_listen_path);
	free(p->pp_listen_path);
}

int
config_load(const char *path, struct config **out, FILE *errf)
{
	return config_load_members(path, NULL, 0, out, errf);
}

int
config_load_members(const char *path, const struct config_srv_member *members, size_t n_members,
    struct config **out, FILE *errf)
{
	struct cparse p = {.file = path, .srv_members = members, .n_srv_members = n_members};
	struct cnode *root;
	struct stat st;
	size_t i;
	FILE *f;
	int rc;

	*out = NULL;
	f = config_file_fopen(path);
	if (f == NULL) {
		fprintf(errf, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == -1) {
		fprintf(errf, "%s: cannot open: %s\n", path, strerror(errno));
		fclose(f);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(errf, "%s: cannot open: %s\n", path,
		    S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
		fclose(f);
		return -1;
	}
	p.c = config_parse_new();
	p.c->path = xstrdup(path);
	root = cparse_tree(&p, f);
	if (ferror(f))
		cparse_err_at(&p, 0, 0, "%s: cannot read: %s", path, strerror(errno));
	fclose(f);
	if (root != NULL && p.n_errs == 0)
		cparse_root(&p, root);
	cnode_free(root);

	if (p.n_errs > 0) {
		qsort(p.errs, p.n_errs, sizeof p.errs[0], cparse_err_cmp);
		for (i = 0; i < p.n_errs; i++)
			fprintf(errf, "%s\n", p.errs[i].msg);
		fflush(errf);
		config_parse_free(p.c);
		rc = -1;
	} else {
		cparse_machine_defaults(p.c);
		cparse_cache_defaults(p.c);
		cparse_geo_defaults(p.c);
		config_parse_index(p.c);
		*out = p.c;
		rc = 0;
	}
	cparse_done(&p);
	return rc;
}
