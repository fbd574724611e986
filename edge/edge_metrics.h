/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_metrics.h — per-worker counters, one X-macro table for the enum,
 * the Prometheus names and their help text.
 *
 * Each worker owns a struct edge_metrics and is its only writer: increments
 * are a relaxed load and store (plain moves, no lock prefix); the admin thread
 * reads with relaxed loads and sums across workers.  No lock, no shared cache
 * line on the hot path.
 */
#ifndef OUTPOST_EDGE_EDGE_METRICS_H
#define OUTPOST_EDGE_EDGE_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/*      name                         help */
#define EDGE_COUNTER_TABLE(X)                                                                      \
	X(connections_total, "Client connections accepted")                                        \
	X(accept_pauses_total,                                                                     \
	    "Listener pauses (500 ms) after accept() ran out of file descriptors or memory")       \
	X(requests_total, "Client requests parsed")                                                \
	X(cache_hits_total, "Requests answered from the cache")                                    \
	X(cache_disk_hits_total, "Cache hits found in the disk tier (promoted to RAM)")            \
	X(cache_misses_total, "Cacheable requests not found fresh in the cache")                   \
	X(cache_passes_total, "Requests forwarded without a cache lookup")                         \
	X(cache_stores_total, "Responses stored in the RAM tier")                                  \
	X(cache_invalidations_total, "Entries removed by unsafe methods")                          \
	X(cache_revalidations_total, "Conditional requests sent to revalidate stale entries")      \
	X(cache_revalidated_total, "Stale entries validated by a 304 and refreshed")               \
	X(cache_stale_served_total,                                                                \
	    "Stale entries served (stale-if-error, stale-while-revalidate)")                       \
	X(cache_collapsed_total,                                                                   \
	    "Misses that waited on another request's fill instead of going to the origin")         \
	X(cache_hit_for_pass_total,                                                                \
	    "Misses sent to the origin alone: the key's last response was not storable")           \
	X(cache_background_revalidations_total,                                                    \
	    "Background revalidations started (stale-while-revalidate)")                           \
	X(cache_fills_unstored_memory_total,                                                       \
	    "Fills that stopped storing: the cache's memory budget was reached")                   \
	X(cache_fills_unstored_client_total,                                                       \
	    "Fills that stopped storing: their client address reached cache.fill_per_client")      \
	X(cache_fills_paced_memory_total,                                                          \
	    "Unstored fills held to a small lead over their slowest reader by the memory budget")  \
	X(cache_fills_waited_total,                                                                \
	    "Slice fills that waited for memory or the disk queue before storing")                 \
	X(range_answers_total, "Range requests answered with 206 or 416 by the node")              \
	X(cache_range_passes_total,                                                                \
	    "Range misses re-sent with their Range (not storable, or bigger than the window)")     \
	X(slice_requests_total, "Requests answered from slices (cache.slice)")                     \
	X(slice_hits_total, "Slices a request found stored")                                       \
	X(slice_fetches_total, "Slices asked of the origin (one per slice, however many wait)")    \
	X(slice_fallbacks_total,                                                                   \
	    "Slice requests left to the forward path (no 206, or not storable) before a byte")     \
	X(slice_oversize_total, "Slices not stored: their object is over cache.disk.max_object")   \
	X(slice_mismatches_total,                                                                  \
	    "Slice sets found changed at the origin (other length or validators): invalidated")    \
	X(partial_hits_total, "Range requests answered from a stored part (206) of an object")     \
	X(partial_stores_total, "Parts (206 responses) stored")                                    \
	X(partial_completions_total,                                                               \
	    "GETs answered from a stored first part and the rest asked of the origin")             \
	X(partial_combines_total,                                                                  \
	    "Parts combined with the stored part of the same representation (RFC 9111 3.4)")       \
	X(origin_requests_total, "Requests sent to origins")                                       \
	X(origin_errors_total, "Origin exchanges that failed (502/504 or aborted)")                \
	X(origin_timeouts_total, "Origin exchanges that timed out")                                \
	X(origin_retries_total, "Origin tries repeated (fresh connection or another member)")      \
	X(origin_member_failures_total, "Origin tries that failed before a response byte")         \
	X(origin_ejections_total, "Members ejected (or kept out longer) by passive health")        \
	X(origin_retry_budget_exhausted_total, "Retries refused by the retry budget")              \
	X(origin_unavailable_total, "Requests answered 503: no usable origin member")              \
	X(origin_conn_reused_total, "Origin requests sent on a kept-alive connection")             \
	X(origin_address_ejections_total, "Addresses of a member's name left out after a failure") \
	X(origin_queued_total, "Requests that waited for a member below max_conns")                \
	X(origin_busy_total,                                                                       \
	    "Requests answered 503: members at max_conns, queue full or timed out")                \
	X(client_errors_total, "Requests answered with a 4xx by the node itself")                  \
	X(client_timeouts_total, "Client connections closed by a timeout")                         \
	X(request_bodies_buffered_total,                                                           \
	    "Request bodies read whole before an origin member was asked (request_buffering)")     \
	X(request_bodies_spooled_total,                                                            \
	    "Buffered request bodies that went to a temporary file (over limits.body_buffer)")     \
	X(request_body_spool_errors_total,                                                         \
	    "Requests failed: a buffered body could not be written to or read from its file")      \
	X(tls_handshakes_total, "TLS handshakes completed")                                        \
	X(tls_resumptions_total,                                                                   \
	    "TLS handshakes completed that resumed a session (ticket or session ID)")              \
	X(tls_handshake_errors_total, "TLS connections that failed before the handshake ended")    \
	X(tls_handshakes_limited_total,                                                            \
	    "TLS connections closed at once: limits.handshakes_per_ip reached")                    \
	X(access_denied_total,                                                                     \
	    "Requests refused by an access list (403 or 451) before the cache lookup")             \
	X(rate_limited_total, "Requests refused by a rate_limit (429) before the cache lookup")    \
	X(requests_limited_total, "Requests refused (429): limits.requests_per_ip requests in "    \
	                          "progress from the address")                                     \
	X(signed_url_denied_total,                                                                 \
	    "Requests refused by signed_url (403): signature missing, invalid or expired")         \
	X(jwt_denied_total, "Requests refused by jwt (401): bearer token missing or invalid")      \
	X(sibling_fills_total, "Misses answered by the key's owner among the siblings")            \
	X(sibling_fallbacks_total,                                                                 \
	    "Misses sent to the origin because the owner sibling failed before its answer")        \
	X(sibling_requests_total, "Requests from a sibling (a valid hop marker) this node owns")   \
	X(sibling_grace_hits_total, "Misses of keys this node owns since a membership change, "    \
	                            "answered by the previous owner")                              \
	X(sibling_grace_misses_total,                                                              \
	    "Misses of keys this node owns since a membership change the previous owner had not")  \
	X(proxy_protocol_errors_total,                                                             \
	    "Connections closed on a proxy_protocol listener: untrusted peer, no or bad header")   \
	X(connections_limited_total,                                                               \
	    "Client connections closed at once: limits.connections_per_ip reached")                \
	X(bytes_sent_total, "Response bytes queued to clients")                                    \
	X(server_error_responses_total,                                                            \
	    "Responses with a 5xx status (the node's own or an origin's)")                         \
	X(origin_answers_total,                                                                    \
	    "Client requests answered through an origin exchange (misses and passes)")             \
	X(compression_encoded_total,                                                               \
	    "Origin answers compressed by the node on their way to the client and the cache")      \
	X(compression_decoded_total,                                                               \
	    "Origin-coded answers decoded for a client that does not accept their coding")         \
	X(compression_input_bytes_total, "Identity body bytes the node compressed")                \
	X(compression_output_bytes_total, "Coded bytes the node's compression produced")           \
	X(compression_errors_total,                                                                \
	    "Coded bodies cut: a decoder limit (a decompression bomb) or corrupt coded data")      \
	X(access_log_dropped_total,                                                                \
	    "Access log lines dropped: the writer fell behind and log.buffer was full")            \
	X(h2_connections_total,                                                                    \
	    "Client connections that speak HTTP/2 (ALPN h2 or prior knowledge)")                   \
	EDGE_H2_COUNTER_TABLE(X)

