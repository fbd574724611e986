/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * purge/purge_fleet.c — the fleet purge bus over NATS JetStream.
 *
 * One stream, PURGE_FLEET_STREAM, holds every purge of the fleet as a
 * message on PURGE_FLEET_SUBJECT (file storage, kept PURGE_FLEET_MAX_AGE_S;
 * headers Outpost-Purge-Id and Outpost-Node; Nats-Msg-Id is the purge id,
 * so a purge published twice within the stream's duplicate window is stored
 * once).  Every node is a durable push consumer named after node.name, with
 * explicit acks: JetStream keeps each node's place, so a node that was down
 * gets what it missed when it comes back.  A node also keeps the last
 * stream sequence it applied in its purge log, written in the same synced
 * transaction as the purge (cbs->apply): a sequence at or below it is acked
 * without applying, and a consumer made anew starts after it.  A purge id
 * applied once (this node's own purges included) is never applied again.
 * After applying, a node acks the message to JetStream, then tells the
 * publisher on PURGE_FLEET_ACK.<publisher>.<id> (core NATS, payload: its
 * name), which is how POST /purge?wait= learns who has applied a purge.
 *
 * The members of the fleet are the durable consumers of the stream: a node
 * is one from its first start on, including while it is down (it owes the
 * purges it has not acked), until an operator deletes its consumer.
 *
 * Threads: the NATS client's own (connection, one per subscription: the
 * deliveries of one subscription are serial) run the callbacks; our fleet
 * thread sets the stream and consumer up (again after a NATS restart that
 * lost them), publishes the purge log's outbox (synchronous JetStream
 * publishes: that thread may wait, no event loop does), and refreshes the
 * member list, the lag and whether this node has caught up.  Shared state
 * sits under f->mu.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "purge/purge.h"

#define PURGE_FLEET_STREAM    "OUTPOST_PURGE"
#define PURGE_FLEET_SUBJECT   "outpost.purge"
#define PURGE_FLEET_ACK       "outpost.purge.ack"
#define PURGE_FLEET_DELIVER   "outpost.purge.deliver"
#define PURGE_FLEET_MAX_AGE_S (7 * 86400)
#define PURGE_FLEET_TIMEOUT   2000 /* ms: a JetStream API call or publish */
#define PURGE_FLEET_TICK_MS   100  /* ms between the fleet thread's rounds */
#define PURGE_FLEET_INFO_MS   1000 /* ms between refreshes of members and lag */
#define PURGE_NODE_MAX        64

struct purge_fleet {
	unsigned magic;
	char node[PURGE_NODE_MAX]; /* node.name, made a subject token */
	char deliver[128];
	struct purge_log *log;
	struct purge_fleet_cbs cbs;
	void *arg;

	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub_deliver, *sub_ack;

	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	bool stop, kick, set_up, caught_up;
	char **members;
	size_t n_members;
	uint64_t lag;

	_Atomic uint64_t applied_seq; /* written by the delivery thread only */
	_Atomic uint64_t published, publish_failures, applied, duplicates, outbox;
	_Atomic bool connected;
};

/* A NATS subject token of s: '.', '*', '>' and blanks become '_'. */
static void
fleet_token(char *out, size_t outlen, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = strchr(".*> \t\r\n", s[i]) != NULL ? '_' : s[i];
	out[i] = '\0';
}

/* ---- deliveries (the NATS client's thread of the subscription) ---- */

/* The stream sequence of a JetStream delivery, from its ack subject:
 * $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>, or
 * with <domain>.<account hash> after ACK (and a token more at the end).
 * 0 when reply is no such subject.  Parsed here rather than through the
 * client's JetStream subscription, which this plain subscription is not. */
