/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_obj.c — cached objects: key, stored response head, body, and the
 * freshness numbers the policy computed.
 *
 * Model: one allocation holds the struct, the key and the head (both
 * NUL-terminated); the body is a separate buffer that grows while the one
 * filling thread appends to it (preallocated to body_hint when that is
 * reasonable, else doubled, never beyond the caller's max_bytes).  Once the
 * object is published (handed to the RAM tier or another thread) it is
 * immutable: no field changes except the reference count, so readers on any
 * thread need no lock.
 *
 * Revalidation (RFC 9111 §4.3.4): cache_obj_update builds a NEW object (the
 * published one stays immutable) whose head is the old head updated by a
 * 304's fields and whose body is the old object's body, shared, not copied:
 * the new object holds a reference to the object that owns the body bytes
 * (body_owner; always the original owner, so chains never grow) and points
 * at its buffer.  The owner's head and key stay allocated while shared (a few
 * hundred bytes); the new object is charged for the body, since it is what
 * keeps it alive once the old one leaves the RAM tier.
 *
 * Memory: every object reports what it allocates to the cache's memory
 * account (cache_mem.c): its struct, key and head, and the body it owns
 * (mem_body: its capacity, 0 for a shared body), as "building" until
 * cache_obj_body_done says the body is complete.
 *
 * Reference counting: an atomic counter; taking a reference needs no ordering
 * (the taker already holds a reference or the lock that protects one), dropping
 * one is acq_rel so the thread that frees sees every other thread's reads
 * finished and the builder's writes complete.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"
#include "core/timeutil.h"

/* Bodies up to this size are preallocated from body_hint in cache_obj_new. */
#define CACHE_OBJ_PREALLOC_MAX (16u << 20)
#define CACHE_OBJ_BODY_MIN     4096u
/* Bodies of at least this many bytes live in a file of their own (a memfd)
 * when cache_obj_files_limit allows one more: the kernel can then send them
 * (sendfile) without a copy in user space. */
#define CACHE_OBJ_FILE_MIN (64u << 10)
/* Charged per object on top of its bytes: the RAM tier's entry and malloc slack. */
#define CACHE_OBJ_OVERHEAD 96u

struct cache_obj {
	unsigned magic;
	atomic_uint refs;
	time_t stored_at;
	int64_t ttl_s;
	int64_t initial_age_s;
	uint64_t body_hint;
	char *body;
	struct cache_obj *body_owner; /* body belongs to this object, or NULL */
	int body_fd;                  /* the owned body's memfd (mapped at body), or -1 */
	size_t body_map;              /* the length of that mapping */
	size_t body_len;
	size_t body_cap;
	size_t key_len;
	size_t head_len;
	bool consumed;    /* the head has a field cache_policy_consumed_field names */
	bool building;    /* mem_body is counted as a body being built */
	size_t mem_body;  /* body bytes in the memory account (0: shared) */
	uint64_t ban_gen; /* cache_ban clock when its fill began */
	atomic_uint_least64_t ban_clear; /* no ban older than this matches it */
	char *head;                      /* points into data, after the key */
	char data[];                     /* key NUL head NUL */
};

/* Does a field line of the stored head (after its status line) carry a
 * name cache_policy_consumed_field names?  Once per object, not per hit. */
static bool
obj_head_has_consumed(const char *p, size_t len)
{
	const char *end = p + len, *eol = memchr(p, '\n', len);

	for (p = eol != NULL ? eol + 1 : end; p < end; p = eol != NULL ? eol + 1 : end) {
		const char *colon;

		eol = memchr(p, '\n', (size_t)(end - p));
		colon = memchr(p, ':', (size_t)((eol != NULL ? eol : end) - p));
		if (colon != NULL && cache_policy_consumed_field(str_make(p, (size_t)(colon - p))))
			return true;
	}
	return false;
}

/* The struct, key and head: what every object counts besides a body. */
static size_t
obj_fixed_size(const struct cache_obj *o)
{
	return sizeof *o + o->key_len + 1 + o->head_len + 1;
}

