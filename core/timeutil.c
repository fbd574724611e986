/* SPDX-License-Identifier: BSD-2-Clause */
/* core/timeutil.c — clocks and HTTP-date formatting/parsing (RFC 9110 §5.6.7). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"

uint64_t
time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

time_t
time_now(void)
{
	return time(NULL);
}

struct timeval
time_ms_to_tv(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000u);
	tv.tv_usec = (suseconds_t)(ms % 1000u) * 1000;
	return tv;
}

static const char time_days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char time_months[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void
time_http_date(time_t t, char *out)
{
	struct tm tm;
	char b[64];

	gmtime_r(&t, &tm);
	snprintf(b, sizeof b, "%s, %02d %s %04d %02d:%02d:%02d GMT", time_days[tm.tm_wday],
	    tm.tm_mday, time_months[tm.tm_mon], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
	memcpy(out, b, TIME_HTTP_DATE_LEN);
	out[TIME_HTTP_DATE_LEN] = '\0';
}

/* Month names and "GMT" are matched without regard to case: RFC 9110 §5.6.7
 * asks recipients to be robust in parsing timestamps, and "AUG" or "gMT"
 * leave no doubt about the date meant. */
static int
time_month(const char *p)
{
	for (int i = 0; i < 12; i++)
		if (str_eq_nocase(str_make(p, 3), str_make(time_months[i], 3)))
			return i;
	return -1;
}

static int
time_digits(const char *p, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* "HH:MM:SS" */
static int
time_hms(const char *p, struct tm *tm)
{
	if (p[2] != ':' || p[5] != ':')
		return -1;
	if (time_digits(p, 2, &tm->tm_hour) || time_digits(p + 3, 2, &tm->tm_min) ||
	    time_digits(p + 6, 2, &tm->tm_sec))
		return -1;
	if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return -1;
	return 0;
}

int
time_parse_http_date(struct str s, time_t *out)
{
	char b[64];
	struct tm tm;
	const char *p;

	s = str_trim_ows(s);
	if (str_copy(s, b, sizeof b) != 0)
		return -1;
	memset(&tm, 0, sizeof tm);
	p = strchr(b, ',');
	if (p != NULL && s.len == 29 && p == b + 3) {
		/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		if (b[4] != ' ' || b[7] != ' ' || b[11] != ' ' || b[16] != ' ' || b[25] != ' ' ||
		    !str_eq_nocase(str_make(b + 26, 3), STR_LIT("GMT")))
			return -1;
		if (time_digits(b + 5, 2, &tm.tm_mday) || (tm.tm_mon = time_month(b + 8)) < 0 ||
		    time_digits(b + 12, 4, &tm.tm_year) || time_hms(b + 17, &tm))
			return -1;
		tm.tm_year -= 1900;
	} else if (p != NULL) {
		/* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
		const char *d = p + 2;
		if (p[1] != ' ' || strlen(d) != 22 || d[2] != '-' || d[6] != '-' || d[9] != ' ' ||
		    d[18] != ' ' || !str_eq_nocase(str_make(d + 19, 3), STR_LIT("GMT")))
			return -1;
		if (time_digits(d, 2, &tm.tm_mday) || (tm.tm_mon = time_month(d + 3)) < 0 ||
		    time_digits(d + 7, 2, &tm.tm_year) || time_hms(d + 10, &tm))
			return -1;
		/* RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past. */
		if (tm.tm_year < 70)
			tm.tm_year += 100;
	} else {
		/* asctime-date: Sun Nov  6 08:49:37 1994 */
		if (s.len != 24 || b[3] != ' ' || b[7] != ' ' || b[10] != ' ' || b[19] != ' ')
			return -1;
		if ((tm.tm_mon = time_month(b + 4)) < 0)
			return -1;
		if (b[8] == ' ') {
			if (time_digits(b + 9, 1, &tm.tm_mday))
				return -1;
		} else if (time_digits(b + 8, 2, &tm.tm_mday)) {
			return -1;
		}
		if (time_hms(b + 11, &tm) || time_digits(b + 20, 4, &tm.tm_year))
			return -1;
		tm.tm_year -= 1900;
	}
	if (tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	*out = timegm(&tm);
	return 0;
}