static uint64_t
fleet_stream_seq(const char *reply)
{
	const char *tok[16];
	size_t n = 0;

	if (reply == NULL || strncmp(reply, "$JS.ACK.", 8) != 0)
		return 0;
	for (const char *p = reply; p != NULL && n < 16; p = strchr(p, '.')) {
		if (*p == '.')
			p++;
		tok[n++] = p;
	}
	if (n == 9)
		return strtoull(tok[5], NULL, 10);
	if (n >= 11)
		return strtoull(tok[7], NULL, 10);
	return 0;
}

static void
fleet_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct purge_fleet *f = closure;
	const char *id = NULL, *from = NULL, *reply = natsMsg_GetReply(msg);
	char subj[256], idbuf[PURGE_ID_LEN + 1], frombuf[PURGE_NODE_MAX];
	uint64_t seq;

	(void)sub;
	OBJ_CHECK(f, PURGE_FLEET_MAGIC);
	seq = fleet_stream_seq(reply);
	if (seq == 0) {
		natsMsg_Destroy(msg);
		return;
	}
	(void)natsMsgHeader_Get(msg, "Outpost-Purge-Id", &id);
	(void)natsMsgHeader_Get(msg, "Outpost-Node", &from);
	if (id == NULL || strlen(id) != PURGE_ID_LEN || from == NULL) {
		log_warn("purge", "fleet: message %llu without a purge id or node: skipped",
		    (unsigned long long)seq);
		(void)natsConnection_PublishString(nc, reply, "+ACK");
		natsMsg_Destroy(msg);
		return;
	}
	snprintf(idbuf, sizeof idbuf, "%s", id);
	fleet_token(frombuf, sizeof frombuf, from);
	if (seq > atomic_load(&f->applied_seq)) {
		bool seen = purge_log_applied(f->log, idbuf);

		if (f->cbs.apply(f->arg, idbuf, natsMsg_GetData(msg),
		        (size_t)natsMsg_GetDataLength(msg), seq) != 0) {
			natsMsg_Destroy(msg); /* not acked: delivered again */
			return;
		}
		atomic_store(&f->applied_seq, seq);
		atomic_fetch_add(seen ? &f->duplicates : &f->applied, 1);
	} else {
		atomic_fetch_add(&f->duplicates, 1);
	}
	(void)natsConnection_PublishString(nc, reply, "+ACK");
	natsMsg_Destroy(msg);
	snprintf(subj, sizeof subj, "%s.%s.%s", PURGE_FLEET_ACK, frombuf, idbuf);
	(void)natsConnection_PublishString(nc, subj, f->node);
}

static void
fleet_on_ack(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct purge_fleet *f = closure;
	const char *subj = natsMsg_GetSubject(msg), *id = strrchr(subj, '.');
	char node[PURGE_NODE_MAX];
	int len = natsMsg_GetDataLength(msg);

	(void)nc;
	(void)sub;
	OBJ_CHECK(f, PURGE_FLEET_MAGIC);
	if (id != NULL && strlen(id + 1) == PURGE_ID_LEN && len > 0 && len < (int)sizeof node) {
		memcpy(node, natsMsg_GetData(msg), (size_t)len);
		node[len] = '\0';
		f->cbs.acked(f->arg, id + 1, node);
	}
	natsMsg_Destroy(msg);
}

static void
fleet_on_connected(natsConnection *nc, void *closure)
{
	struct purge_fleet *f = closure;

	(void)nc;
	if (!atomic_exchange(&f->connected, true))
		log_info("purge", "fleet: connected to NATS");
	purge_fleet_kick(f);
}

static void
fleet_on_disconnected(natsConnection *nc, void *closure)
{
	struct purge_fleet *f = closure;

	(void)nc;
	if (atomic_exchange(&f->connected, false))
		log_warn("purge", "fleet: disconnected from NATS: purges apply here and are "
		                  "published when it is back");
}

/* ---- set-up (the fleet thread) ---- */

static bool
fleet_err(const char *what, natsStatus s, jsErrCode jerr)
{
	static _Atomic unsigned long long last_ms;
	unsigned long long now = time_mono_ms();

	/* a NATS server away is a state, not news every round: one line in 10 s */
	if (now - atomic_load(&last_ms) >= 10000) {
		atomic_store(&last_ms, now);
		log_warn("purge", "fleet: %s: %s (%d)", what, natsStatus_GetText(s), (int)jerr);
	}
	return false;
}