/* The body o owns now has cap bytes of capacity: body_cap and the account. */
static void
obj_mem_body(struct cache_obj *o, size_t cap)
{
	if (cap > o->mem_body) {
		cache_mem_add(CACHE_MEM_OBJECTS, cap - o->mem_body);
		if (o->building)
			cache_mem_add(CACHE_MEM_BUILDING, cap - o->mem_body);
	} else {
		cache_mem_sub(CACHE_MEM_OBJECTS, o->mem_body - cap);
		if (o->building)
			cache_mem_sub(CACHE_MEM_BUILDING, o->mem_body - cap);
	}
	o->mem_body = cap;
	o->body_cap = cap;
}

/* Body files open, and how many there may be (cache_obj_files_limit). */
static atomic_uint obj_files;
static atomic_uint obj_files_max;

void
cache_obj_files_limit(unsigned max)
{
	atomic_store_explicit(&obj_files_max, max, memory_order_relaxed);
}

unsigned
cache_obj_files(void)
{
	return atomic_load_explicit(&obj_files, memory_order_relaxed);
}

/* A body file of cap bytes for o, mapped shared and writable at o->body;
 * false (o unchanged) past the limit or when the kernel refuses one. */
static bool
obj_file_new(struct cache_obj *o, size_t cap)
{
	unsigned n = atomic_fetch_add_explicit(&obj_files, 1, memory_order_relaxed);
	int fd = -1;
	void *p = MAP_FAILED;

	if (n < atomic_load_explicit(&obj_files_max, memory_order_relaxed) &&
	    (fd = memfd_create("outpost-body", MFD_CLOEXEC)) >= 0 && ftruncate(fd, (off_t)cap) == 0)
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED) {
		if (fd >= 0)
			(void)close(fd);
		atomic_fetch_sub_explicit(&obj_files, 1, memory_order_relaxed);
		return false;
	}
	o->body = p;
	o->body_fd = fd;
	o->body_map = cap;
	return true;
}

/* Frees the body o owns, from the heap or a file. */
static void
obj_body_free(struct cache_obj *o)
{
	if (o->body_fd >= 0) {
		/* bytes still queued in a socket by sendfile keep their pages */
		(void)munmap(o->body, o->body_map);
		(void)close(o->body_fd);
		atomic_fetch_sub_explicit(&obj_files, 1, memory_order_relaxed);
		o->body_fd = -1;
		o->body_map = 0;
	} else {
		free(o->body);
	}
	o->body = NULL;
}

struct cache_obj *
cache_obj_new(const char *key, size_t key_len, const char *head, size_t head_len,
    uint64_t body_hint, time_t stored_at, const struct cache_policy *pol)
{
	struct cache_obj *o;

	if (key_len > SIZE_MAX / 4 || head_len > SIZE_MAX / 4)
		return NULL;
	o = malloc(sizeof *o + key_len + 1 + head_len + 1);
	if (o == NULL)
		return NULL;
	o->magic = CACHE_OBJ_MAGIC;
	atomic_init(&o->refs, 1);
	o->stored_at = stored_at;
	o->ttl_s = pol != NULL ? pol->ttl_s : 0;
	o->initial_age_s = pol != NULL ? pol->initial_age_s : 0;
	o->body_hint = body_hint;
	o->body = NULL;
	o->body_owner = NULL;
	o->body_fd = -1;
	o->body_map = 0;
	o->body_len = 0;
	o->body_cap = 0;
	o->key_len = key_len;
	o->head_len = head_len;
	if (key_len > 0)
		memcpy(o->data, key, key_len);
	o->data[key_len] = '\0';
	o->head = o->data + key_len + 1;
	if (head_len > 0)
		memcpy(o->head, head, head_len);
	o->head[head_len] = '\0';
	o->consumed = obj_head_has_consumed(o->head, head_len);
	o->building = true;
	o->mem_body = 0;
	cache_mem_add(CACHE_MEM_OBJECTS, obj_fixed_size(o));
	/* until told when its fill began: the start of its store second, so a
	 * ban of that second applies (a copy read from disk errs towards a miss) */
	o->ban_gen = stored_at > 0 ? (uint64_t)stored_at * 1000000u : 0;
	atomic_init(&o->ban_clear, o->ban_gen);
	if (body_hint > 0 && body_hint <= CACHE_OBJ_PREALLOC_MAX) {
		if (body_hint < CACHE_OBJ_FILE_MIN || !obj_file_new(o, (size_t)body_hint))
			o->body = malloc((size_t)body_hint);
		if (o->body != NULL)
			obj_mem_body(o, (size_t)body_hint);
		/* else: append will try again and fail softly */
	}
	return o;
}

