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
 * Reference counting: an atomic counter; taking a reference needs no ordering
 * (the taker already holds a reference or the lock that protects one), dropping
 * one is acq_rel so the thread that frees sees every other thread's reads
 * finished and the builder's writes complete.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"

/* Bodies up to this size are preallocated from body_hint in cache_obj_new. */
#define CACHE_OBJ_PREALLOC_MAX (16u << 20)
#define CACHE_OBJ_BODY_MIN     4096u
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
	size_t body_len;
	size_t body_cap;
	size_t key_len;
	size_t head_len;
	char *head;  /* points into data, after the key */
	char data[]; /* key NUL head NUL */
};

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
	if (body_hint > 0 && body_hint <= CACHE_OBJ_PREALLOC_MAX) {
		o->body = malloc((size_t)body_hint);
		if (o->body != NULL)
			o->body_cap = (size_t)body_hint;
		/* else: append will try again and fail softly */
	}
	return o;
}

int
cache_obj_append(struct cache_obj *o, const char *data, size_t len, uint64_t max_bytes)
{
	uint64_t need;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
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
		nb = realloc(o->body, (size_t)cap);
		if (nb == NULL)
			return -1;
		o->body = nb;
		o->body_cap = (size_t)cap;
	}
	memcpy(o->body + o->body_len, data, len);
	o->body_len += len;
	return 0;
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
	free(o->body);
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
cache_obj_header(const struct cache_obj *o, struct str name, struct str *value)
{
	const char *p, *end, *eol;

	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	p = o->head;
	end = o->head + o->head_len;
	/* skip the status line; then one "Name: value" CRLF per field */
	eol = memchr(p, '\n', (size_t)(end - p));
	for (p = eol != NULL ? eol + 1 : end; p < end; p = eol + 1) {
		const char *colon;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL)
			continue;
		if (str_eq_nocase(str_make(p, (size_t)(colon - p)), name)) {
			size_t vlen = (size_t)(eol - colon - 1);

			if (vlen > 0 && colon[vlen] == '\r')
				vlen--;
			*value = str_trim_ows(str_make(colon + 1, vlen));
			return true;
		}
	}
	return false;
}

size_t
cache_obj_charge(const struct cache_obj *o)
{
	OBJ_CHECK(o, CACHE_OBJ_MAGIC);
	return sizeof *o + o->key_len + 1 + o->head_len + 1 + o->body_cap + CACHE_OBJ_OVERHEAD;
}
