/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/edge/test_edge_metrics.c — the labelled metrics
 * (edge/edge_metrics.c): an observation lands in the first bucket whose
 * bound it does not exceed; a response is counted by status class and cache
 * result, statuses outside 100..599 not at all; label slots are given once
 * per name, "other" past the last one; the exposition is cumulative and
 * sums the workers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "edge/edge_metrics.h"
#include "tests/unit/tap.h"

static const struct {
	uint64_t us;
	unsigned bucket;
} bucket_cases[] = {
    {0, 0},
    {500, 0},
    {501, 1},
    {1000, 1},
    {2500, 2},
    {9999, 4},
    {250000, 8},
    {250001, 9},
    {10000000, 13},
    {10000001, 14},
    {UINT64_MAX / 2, 14},
};

static void
test_buckets(void)
{
	subtest("buckets");
	for (size_t i = 0; i < sizeof bucket_cases / sizeof bucket_cases[0]; i++) {
		static struct edge_hist h;
		char what[64];

		memset(&h, 0, sizeof h);
		edge_hist_observe(&h, bucket_cases[i].us);
		snprintf(what, sizeof what, "%llu us -> bucket %u",
		    (unsigned long long)bucket_cases[i].us, bucket_cases[i].bucket);
		ok(atomic_load(&h.bucket[bucket_cases[i].bucket]) == 1 &&
		        atomic_load(&h.sum_us) == bucket_cases[i].us,
		    what);
	}
}

static void
test_responses(void)
{
	static struct edge_metrics m;

	subtest("responses");
	edge_metrics_response(&m, 3, 200, EDGE_CACHE_HIT, 100);
	edge_metrics_response(&m, 3, 204, EDGE_CACHE_HIT, 100);
	edge_metrics_response(&m, 3, 503, EDGE_CACHE_NONE, 100);
	edge_metrics_response(&m, 3, 0, EDGE_CACHE_NONE, 100);
	edge_metrics_response(&m, 3, 600, EDGE_CACHE_NONE, 100);
	edge_metrics_response(&m, 999, 404, EDGE_CACHE_MISS, 100);
	is_int((int)atomic_load(&m.site[3].responses[1][EDGE_CACHE_HIT]), 2);
	is_int((int)atomic_load(&m.site[3].responses[4][EDGE_CACHE_NONE]), 1);
	is_int((int)atomic_load(&m.site[3].duration.bucket[0]), 3);
	is_int((int)atomic_load(&m.site[EDGE_LABEL_OTHER].responses[3][EDGE_CACHE_MISS]), 1);
}

static void
test_labels(void)
{
	struct edge_labels l;
	char name[32];

	subtest("labels");
	edge_labels_init(&l);
	is_int((int)edge_labels_slot(&l, "a"), 0);
	is_int((int)edge_labels_slot(&l, "b"), 1);
	is_int((int)edge_labels_slot(&l, "a"), 0);
	for (unsigned i = 2; i < EDGE_LABEL_NAMED; i++) {
		snprintf(name, sizeof name, "s%u", i);
		if (edge_labels_slot(&l, name) != i)
			break;
	}
	is_int((int)atomic_load(&l.n), EDGE_LABEL_NAMED);
	is_int((int)edge_labels_slot(&l, "late"), EDGE_LABEL_OTHER);
	is_int((int)edge_labels_slot(&l, "b"), 1);
	edge_labels_fini(&l);
}