int
cache_obj_append(struct cache_obj *o, const char *data, size_t len, uint64_t max_bytes)
{
	uint64_t need;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	ASSERT(o->body_owner == NULL); /* a shared body is immutable */
	if (len == 0)
		return 0;
	if (len > SIZE_MAX - o->body_len)
		return -1;
	need = (uint64_t)o->body_len + len;
	if (need > max_bytes || need > SIZE_MAX / 2)
		return -1;
	if (need > o->body_cap) {
		uint64_t cap;
		char *nb;

		if (o->body_hint >= need && o->body_hint <= max_bytes) {
			cap = o->body_hint; /* the announced length: exact fit */
		} else {
			cap = (uint64_t)o->body_cap * 2;
			if (cap < CACHE_OBJ_BODY_MIN)
				cap = CACHE_OBJ_BODY_MIN;
			if (cap < need)
				cap = need;
			if (cap > max_bytes)
				cap = max_bytes;
		}
		if (o->body_fd >= 0) { /* longer than announced: the heap from now on */
			nb = malloc((size_t)cap);
			if (nb == NULL)
				return -1;
			memcpy(nb, o->body, o->body_len);
			obj_body_free(o);
		} else {
			nb = realloc(o->body, (size_t)cap);
			if (nb == NULL)
				return -1;
		}
		o->body = nb;
		obj_mem_body(o, (size_t)cap);
	}
	memcpy(o->body + o->body_len, data, len);
	o->body_len += len;
	return 0;
}

void
cache_obj_body_done(struct cache_obj *o)
{
	char *nb;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	if (o->building) {
		cache_mem_sub(CACHE_MEM_BUILDING, o->mem_body);
		o->building = false;
	}
	if (o->body_owner != NULL || o->body_cap == o->body_len)
		return;
	if (o->body_len == 0) {
		obj_body_free(o);
		obj_mem_body(o, 0);
		return;
	}
	if (o->body_fd >= 0) { /* shorter than announced: the tail's pages go */
		if (ftruncate(o->body_fd, (off_t)o->body_len) == 0)
			obj_mem_body(o, o->body_len);
		return;
	}
	if (o->body_len >= CACHE_OBJ_FILE_MIN) {
		char *heap = o->body;

		if (obj_file_new(o, o->body_len)) {
			memcpy(o->body, heap, o->body_len);
			free(heap);
			obj_mem_body(o, o->body_len);
			return;
		}
	}
	nb = realloc(o->body, o->body_len);
	if (nb == NULL)
		return; /* keeps the larger block: still correct */
	o->body = nb;
	obj_mem_body(o, o->body_len);
}

struct cache_obj *
cache_obj_ref(struct cache_obj *o)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
	return o;
}

void
cache_obj_unref(struct cache_obj **op)
{
	struct cache_obj *o = *op;
	unsigned prev;

	*op = NULL;
	if (o == NULL)
		return;
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	prev = atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel);
	ASSERT(prev > 0);
	if (prev != 1)
		return;
	o->magic = 0;
	cache_mem_sub(CACHE_MEM_OBJECTS, obj_fixed_size(o) + o->mem_body);
	if (o->building)
		cache_mem_sub(CACHE_MEM_BUILDING, o->mem_body);
	if (o->body_owner != NULL)
		cache_obj_unref(&o->body_owner);
	else
		obj_body_free(o);
	free(o);
}

const char *
cache_obj_head(const struct cache_obj *o, size_t *len)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	*len = o->head_len;
	return o->head;
}

const char *
cache_obj_body(const struct cache_obj *o, size_t *len)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	*len = o->body_len;
	return o->body != NULL ? o->body : "";
}