/* The HTTP/2 session's counters (edge_h2.h EDGE_H2_COUNTERS), in its order:
 * a connection adds what its session counted (edge_h2_xport.c). */
#define EDGE_H2_COUNTER_TABLE(X)                                                                   \
	X(h2_streams_total, "HTTP/2 streams opened by clients")                                    \
	X(h2_requests_total, "HTTP/2 request heads handed to the request layer")                   \
	X(h2_malformed_total, "HTTP/2 requests refused as malformed (RFC 9113 section 8.1.1)")     \
	X(h2_too_large_total, "HTTP/2 request heads over the field limits (431)")                  \
	X(h2_resets_received_total, "HTTP/2 open streams the client reset")                        \
	X(h2_resets_sent_total, "HTTP/2 streams the node reset")                                   \
	X(h2_goaway_sent_total, "HTTP/2 GOAWAY frames sent")                                       \
	X(h2_rapid_reset_total, "HTTP/2 connections ended over the reset budget (rapid reset)")    \
	X(h2_flood_total, "HTTP/2 connections ended over a control frame or empty DATA budget")    \
	X(h2_protocol_total, "HTTP/2 connections ended by a protocol error of the client")         \
	X(h2_body_bytes_out_total, "HTTP/2 response body bytes framed")                            \
	X(h2_body_bytes_in_total, "HTTP/2 request body bytes received")