static bool
fleet_set_up(struct purge_fleet *f)
{
	jsStreamInfo *si = NULL;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	s = js_GetStreamInfo(&si, f->js, PURGE_FLEET_STREAM, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
		jsStreamConfig sc;
		const char *subjects[] = {PURGE_FLEET_SUBJECT};

		jsStreamConfig_Init(&sc);
		sc.Name = PURGE_FLEET_STREAM;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.MaxAge = (int64_t)PURGE_FLEET_MAX_AGE_S * 1000000000LL;
		jerr = 0;
		s = js_AddStream(&si, f->js, &sc, NULL, &jerr);
		if (s == NATS_OK)
			log_info("purge", "fleet: stream %s created", PURGE_FLEET_STREAM);
	}
	if (s != NATS_OK)
		return fleet_err("stream " PURGE_FLEET_STREAM, s, jerr);
	jsStreamInfo_Destroy(si);

	jerr = 0;
	s = js_GetConsumerInfo(&ci, f->js, PURGE_FLEET_STREAM, f->node, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
		jsConsumerConfig cc;
		uint64_t seq = atomic_load(&f->applied_seq);

		jsConsumerConfig_Init(&cc);
		cc.Durable = f->node;
		cc.DeliverSubject = f->deliver;
		cc.FilterSubject = PURGE_FLEET_SUBJECT;
		cc.AckPolicy = js_AckExplicit;
		cc.AckWait = 5 * 1000000000LL;
		cc.MaxAckPending = 1024;
		/* a node new to the fleet owes nothing older than itself */
		cc.DeliverPolicy = seq > 0 ? js_DeliverByStartSequence : js_DeliverNew;
		cc.OptStartSeq = seq > 0 ? seq + 1 : 0;
		jerr = 0;
		s = js_AddConsumer(&ci, f->js, PURGE_FLEET_STREAM, &cc, NULL, &jerr);
		if (s == NATS_OK)
			log_info("purge", "fleet: consumer \"%s\" created (from sequence %llu)",
			    f->node, (unsigned long long)(seq + 1));
	}
	if (s != NATS_OK)
		return fleet_err("consumer", s, jerr);
	if (ci->Config == NULL || ci->Config->DeliverSubject == NULL ||
	    strcmp(ci->Config->DeliverSubject, f->deliver) != 0) {
		log_err("purge",
		    "fleet: consumer \"%s\" exists with another delivery subject: "
		    "delete it (it is this node's) to let outpost make it anew",
		    f->node);
		jsConsumerInfo_Destroy(ci);
		return false;
	}
	jsConsumerInfo_Destroy(ci);
	/* the subscriptions are made once; the client renews them on reconnects */
	if (f->sub_deliver == NULL) {
		char subj[256];

		s = natsConnection_Subscribe(&f->sub_deliver, f->nc, f->deliver, fleet_on_msg, f);
		if (s != NATS_OK)
			return fleet_err("subscribe", s, 0);
		(void)natsSubscription_SetPendingLimits(f->sub_deliver, -1, -1);
		snprintf(subj, sizeof subj, "%s.%s.*", PURGE_FLEET_ACK, f->node);
		s = natsConnection_Subscribe(&f->sub_ack, f->nc, subj, fleet_on_ack, f);
		if (s != NATS_OK)
			return fleet_err("subscribe", s, 0);
	}
	return true;
}

/* ---- the outbox ---- */

static void fleet_members(struct purge_fleet *f);

struct fleet_item {
	char id[PURGE_ID_LEN + 1];
	char *rec;
	size_t len;
};

struct fleet_items {
	struct fleet_item *v;
	size_t n, cap;
};