int
cache_obj_body_file(const struct cache_obj *o, const char *p, off_t *off)
{
	const struct cache_obj *owner;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	owner = o->body_owner != NULL ? o->body_owner : o;
	if (owner->body_fd < 0)
		return -1;
	ASSERT(p >= owner->body && p <= owner->body + owner->body_len);
	*off = (off_t)(p - owner->body);
	return owner->body_fd;
}

const char *
cache_obj_key(const struct cache_obj *o, size_t *len)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	*len = o->key_len;
	return o->data;
}

void
cache_obj_times(
    const struct cache_obj *o, time_t *stored_at, int64_t *ttl_s, int64_t *initial_age_s)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	*stored_at = o->stored_at;
	*ttl_s = o->ttl_s;
	*initial_age_s = o->initial_age_s;
}

/* RFC 9111 §4.2.3: current_age = corrected_initial_age + resident_time. */
int64_t
cache_obj_age(const struct cache_obj *o, time_t now)
{
	int64_t resident;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	resident = (int64_t)now - (int64_t)o->stored_at;
	if (resident < 0)
		resident = 0; /* the clock stepped back: never make it younger */
	return o->initial_age_s + resident;
}

/* RFC 9111 §4.2: fresh while freshness_lifetime > current_age. */
bool
cache_obj_fresh(const struct cache_obj *o, time_t now)
{
	return cache_obj_age(o, now) < o->ttl_s;
}

bool
cache_obj_header_next(const struct cache_obj *o, struct str name, size_t *pos, struct str *value)
{
	const char *p, *end;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	end = o->head + o->head_len;
	p = o->head + *pos;
	if (*pos == 0) {
		/* skip the status line; then one "Name: value" CRLF per field */
		const char *eol = memchr(o->head, '\n', o->head_len);

		p = eol != NULL ? eol + 1 : end;
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *vend = eol != NULL ? eol : end;
		const char *next = eol != NULL ? eol + 1 : end;
		const char *colon = memchr(p, ':', (size_t)(vend - p));

		if (colon != NULL &&
		    (name.len == 0 || str_eq_nocase(str_make(p, (size_t)(colon - p)), name))) {
			if (vend > colon + 1 && vend[-1] == '\r')
				vend--;
			*value = str_trim_ows(str_make(colon + 1, (size_t)(vend - colon - 1)));
			*pos = (size_t)(next - o->head);
			return true;
		}
		p = next;
	}
	*pos = o->head_len;
	return false;
}

bool
cache_obj_header(const struct cache_obj *o, struct str name, struct str *value)
{
	size_t pos = 0;

	return cache_obj_header_next(o, name, &pos, value);
}

/* Is name listed in a no-cache="..." or private="..." directive of the
 * fields' Cache-Control (RFC 9111 §5.2.2.4, §5.2.2.7)? */
static bool
obj_cc_lists(const struct h1_header *hdrs, size_t n, struct str name)
{
	for (size_t i = 0; i < n; i++) {
		struct str m;
		size_t pos = 0;

		if (!str_eq_nocase(hdrs[i].name, STR_LIT("Cache-Control")))
			continue;
		while (str_list_next(hdrs[i].value, &pos, &m)) {
			const char *eq = memchr(m.p, '=', m.len);
			struct str d, arg, f;
			size_t apos = 0;

			if (eq == NULL)
				continue;
			d = str_trim_ows(str_make(m.p, (size_t)(eq - m.p)));
			if (!str_eq_nocase(d, STR_LIT("no-cache")) &&
			    !str_eq_nocase(d, STR_LIT("private")))
				continue;
			arg = str_trim_ows(str_make(eq + 1, m.len - (size_t)(eq - m.p) - 1));
			if (arg.len >= 2 && arg.p[0] == '"' && arg.p[arg.len - 1] == '"')
				arg = str_make(arg.p + 1, arg.len - 2);
			while (str_list_next(arg, &apos, &f))
				if (str_eq_nocase(str_trim_ows(f), name))
					return true;
		}
	}
	return false;
}

bool
cache_obj_field_stored(const struct h1_header *hdrs, size_t n, struct str name)
{
	return !h1_is_hop_by_hop(name, hdrs, n) && !obj_cc_lists(hdrs, n, name);
}