enum edge_counter {
#define EDGE_COUNTER_ENUM(name, help) EDGE_C_##name,
	EDGE_COUNTER_TABLE(EDGE_COUNTER_ENUM)
#undef EDGE_COUNTER_ENUM
	    EDGE_C__COUNT
};

/*
 * Labelled families (outpost_responses_total, the two histograms).  Their
 * label values are bounded: a slot per site (or pool) name, given out once
 * per name for the life of the process so that a reload keeps the series;
 * past EDGE_LABEL_NAMED names share "other", and a response with no site
 * (a bad request line, an unknown host) is counted under "none".
 */
#define EDGE_LABEL_NAMED 64                     /* names with a slot of their own */
#define EDGE_LABEL_OTHER EDGE_LABEL_NAMED       /* every later name */
#define EDGE_LABEL_NONE  (EDGE_LABEL_NAMED + 1) /* no site */
#define EDGE_LABEL_SLOTS (EDGE_LABEL_NAMED + 2)

/* The histograms' upper bounds in microseconds (le= in seconds), and +Inf. */
#define EDGE_HIST_BOUNDS_US                                                                        \
	{                                                                                          \
		500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,       \
		    2500000, 5000000, 10000000                                                     \
	}
#define EDGE_HIST_BUCKETS 15

/* Status class (1xx..5xx) and cache result of a response. */
#define EDGE_CODE_CLASSES 5
enum edge_cache_result {
	EDGE_CACHE_HIT = 0,
	EDGE_CACHE_MISS,
	EDGE_CACHE_PASS,
	EDGE_CACHE_STALE,
	EDGE_CACHE_NONE, /* answered by the node without a cache decision */
	EDGE_CACHE__COUNT
};

/* A histogram: per-bucket (not cumulative) counts, the sum of the
 * observations in microseconds. */
struct edge_hist {
	_Atomic uint64_t bucket[EDGE_HIST_BUCKETS];
	_Atomic uint64_t sum_us;
};

struct edge_site_metrics {
	_Atomic uint64_t responses[EDGE_CODE_CLASSES][EDGE_CACHE__COUNT];
	struct edge_hist duration; /* outpost_request_duration_seconds */
};

/* The names behind the slots (one table per label: sites, pools).  Names
 * are added under the lock when a worker sets up a configuration (never on a
 * request); readers see n with acquire and the names below it are final. */