static void
fleet_collect(void *arg, const char *id, const char *value, size_t len)
{
	struct fleet_items *it = arg;

	if (strlen(id) != PURGE_ID_LEN)
		return;
	if (it->n == it->cap) {
		it->cap = it->cap == 0 ? 16 : 2 * it->cap;
		it->v = xrealloc(it->v, it->cap * sizeof *it->v);
	}
	memcpy(it->v[it->n].id, id, PURGE_ID_LEN + 1);
	it->v[it->n].rec = xmalloc(len + 1);
	memcpy(it->v[it->n].rec, value, len);
	it->v[it->n].len = len;
	it->n++;
}

/* Publishes what the outbox holds, oldest first; stops at the first failure
 * (tried again on the next round). */
static void
fleet_publish(struct purge_fleet *f)
{
	struct fleet_items it = {0};
	size_t i;

	(void)purge_log_each_in(f->log, PURGE_LOG_OUTBOX, fleet_collect, &it);
	atomic_store(&f->outbox, it.n);
	if (it.n > 0)
		fleet_members(f); /* so that ?wait= counts every member's ack */
	for (i = 0; i < it.n; i++) {
		natsMsg *m = NULL;
		jsPubAck *pa = NULL;
		jsPubOptions po;
		jsErrCode jerr = 0;
		natsStatus s;

		jsPubOptions_Init(&po);
		po.MsgId = it.v[i].id;
		po.MaxWait = PURGE_FLEET_TIMEOUT;
		s = natsMsg_Create(&m, PURGE_FLEET_SUBJECT, NULL, it.v[i].rec, (int)it.v[i].len);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Outpost-Purge-Id", it.v[i].id);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Outpost-Node", f->node);
		if (s == NATS_OK)
			s = js_PublishMsg(&pa, f->js, m, &po, &jerr);
		natsMsg_Destroy(m);
		jsPubAck_Destroy(pa);
		if (s != NATS_OK) {
			atomic_fetch_add(&f->publish_failures, 1);
			(void)fleet_err("publish", s, jerr);
			break;
		}
		atomic_fetch_add(&f->published, 1);
		atomic_fetch_sub(&f->outbox, 1);
		(void)purge_log_del_in(f->log, PURGE_LOG_OUTBOX, it.v[i].id);
	}
	for (i = 0; i < it.n; i++)
		free(it.v[i].rec);
	free(it.v);
}

/* ---- members, lag, catching up ---- */

static void
fleet_refresh(struct purge_fleet *f)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	s = js_GetConsumerInfo(&ci, f->js, PURGE_FLEET_STREAM, f->node, NULL, &jerr);
	if (s != NATS_OK) {
		if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
			ASSERT(pthread_mutex_lock(&f->mu) == 0);
			f->set_up = false; /* the server lost it: make it anew */
			ASSERT(pthread_mutex_unlock(&f->mu) == 0);
		}
		return;
	}
	ASSERT(pthread_mutex_lock(&f->mu) == 0);
	f->lag = ci->NumPending + (uint64_t)ci->NumAckPending;
	if (f->lag == 0 && !f->caught_up) {
		f->caught_up = true;
		ASSERT(pthread_cond_broadcast(&f->cv) == 0);
	}
	ASSERT(pthread_mutex_unlock(&f->mu) == 0);
	jsConsumerInfo_Destroy(ci);
	fleet_members(f);
}

/* Reads the member list anew: the stream's durable consumers. */
static void
fleet_members(struct purge_fleet *f)
{
	jsConsumerNamesList *names = NULL;
	jsErrCode jerr = 0;
	char **m = NULL, **old;
	size_t n = 0, old_n;

	if (js_ConsumerNames(&names, f->js, PURGE_FLEET_STREAM, NULL, &jerr) != NATS_OK)
		return;
	m = xcalloc((size_t)names->Count + 1, sizeof *m);
	for (int i = 0; i < names->Count; i++)
		m[n++] = xstrdup(names->List[i]);
	jsConsumerNamesList_Destroy(names);
	ASSERT(pthread_mutex_lock(&f->mu) == 0);
	old = f->members;
	old_n = f->n_members;
	f->members = m;
	f->n_members = n;
	ASSERT(pthread_mutex_unlock(&f->mu) == 0);
	for (size_t i = 0; i < old_n; i++)
		free(old[i]);
	free(old);
}