/* RFC 9111 §3.2: fields of a 304 that never update a stored head. */
static bool
obj_update_skip(struct str name, const struct h1_header *upd, size_t n)
{
	return str_eq_nocase(name, STR_LIT("Content-Length")) ||
	       str_eq_nocase(name, STR_LIT("Transfer-Encoding")) ||
	       str_eq_nocase(name, STR_LIT("Content-Range")) ||
	       !cache_obj_field_stored(upd, n, name);
}

static bool
obj_update_has(struct str name, const struct h1_header *upd, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (str_eq_nocase(upd[i].name, name) && !obj_update_skip(name, upd, n))
			return true;
	return false;
}

ssize_t
cache_obj_merge_fields(
    const struct cache_obj *o, const struct h1_header *upd, size_t n_upd, struct h1_header **out)
{
	size_t n_old = 0, k = 0, pos = 0;
	struct h1_header *m;
	struct str v;
	bool upd_date = obj_update_has(STR_LIT("Date"), upd, n_upd);

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	for (size_t i = 0; i < o->head_len; i++)
		if (o->head[i] == '\n')
			n_old++;
	m = malloc((n_old + n_upd + 1) * sizeof *m);
	if (m == NULL)
		return -1;
	while (cache_obj_header_next(o, STR_LIT(""), &pos, &v)) {
		const char *line = v.p, *colon;
		struct str name;

		while (line > o->head && line[-1] != '\n')
			line--;
		colon = memchr(line, ':', (size_t)(v.p - line));
		ASSERT(colon != NULL);
		name = str_make(line, (size_t)(colon - line));

		/* A 304 without Date: the old Date would make the refreshed
		 * response look old; drop it (the caller dates the new head). */
		if (obj_update_has(name, upd, n_upd) ||
		    (!upd_date && str_eq_nocase(name, STR_LIT("Date"))))
			continue;
		m[k].name = name;
		m[k].value = v;
		k++;
	}
	for (size_t i = 0; i < n_upd; i++) {
		if (obj_update_skip(upd[i].name, upd, n_upd))
			continue;
		m[k++] = upd[i];
	}
	*out = m;
	return (ssize_t)k;
}

/* o (new, may be NULL) takes old's body, shared: a reference on its owner. */
static struct cache_obj *
obj_share_body(struct cache_obj *o, struct cache_obj *old)
{
	if (o == NULL)
		return NULL;
	ASSERT(o->mem_body == 0); /* made without a body */
	o->building = false;      /* the owner counts the body */
	o->body_owner = cache_obj_ref(old->body_owner != NULL ? old->body_owner : old);
	o->body = old->body;
	o->body_len = old->body_len;
	o->body_cap = old->body_cap;
	return o;
}

struct cache_obj *
cache_obj_update(struct cache_obj *old, const struct h1_header *upd, size_t n_upd, time_t stored_at,
    const struct cache_policy *pol)
{
	struct h1_header *m = NULL;
	ssize_t n = cache_obj_merge_fields(old, upd, n_upd, &m);
	const char *sl_end;
	size_t sl_len, len, cap;
	bool has_date = false;
	char *head, *w;
	struct cache_obj *o;

	if (n < 0)
		return NULL;
	sl_end = memchr(old->head, '\n', old->head_len);
	sl_len = sl_end != NULL ? (size_t)(sl_end + 1 - old->head) : old->head_len;
	cap = sl_len + sizeof "Date: \r\n" + TIME_HTTP_DATE_LEN;
	for (ssize_t i = 0; i < n; i++)
		cap += m[i].name.len + m[i].value.len + 4;
	head = malloc(cap);
	if (head == NULL) {
		free(m);
		return NULL;
	}
	memcpy(head, old->head, sl_len);
	w = head + sl_len;
	for (ssize_t i = 0; i < n; i++) {
		if (str_eq_nocase(m[i].name, STR_LIT("Age")))
			continue; /* the edge writes Age per response */
		if (str_eq_nocase(m[i].name, STR_LIT("Date")))
			has_date = true;
		memcpy(w, m[i].name.p, m[i].name.len);
		w += m[i].name.len;
		*w++ = ':';
		*w++ = ' ';
		memcpy(w, m[i].value.p, m[i].value.len);
		w += m[i].value.len;
		*w++ = '\r';
		*w++ = '\n';
	}
	free(m);
	if (!has_date) {
		memcpy(w, "Date: ", 6);
		time_http_date(stored_at, w + 6);
		w += 6 + TIME_HTTP_DATE_LEN;
		*w++ = '\r';
		*w++ = '\n';
	}
	len = (size_t)(w - head);
	o = cache_obj_new(old->data, old->key_len, head, len, 0, stored_at, pol);
	free(head);
	return obj_share_body(o, old);
}

