/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_metrics.c — the labelled families of /metrics (see the header).
 *
 * A worker records into its own struct edge_metrics with relaxed loads and
 * stores (it is the only writer); the admin thread sums the workers' slots
 * with relaxed loads.  A sum may be a few observations behind, and a
 * histogram's count (its +Inf bucket) and its sum may differ by the one
 * observation a worker is recording: Prometheus tolerates both.  The label
 * tables only grow, under their lock, when a worker sets up a configuration.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/xmalloc.h"
#include "edge/edge_metrics.h"

static const uint64_t hist_bounds_us[EDGE_HIST_BUCKETS - 1] = EDGE_HIST_BOUNDS_US;

static const char *const cache_result_names[EDGE_CACHE__COUNT] = {
    "hit", "miss", "pass", "stale", "none"};

static inline void
metrics_inc(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(
	    v, atomic_load_explicit(v, memory_order_relaxed) + n, memory_order_relaxed);
}

void
edge_hist_observe(struct edge_hist *h, uint64_t us)
{
	unsigned i = 0;

	while (i < EDGE_HIST_BUCKETS - 1 && us > hist_bounds_us[i])
		i++;
	metrics_inc(&h->bucket[i], 1);
	metrics_inc(&h->sum_us, us);
}

void
edge_metrics_response(struct edge_metrics *m, unsigned slot, int status,
    enum edge_cache_result cache, uint64_t duration_us)
{
	struct edge_site_metrics *s = &m->site[slot < EDGE_LABEL_SLOTS ? slot : EDGE_LABEL_OTHER];

	if (status < 100 || status > 599)
		return;
	metrics_inc(&s->responses[status / 100 - 1][cache], 1);
	edge_hist_observe(&s->duration, duration_us);
}

void
edge_labels_init(struct edge_labels *l)
{
	memset(l, 0, sizeof *l);
	pthread_mutex_init(&l->lock, NULL);
}

void
edge_labels_fini(struct edge_labels *l)
{
	unsigned n = atomic_load(&l->n);

	for (unsigned i = 0; i < n; i++)
		free(l->names[i]);
	pthread_mutex_destroy(&l->lock);
}

unsigned
edge_labels_slot(struct edge_labels *l, const char *name)
{
	unsigned n, i;

	pthread_mutex_lock(&l->lock);
	n = atomic_load_explicit(&l->n, memory_order_relaxed);
	for (i = 0; i < n && strcmp(l->names[i], name) != 0; i++)
		;
	if (i == n && n < EDGE_LABEL_NAMED) {
		l->names[n] = xstrdup(name);
		atomic_store_explicit(&l->n, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&l->lock);
	return i < EDGE_LABEL_NAMED ? i : EDGE_LABEL_OTHER;
}

/* The name of slot (escaped by the caller). */
static const char *
labels_name(const struct edge_labels *l, unsigned slot, unsigned n)
{
	if (slot < n)
		return l->names[slot];
	return slot == EDGE_LABEL_OTHER ? "other" : "none";
}

void
edge_metrics_label(struct evbuffer *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

/* A histogram summed over the workers (plain integers, the admin thread's). */
struct hist_sum {
	uint64_t bucket[EDGE_HIST_BUCKETS];
	uint64_t sum_us;
};

static void
metrics_hist_sum(struct hist_sum *out, struct edge_hist *h)
{
	for (unsigned i = 0; i < EDGE_HIST_BUCKETS; i++)
		out->bucket[i] += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	out->sum_us += atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}

/* One histogram's series (cumulative buckets, sum, count) with the label
 * label="value"; nothing when it has no observation. */
static void
metrics_hist_write(struct evbuffer *b, const char *family, const char *label, const char *value,
    const struct hist_sum *h)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i < EDGE_HIST_BUCKETS; i++)
		cum += h->bucket[i];
	if (cum == 0)
		return;
	cum = 0;
	for (unsigned i = 0; i < EDGE_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		evbuffer_add_printf(b, "%s_bucket{%s=\"", family, label);
		edge_metrics_label(b, value);
		if (i < EDGE_HIST_BUCKETS - 1)
			evbuffer_add_printf(b, "\",le=\"%g\"} %llu\n",
			    (double)hist_bounds_us[i] / 1e6, (unsigned long long)cum);
		else
			evbuffer_add_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_sum{%s=\"", family, label);
	edge_metrics_label(b, value);
	evbuffer_add_printf(b, "\"} %.6f\n", (double)h->sum_us / 1e6);
	evbuffer_add_printf(b, "%s_count{%s=\"", family, label);
	edge_metrics_label(b, value);
	evbuffer_add_printf(b, "\"} %llu\n", (unsigned long long)cum);
}

/* A histogram family: HELP, TYPE and the series of every slot in use
 * (h[EDGE_LABEL_SLOTS]) under label. */
static void
metrics_hist_family(struct evbuffer *b, const char *family, const char *help, const char *label,
    const struct edge_labels *l, unsigned n_names, const struct hist_sum *h)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", family, help, family);
	for (unsigned s = 0; s < EDGE_LABEL_SLOTS; s++)
		if (s < n_names || s >= EDGE_LABEL_NAMED)
			metrics_hist_write(b, family, label, labels_name(l, s, n_names), &h[s]);
}

