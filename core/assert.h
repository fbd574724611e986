/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/assert.h — assertions that stay on in release builds.
 *
 * ASSERT(e) is for cheap invariants and stays compiled in; DASSERT(e) is for
 * expensive checks and disappears under NDEBUG.  Network input must never reach
 * an assertion: parsers return status codes instead.  On failure the process
 * logs file:line, the expression and the thread, then aborts.
 */
#ifndef OUTPOST_CORE_ASSERT_H
#define OUTPOST_CORE_ASSERT_H

_Noreturn void assert_fail(const char *file, int line, const char *func, const char *expr);

#define ASSERT(e) ((e) ? (void)0 : assert_fail(__FILE__, __LINE__, __func__, #e))
#ifdef NDEBUG
#define DASSERT(e) ((void)0)
#else
#define DASSERT(e) ASSERT(e)
#endif
#define UNREACHABLE(why) assert_fail(__FILE__, __LINE__, __func__, "unreachable: " why)

/*
 * Long-lived structs that travel through void * callback arguments start with
 * `unsigned magic`; OBJ_CHECK at entry, zero the magic on free.  Magic values
 * are listed once, here, so they stay unique: tools/magic_check.sh (run by
 * make check) rejects a magic defined elsewhere or a value used twice.
 */
#define OBJ_CHECK(p, m) ASSERT((p) != NULL && (p)->magic == (m))

#define EDGE_CONN_MAGIC     0x6564636fU
#define EDGE_WORKER_MAGIC   0x6564776bU
#define EDGE_PRIVDROP_MAGIC 0x65647064U
#define EDGE_FETCH_MAGIC    0x65646674U
#define EDGE_H2_MAGIC       0x65646832U
#define EDGE_H2_STRM_MAGIC  0x65643273U
#define EDGE_GUARD_PP_MAGIC 0x65647070U
#define ORIGIN_DNS_MAGIC    0x6f72646eU
#define ORIGIN_QUERY_MAGIC  0x6f727179U
#define ORIGIN_LOOKUP_MAGIC 0x6f726c6bU
#define CACHE_OBJ_MAGIC     0x63616f62U
#define CACHE_DISK_MAGIC    0x63646b74U
#define CACHE_FILL_MAGIC    0x6366696cU
#define CONFIG_MAGIC        0x636f6e66U
#define PURGE_FLEET_MAGIC   0x6a3f0c51U
#define PURGE_WAIT_MAGIC    0x2c81d9e4U
#define GEO_DBS_MAGIC       0x67656f64U
#define ADMIN_CONN_MAGIC    0x61646d63U
#define ADMIN_REQ_MAGIC     0x61646d72U
#define PURGE_JOB_MAGIC     0x706a6f62U

#endif