struct cache_obj *
cache_obj_rekey(struct cache_obj *o, const char *key, size_t key_len)
{
	struct cache_policy pol = {.storable = true, .ttl_s = 0, .initial_age_s = 0};

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	pol.ttl_s = o->ttl_s;
	pol.initial_age_s = o->initial_age_s;
	struct cache_obj *n;

	n = obj_share_body(
	    cache_obj_new(key, key_len, o->head, o->head_len, 0, o->stored_at, &pol), o);
	if (n != NULL)
		cache_obj_set_gen(n, o->ban_gen);
	return n;
}

struct cache_obj *
cache_obj_new_like(const struct cache_obj *o, const char *key, size_t key_len, const char *head,
    size_t head_len, uint64_t body_hint)
{
	struct cache_policy pol = {.storable = true, .ttl_s = 0, .initial_age_s = 0};
	struct cache_obj *n;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	pol.ttl_s = o->ttl_s;
	pol.initial_age_s = o->initial_age_s;
	n = cache_obj_new(key, key_len, head, head_len, body_hint, o->stored_at, &pol);
	if (n != NULL)
		cache_obj_set_gen(n, o->ban_gen);
	return n;
}

struct cache_obj *
cache_obj_head_copy(const struct cache_obj *o)
{
	struct cache_policy pol = {.storable = true, .ttl_s = 0, .initial_age_s = 0};
	struct cache_obj *c;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	pol.ttl_s = o->ttl_s;
	pol.initial_age_s = o->initial_age_s;
	c = cache_obj_new(o->data, o->key_len, o->head, o->head_len, 0, o->stored_at, &pol);
	if (c != NULL) {
		c->building = false;
		cache_obj_set_gen(c, o->ban_gen);
	}
	return c;
}

bool
cache_obj_has_consumed_fields(const struct cache_obj *o)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	return o->consumed;
}

size_t
cache_obj_charge(const struct cache_obj *o)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	return sizeof *o + o->key_len + 1 + o->head_len + 1 + o->body_cap + CACHE_OBJ_OVERHEAD;
}

uint64_t
cache_obj_gen(const struct cache_obj *o)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	return o->ban_gen;
}

void
cache_obj_set_gen(struct cache_obj *o, uint64_t gen)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	o->ban_gen = gen;
	atomic_store(&o->ban_clear, gen);
}

uint64_t
cache_obj_ban_clear(const struct cache_obj *o)
{
	return atomic_load_explicit(&o->ban_clear, memory_order_relaxed);
}

void
cache_obj_set_ban_clear(struct cache_obj *o, uint64_t gen)
{
	atomic_store_explicit(&o->ban_clear, gen, memory_order_relaxed);
}

struct cache_obj *
cache_obj_stale_copy(struct cache_obj *o, time_t now, uint64_t gen)
{
	struct cache_policy pol = {.storable = true, .ttl_s = 0, .initial_age_s = 0};
	struct cache_obj *n;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	/* dated now with the age it has now, and a lifetime that ends now:
	 * stale from here on (RFC 9111 §4.2: fresh while lifetime > age), so
	 * stale-while-revalidate and stale-if-error count from the purge */
	pol.initial_age_s = cache_obj_age(o, now);
	pol.ttl_s = pol.initial_age_s < o->ttl_s ? pol.initial_age_s : o->ttl_s;
	n = obj_share_body(
	    cache_obj_new(o->data, o->key_len, o->head, o->head_len, 0, now, &pol), o);
	if (n != NULL)
		cache_obj_set_gen(n, gen);
	return n;
}
