/*
 * log.c — one line per event, lowercase key=value, the session or message
 * id first. Foreground: stderr with a UTC time stamp. Daemon: syslog
 * (mail facility) when the build has it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

static bool log_syslog;
static enum log_level log_threshold = LOG_L_INFO;

void
log_open(bool use_syslog, enum log_level level)
{
	log_syslog = use_syslog && ENABLE_LOG_SYSLOG;
	log_threshold = level;
	if (log_syslog) {
		openlog("tern", LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

static void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	char stamp[32];
	struct tm tm;
	time_t now;
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0) {
		return;
	}
	if (log_syslog) {
		syslog(prio[level], "%s", line);
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s\n", stamp, line);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_threshold) {
		return;
	}
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_L_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	fputs("tern: panic: ", stderr);
	va_start(ap, fmt);
	log_vmsg(LOG_L_ERR, fmt, ap);
	va_end(ap);
	abort();
}