static void
test_exposition(void)
{
	static struct edge_metrics w0, w1;
	struct edge_metrics *m[2] = {&w0, &w1};
	struct edge_labels sites, pools;
	struct evbuffer *b = evbuffer_new();
	char *text;
	size_t len;

	subtest("exposition");
	edge_labels_init(&sites);
	edge_labels_init(&pools);
	(void)edge_labels_slot(&sites, "s\"x");
	(void)edge_labels_slot(&pools, "p");
	edge_metrics_response(&w0, 0, 200, EDGE_CACHE_MISS, 700);
	edge_metrics_response(&w1, 0, 200, EDGE_CACHE_MISS, 20000000);
	edge_metrics_response(&w1, EDGE_LABEL_NONE, 400, EDGE_CACHE_NONE, 10);
	edge_hist_observe(&w1.origin_first_byte[0], 300000);
	edge_metrics_write_labelled(b, m, 2, &sites, &pools);
	len = evbuffer_get_length(b);
	text = malloc(len + 1);
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	ok(strstr(text,
	       "outpost_responses_total{site=\"s\\\"x\",code=\"2xx\",cache=\"miss\"} 2\n") != NULL,
	    "summed over workers, label escaped");
	ok(strstr(text, "outpost_responses_total{site=\"none\",code=\"4xx\",cache=\"none\"} 1\n") !=
	        NULL,
	    "no site: none");
	ok(strstr(text, "site=\"s\\\"x\",le=\"0.0005\"} 0\n") != NULL, "le 0.0005");
	ok(strstr(text, "site=\"s\\\"x\",le=\"0.001\"} 1\n") != NULL, "le 0.001 cumulative");
	ok(strstr(text, "site=\"s\\\"x\",le=\"10\"} 1\n") != NULL, "le 10");
	ok(strstr(text, "site=\"s\\\"x\",le=\"+Inf\"} 2\n") != NULL, "+Inf");
	ok(strstr(text, "outpost_request_duration_seconds_sum{site=\"s\\\"x\"} 20.000700\n") !=
	        NULL,
	    "sum in seconds");
	ok(strstr(text, "outpost_origin_first_byte_seconds_bucket{pool=\"p\",le=\"0.25\"} 0\n") !=
	        NULL,
	    "first byte: 0.3 s above 0.25");
	ok(strstr(text, "outpost_origin_first_byte_seconds_bucket{pool=\"p\",le=\"0.5\"} 1\n") !=
	        NULL,
	    "first byte: 0.3 s within 0.5");
	ok(strstr(text, "site=\"other\"") == NULL, "no series without observations");
	free(text);
	evbuffer_free(b);
	edge_labels_fini(&sites);
	edge_labels_fini(&pools);
}

static void
test_countries(void)
{
	static struct edge_metrics w0, w1;
	struct edge_metrics *m[2] = {&w0, &w1};
	struct edge_labels sites, pools;
	struct evbuffer *b = evbuffer_new();
	char *text, code[3] = "AA";
	size_t len;
	unsigned named = 0;
	uint64_t other = 0;

	subtest("requests by country");
	ok(edge_metrics_country_index("DE") == 3 * 26 + 4, "DE's slot");
	ok(edge_metrics_country_index(NULL) == EDGE_COUNTRY_UNKNOWN, "NULL: unknown");
	ok(edge_metrics_country_index("de") == EDGE_COUNTRY_UNKNOWN, "lower case: unknown");
	ok(edge_metrics_country_index("DEU") == EDGE_COUNTRY_UNKNOWN, "three letters: unknown");
	edge_labels_init(&sites);
	edge_labels_init(&pools);
	edge_metrics_write_labelled(b, m, 2, &sites, &pools);
	len = evbuffer_get_length(b);
	text = malloc(len + 1);
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	ok(strstr(text, "outpost_requests_by_country_total") == NULL, "no family before a count");
	free(text);
	/* 60 countries: the k-th (k = 1..60) with k requests, split over two
	 * workers; the 10 smallest (1..10) are "other" */
	for (unsigned k = 1; k <= 60; k++) {
		code[0] = (char)('A' + (k - 1) / 26);
		code[1] = (char)('A' + (k - 1) % 26);
		for (unsigned i = 0; i < k; i++)
			edge_metrics_country(i % 2 ? &w1 : &w0, code);
	}
	edge_metrics_country(&w0, NULL);
	edge_metrics_write_labelled(b, m, 2, &sites, &pools);
	len = evbuffer_get_length(b);
	text = malloc(len + 1);
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	for (const char *p = text;
	     (p = strstr(p, "outpost_requests_by_country_total{country=\"")) != NULL; p++) {
		const char *v = p + strlen("outpost_requests_by_country_total{country=\"");

		if (strncmp(v, "other", 5) == 0)
			other = strtoull(strchr(v, ' ') + 1, NULL, 10);
		else if (strncmp(v, "unknown", 7) != 0)
			named++;
	}
	ok(named == EDGE_COUNTRY_TOP, "the top 50 by name");
	ok(other == 55, "the 10 smallest as other");
	ok(strstr(text, "{country=\"CH\"} 60\n") != NULL, "the 60th country, summed over workers");
	ok(strstr(text, "{country=\"AJ\"}") == NULL, "the 10th is other");
	ok(strstr(text, "{country=\"AK\"} 11\n") != NULL, "the 11th is named");
	ok(strstr(text, "{country=\"unknown\"} 1\n") != NULL, "unknown");
	free(text);
	evbuffer_free(b);
	edge_labels_fini(&sites);
	edge_labels_fini(&pools);
}

int
main(void)
{
	test_buckets();
	test_responses();
	test_labels();
	test_exposition();
	test_countries();
	return tap_done();
}
