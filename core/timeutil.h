/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/timeutil.h — clocks and HTTP dates.
 */
#ifndef OUTPOST_CORE_TIMEUTIL_H
#define OUTPOST_CORE_TIMEUTIL_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "core/str.h"

/* Monotonic milliseconds. */
uint64_t time_mono_ms(void);
/* Monotonic microseconds (the same clock). */
uint64_t time_mono_us(void);
/* Wall clock, seconds since the epoch. */
time_t time_now(void);
/* ms milliseconds as a struct timeval (libevent timeouts and timers). */
struct timeval time_ms_to_tv(uint64_t ms);

#define TIME_HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */
/* Writes IMF-fixdate (RFC 9110 §5.6.7) into out[TIME_HTTP_DATE_LEN + 1]. */
void time_http_date(time_t t, char *out);
/* Parses an HTTP-date in any of the three formats RFC 9110 §5.6.7 requires a
 * recipient to accept; 0 on success, -1 if invalid. */
int time_parse_http_date(struct str s, time_t *out);

#endif
