/*
 * date.c — dates as RFC 5322 3.3 writes them (Received:, Date:).
 */
#include <time.h>

#include "core/core.h"

void
date_rfc5322(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(out, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
}