static void *
fleet_main(void *arg)
{
	struct purge_fleet *f = arg;
	uint64_t next_info = 0;

	ASSERT(pthread_mutex_lock(&f->mu) == 0);
	while (!f->stop) {
		bool set_up = f->set_up;
		struct timespec ts;
		uint64_t now;

		f->kick = false;
		ASSERT(pthread_mutex_unlock(&f->mu) == 0);
		if (!set_up && atomic_load(&f->connected) && fleet_set_up(f)) {
			set_up = true;
			next_info = 0;
			ASSERT(pthread_mutex_lock(&f->mu) == 0);
			f->set_up = true;
			ASSERT(pthread_mutex_unlock(&f->mu) == 0);
		}
		if (set_up) {
			fleet_publish(f);
			now = time_mono_ms();
			if (now >= next_info) {
				fleet_refresh(f); /* may clear f->set_up */
				next_info = now + (f->caught_up ? PURGE_FLEET_INFO_MS
				                                : PURGE_FLEET_TICK_MS);
			}
		}
		ASSERT(pthread_mutex_lock(&f->mu) == 0);
		if (f->stop || f->kick)
			continue;
		ASSERT(clock_gettime(CLOCK_REALTIME, &ts) == 0);
		ts.tv_nsec += (long)PURGE_FLEET_TICK_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
	ASSERT(pthread_mutex_unlock(&f->mu) == 0);
	return NULL;
}

/* ---- the API ---- */

struct purge_fleet *
purge_fleet_start(const struct purge_fleet_conf *conf, const char *node, struct purge_log *log,
    const struct purge_fleet_cbs *cbs, void *arg)
{
	struct purge_fleet *f = xcalloc(1, sizeof *f);
	natsStatus s;

	f->magic = PURGE_FLEET_MAGIC;
	fleet_token(f->node, sizeof f->node, node);
	snprintf(f->deliver, sizeof f->deliver, "%s.%s", PURGE_FLEET_DELIVER, f->node);
	f->log = log;
	f->cbs = *cbs;
	f->arg = arg;
	atomic_store(&f->applied_seq, purge_log_seq(log));
	ASSERT(pthread_mutex_init(&f->mu, NULL) == 0);
	ASSERT(pthread_cond_init(&f->cv, NULL) == 0);

	s = natsOptions_Create(&f->opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(
		    f->opts, (const char **)(void *)conf->servers, (int)conf->n_servers);
	if (s == NATS_OK)
		s = natsOptions_SetName(f->opts, f->node);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(f->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(f->opts, 250);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(f->opts, PURGE_FLEET_TIMEOUT);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(f->opts, true, fleet_on_connected, f);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(f->opts, fleet_on_connected, f);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(f->opts, fleet_on_disconnected, f);
	if (s == NATS_OK && conf->credentials != NULL)
		s = natsOptions_SetUserCredentialsFromFiles(f->opts, conf->credentials, NULL);
	if (s == NATS_OK && conf->tls_ca != NULL)
		s = natsOptions_LoadCATrustedCertificates(f->opts, conf->tls_ca);
	if (s == NATS_OK && conf->tls_cert != NULL)
		s = natsOptions_LoadCertificatesChain(f->opts, conf->tls_cert, conf->tls_key);
	if (s == NATS_OK && (conf->tls_ca != NULL || conf->tls_cert != NULL))
		s = natsOptions_SetSecure(f->opts, true);
	if (s != NATS_OK) {
		log_err("purge", "fleet: NATS options: %s", natsStatus_GetText(s));
		goto fail;
	}
	s = natsConnection_Connect(&f->nc, f->opts);
	if (s == NATS_OK) {
		atomic_store(&f->connected, true);
		log_info("purge", "fleet: connected to NATS");
	} else if (s == NATS_NOT_YET_CONNECTED) {
		log_warn("purge", "fleet: NATS not reachable yet: purges apply here and are "
		                  "published when it is");
	} else {
		log_err("purge", "fleet: NATS: %s", natsStatus_GetText(s));
		goto fail;
	}
	s = natsConnection_JetStream(&f->js, f->nc, NULL);
	if (s != NATS_OK) {
		log_err("purge", "fleet: JetStream context: %s", natsStatus_GetText(s));
		goto fail;
	}
	if (pthread_create(&f->thread, NULL, fleet_main, f) != 0) {
		log_err("purge", "fleet: cannot start its thread");
		goto fail;
	}
	f->started = true;
	return f;
fail:
	purge_fleet_free(&f);
	return NULL;
}

bool
purge_fleet_catch_up(struct purge_fleet *f, unsigned timeout_ms)
{
	struct timespec ts;
	bool ok;

	ASSERT(clock_gettime(CLOCK_REALTIME, &ts) == 0);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	ASSERT(pthread_mutex_lock(&f->mu) == 0);
	while (!f->caught_up)
		if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) == ETIMEDOUT)
			break;
	ok = f->caught_up;
	ASSERT(pthread_mutex_unlock(&f->mu) == 0);
	return ok;
}

void
purge_fleet_kick(struct purge_fleet *f)
{
	ASSERT(pthread_mutex_lock(&f->mu) == 0);
	f->kick = true;
	ASSERT(pthread_cond_broadcast(&f->cv) == 0);
	ASSERT(pthread_mutex_unlock(&f->mu) == 0);
}

size_t
purge_fleet_members(struct purge_fleet *f, char ***out)
{
	size_t n;

	ASSERT(pthread_mutex_lock(&f->mu) == 0);
	n = f->n_members;
	*out = xcalloc(n + 1, sizeof **out);
	for (size_t i = 0; i < n; i++)
		(*out)[i] = xstrdup(f->members[i]);
	ASSERT(pthread_mutex_unlock(&f->mu) == 0);
	return n;
}

void
purge_fleet_stats(struct purge_fleet *f, struct purge_fleet_stats *out)
{
	out->published = atomic_load(&f->published);
	out->publish_failures = atomic_load(&f->publish_failures);
	out->applied = atomic_load(&f->applied);
	out->duplicates = atomic_load(&f->duplicates);
	out->outbox = atomic_load(&f->outbox);
	out->connected = atomic_load(&f->connected);
	ASSERT(pthread_mutex_lock(&f->mu) == 0);
	out->lag = f->lag;
	ASSERT(pthread_mutex_unlock(&f->mu) == 0);
}

void
purge_fleet_free(struct purge_fleet **fp)
{
	struct purge_fleet *f = *fp;

	if (f == NULL)
		return;
	*fp = NULL;
	if (f->started) {
		ASSERT(pthread_mutex_lock(&f->mu) == 0);
		f->stop = true;
		ASSERT(pthread_cond_broadcast(&f->cv) == 0);
		ASSERT(pthread_mutex_unlock(&f->mu) == 0);
		ASSERT(pthread_join(f->thread, NULL) == 0);
	}
	if (f->nc != NULL)
		natsConnection_Close(f->nc);
	natsSubscription_Destroy(f->sub_deliver);
	natsSubscription_Destroy(f->sub_ack);
	jsCtx_Destroy(f->js);
	natsConnection_Destroy(f->nc);
	natsOptions_Destroy(f->opts);
	/* waits for the client's threads: no callback runs after this */
	(void)nats_CloseAndWait(5000);
	for (size_t i = 0; i < f->n_members; i++)
		free(f->members[i]);
	free(f->members);
	ASSERT(pthread_mutex_destroy(&f->mu) == 0);
	ASSERT(pthread_cond_destroy(&f->cv) == 0);
	f->magic = 0;
	free(f);
}
