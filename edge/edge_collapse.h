/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_collapse.h — request collapsing on the edge side: misses for a
 * key in progress wait on its fill (cache/cache.h cache_fill_*) and stream
 * its body as it grows, on whichever worker they arrived.
 *
 * Roles.  The first miss for a key leads: its NORMAL fetch (edge_fetch.h,
 * started by edge_forward.c) fetches the object, and once the response head shows it storable,
 * publishes the head to the fill and writes every body byte into it at origin speed — never slowed
 * by a client.  Its own client then reads the fill back like any waiter.  Later misses (GET without
 * preconditions or Range) wait: they are listed on their worker, and each wake-up of the worker (an
 * eventfd, written once per burst of fill changes whatever the number of waiters) lets every listed
 * request send what is new (edge_deliver_fill), by reference, up to a bounded output.
 *
 * A stale entry's revalidation is led the same way: a 304 refreshes the
 * entry, and the waiters, whose fill ended without a head, find it fresh in
 * the RAM tier; a 200 streams to them like any fill.
 *
 * Outcomes.  A response that is not storable (or too big to store, by its
 * Content-Length) ends the fill PASS before any waiter got a head: waiters go
 * to the origin on their own, and the key stays hit-for-pass for
 * CACHE_FILL_PASS_S so the next burst does not serialize.  A body that
 * outgrows cache.max_object while streaming closes the fill to new waiters
 * (hit-for-pass) but keeps feeding those attached; the leader then reads
 * the origin at most cache.max_object ahead of the slowest of them
 * (cache_fill_window, polled while paused).  A fetch that fails before the head: waiters go on
 * their own; after it: waiters that sent a head are closed (their response
 * cannot be completed) and nothing is stored.  The fetch does not depend on
 * the leader's client: when it leaves mid-body the fetch goes on for the
 * others and stores the object (it stops when no reader is left of a fill
 * it no longer stores).  Worker thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_COLLAPSE_H
#define OUTPOST_EDGE_EDGE_COLLAPSE_H

#include <stdbool.h>

struct cache_obj;
struct edge_req;
struct edge_worker;

/*
 * req is a GET miss, or a stale entry to revalidate (*stale,
 * may be NULL; req->fw.revalidate set as for edge_forward_start): looks its key
 * up in the table.  True when req now waits on the fill or revalidation in
 * flight, or was answered by a fresh object the key's last fill stored since
 * the caller's lookup (the request is handled from here on; *stale is taken
 * and NULLed);
 * false when it goes to the origin — as the leader of a new fill (req->fw.cf
 * set) or alone (hit-for-pass, a request that must not collapse).
 */
bool edge_collapse_begin(struct edge_req *req, struct cache_obj **stale);
/* The leader's response head is in req's output: req reads the fill from now on,
 * framed as that head chose (the transport's).  No wake-up is asked for req:
 * its fetch pumps it after each append. */
void edge_collapse_leader_reads(struct edge_req *req);
/* req reads req->cf (set by the caller) as a waiter does: listed, and
 * woken by the fill's changes (edge_slice.c reads its slices' fills so). */
void edge_collapse_watch(struct edge_req *req);
/* Sends what req's fill has that req did not send (bounded by the output's high
 * mark), and completes or abandons the response when the fill ended. */
void edge_collapse_pump(struct edge_req *req);
/* Drops req's reading of a fill, if any (NULL-safe on a request without). */
void edge_collapse_detach(struct edge_req *req);
/* The worker's fill eventfd fired: pumps every listed reader. */
void edge_collapse_wake(struct edge_worker *w);

#endif