/* outpost_requests_by_country_total: the EDGE_COUNTRY_TOP countries with
 * the most requests by code, the others summed as "other", "unknown" (no
 * family when no request was counted: no geo database). */
static void
metrics_countries(struct evbuffer *b, struct edge_metrics *const *m, unsigned n)
{
	uint64_t *sum = xcalloc(EDGE_COUNTRY_CODES + 1, sizeof *sum);
	unsigned top[EDGE_COUNTRY_TOP], n_top = 0;
	uint64_t total = 0, shown = 0;

	for (unsigned w = 0; w < n; w++)
		for (unsigned k = 0; k <= EDGE_COUNTRY_CODES; k++)
			sum[k] += atomic_load_explicit(&m[w]->country[k], memory_order_relaxed);
	for (unsigned k = 0; k <= EDGE_COUNTRY_CODES; k++)
		total += sum[k];
	if (total > 0) {
		/* the top by count (ties: by code), an insertion into a short list */
		for (unsigned k = 0; k < EDGE_COUNTRY_CODES; k++) {
			unsigned i;

			if (sum[k] == 0 ||
			    (n_top == EDGE_COUNTRY_TOP && sum[k] <= sum[top[n_top - 1]]))
				continue;
			i = n_top < EDGE_COUNTRY_TOP ? n_top++ : n_top - 1;
			while (i > 0 && sum[top[i - 1]] < sum[k]) {
				top[i] = top[i - 1];
				i--;
			}
			top[i] = k;
		}
		evbuffer_add_printf(b,
		    "# HELP outpost_requests_by_country_total Requests by the "
		    "client's country (geo databases), the top %u by name\n"
		    "# TYPE outpost_requests_by_country_total counter\n",
		    (unsigned)EDGE_COUNTRY_TOP);
		for (unsigned i = 0; i < n_top; i++) {
			evbuffer_add_printf(b,
			    "outpost_requests_by_country_total{country=\"%c%c\"} %llu\n",
			    'A' + top[i] / 26, 'A' + top[i] % 26, (unsigned long long)sum[top[i]]);
			shown += sum[top[i]];
		}
		evbuffer_add_printf(b,
		    "outpost_requests_by_country_total{country=\"other\"} %llu\n",
		    (unsigned long long)(total - shown - sum[EDGE_COUNTRY_UNKNOWN]));
		evbuffer_add_printf(b,
		    "outpost_requests_by_country_total{country=\"unknown\"} %llu\n",
		    (unsigned long long)sum[EDGE_COUNTRY_UNKNOWN]);
	}
	free(sum);
}

void
edge_metrics_write_labelled(struct evbuffer *b, struct edge_metrics *const *m, unsigned n,
    struct edge_labels *sites, struct edge_labels *pools)
{
	/* the sums: plain integers, this thread's own */
	uint64_t(*resp)[EDGE_CODE_CLASSES][EDGE_CACHE__COUNT] =
	    xcalloc(EDGE_LABEL_SLOTS, sizeof *resp);
	struct hist_sum *dur = xcalloc(EDGE_LABEL_SLOTS, sizeof *dur);
	struct hist_sum *fb = xcalloc(EDGE_LABEL_SLOTS, sizeof *fb);
	unsigned n_sites = atomic_load_explicit(&sites->n, memory_order_acquire);
	unsigned n_pools = atomic_load_explicit(&pools->n, memory_order_acquire);

	for (unsigned w = 0; w < n; w++) {
		for (unsigned s = 0; s < EDGE_LABEL_SLOTS; s++) {
			struct edge_site_metrics *sm = &m[w]->site[s];

			for (unsigned c = 0; c < EDGE_CODE_CLASSES; c++)
				for (unsigned r = 0; r < EDGE_CACHE__COUNT; r++)
					resp[s][c][r] += atomic_load_explicit(
					    &sm->responses[c][r], memory_order_relaxed);
			metrics_hist_sum(&dur[s], &sm->duration);
			metrics_hist_sum(&fb[s], &m[w]->origin_first_byte[s]);
		}
	}
	evbuffer_add_printf(b, "# HELP outpost_responses_total Responses sent, by site, status "
	                       "class and cache result\n# TYPE outpost_responses_total counter\n");
	for (unsigned s = 0; s < EDGE_LABEL_SLOTS; s++) {
		if (s >= n_sites && s < EDGE_LABEL_NAMED)
			continue;
		for (unsigned c = 0; c < EDGE_CODE_CLASSES; c++)
			for (unsigned r = 0; r < EDGE_CACHE__COUNT; r++) {
				if (resp[s][c][r] == 0)
					continue;
				evbuffer_add_printf(b, "outpost_responses_total{site=\"");
				edge_metrics_label(b, labels_name(sites, s, n_sites));
				evbuffer_add_printf(b, "\",code=\"%uxx\",cache=\"%s\"} %llu\n",
				    c + 1, cache_result_names[r],
				    (unsigned long long)resp[s][c][r]);
			}
	}
	metrics_hist_family(b, "outpost_request_duration_seconds",
	    "Time from a request's head to its last response byte queued, by site", "site", sites,
	    n_sites, dur);
	metrics_hist_family(b, "outpost_origin_first_byte_seconds",
	    "Time from an origin exchange's start to the origin's response head, by pool", "pool",
	    pools, n_pools, fb);
	free(resp);
	free(dur);
	free(fb);
	metrics_countries(b, m, n);
}