struct edge_labels {
	pthread_mutex_t lock;
	_Atomic unsigned n;
	char *names[EDGE_LABEL_NAMED];
};

/*
 * Requests by the client's country (outpost_requests_by_country_total), when
 * a geo database is loaded: a counter per ISO 3166 two-letter code (AA..ZZ,
 * so no table of names and no lock) and one for "unknown".  /metrics shows
 * the EDGE_COUNTRY_TOP countries with the most requests by name, the rest as
 * "other".
 */
#define EDGE_COUNTRY_CODES   (26 * 26)
#define EDGE_COUNTRY_UNKNOWN EDGE_COUNTRY_CODES
#define EDGE_COUNTRY_TOP     50

struct edge_metrics {
	_Atomic uint64_t c[EDGE_C__COUNT];
	_Atomic uint64_t country[EDGE_COUNTRY_CODES + 1]; /* by edge_metrics_country_index */
	struct edge_site_metrics site[EDGE_LABEL_SLOTS];
	struct edge_hist origin_first_byte[EDGE_LABEL_SLOTS]; /* by pool slot */
	_Atomic int64_t connections_active;
	/* milliseconds the origin_answers_total requests took, end to end
	 * (outpost_origin_answer_seconds_total) */
	_Atomic uint64_t origin_answer_ms;
};

static inline void
edge_metrics_add(struct edge_metrics *m, enum edge_counter k, uint64_t n)
{
	atomic_store_explicit(&m->c[k], atomic_load_explicit(&m->c[k], memory_order_relaxed) + n,
	    memory_order_relaxed);
}

#define EDGE_COUNT(m, name) edge_metrics_add((m), EDGE_C_##name, 1)

/* Adds one observation of us microseconds to h.  Its worker only. */
void edge_hist_observe(struct edge_hist *h, uint64_t us);
/* Counts a response of status (100..599; others are not counted), cache
 * result and duration in the site slot.  Its worker only. */
void edge_metrics_response(struct edge_metrics *m, unsigned slot, int status,
    enum edge_cache_result cache, uint64_t duration_us);

/* The country slot of an ISO 3166 alpha-2 code ("DE"), EDGE_COUNTRY_UNKNOWN
 * for NULL or anything else. */
static inline unsigned
edge_metrics_country_index(const char *cc)
{
	if (cc == NULL || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' || cc[2] != '\0')
		return EDGE_COUNTRY_UNKNOWN;
	return (unsigned)(cc[0] - 'A') * 26 + (unsigned)(cc[1] - 'A');
}

/* Counts a request from country cc (NULL: unknown).  Its worker only. */
static inline void
edge_metrics_country(struct edge_metrics *m, const char *cc)
{
	_Atomic uint64_t *k = &m->country[edge_metrics_country_index(cc)];

	atomic_store_explicit(
	    k, atomic_load_explicit(k, memory_order_relaxed) + 1, memory_order_relaxed);
}

void edge_labels_init(struct edge_labels *l);
void edge_labels_fini(struct edge_labels *l);
/* The slot of name: its own (added if new and room is left) or
 * EDGE_LABEL_OTHER.  Any thread; takes the table's lock (configuration
 * set-up only). */
unsigned edge_labels_slot(struct edge_labels *l, const char *name);

struct evbuffer;
/* Writes v as a label value: \\, \" and newline escaped (text format
 * 0.0.4). */
void edge_metrics_label(struct evbuffer *b, const char *v);
/* Writes the labelled families summed over the n metrics (relaxed loads):
 * outpost_responses_total, outpost_request_duration_seconds by site,
 * outpost_origin_first_byte_seconds by pool, and
 * outpost_requests_by_country_total (the top countries, other, unknown).
 * Admin thread. */
void edge_metrics_write_labelled(struct evbuffer *b, struct edge_metrics *const *m, unsigned n,
    struct edge_labels *sites, struct edge_labels *pools);

extern const char *const edge_counter_names[EDGE_C__COUNT];
extern const char *const edge_counter_help[EDGE_C__COUNT];

#endif
