/*
 * main.c — the program: options, configuration, start-up (arena, pools,
 * listeners), signals, the event loop, shut-down. One binary serves
 * several names by argv[0]; for now only "tern" itself.
 *
 *   tern [-c FILE] [-d] [-t] [-V]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/core.h"
#include "deliver/deliver.h"
#include "smtp/smtp.h"
#include "tls/tls.h"

#define MAIN_ARENA_SLACK (1024 * 1024)

static struct ev_io main_sig_io;
static bool main_stopping;
static struct ev_timer main_stop_timer;

static void
main_usage(void)
{
	fprintf(stderr,
	    "usage: tern [-c FILE] [-d] [-t] [-V]\n"
	    "  -c FILE  configuration file (default: the embedded one)\n"
	    "  -d       run as a daemon, log to syslog\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print version and build options\n");
	exit(2);
}

static void
main_version(void)
{
	printf("tern %s (%s, self-test %s)\n", TERN_VERSION,
	    tls_library_version(), tls_selftest() ? "ok" : "FAILED");
	printf("pools: sessions=%d transactions=%d recipients=%d\n",
	    CONFIG_POOL_SESSIONS, CONFIG_POOL_TRANSACTIONS,
	    CONFIG_SMTPD_RCPT_MAX);
	printf("features:%s%s%s%s\n", ENABLE_SMTP_VRFY ? " vrfy" : "",
	    ENABLE_SMTP_HELP ? " help" : "",
	    ENABLE_SMTP_SMTPUTF8 ? " smtputf8" : "",
	    ENABLE_LOG_SYSLOG ? " syslog" : "");
}

static void
main_stop_check(struct ev_timer *t)
{
	if (smtpd_sessions_active() == 0) {
		ev_break();
		return;
	}
	ev_timer_start(t, 50, main_stop_check);
}

static void
main_on_signal(struct ev_io *io, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_warn("reload requested: not supported yet, "
			         "restart to apply changes");
			continue;
		}
		if (!main_stopping) {
			main_stopping = true;
			log_info("shutdown signal=%u", si.ssi_signo);
			smtpd_shutdown();
			main_stop_check(&main_stop_timer);
		}
	}
}

static void
main_signals(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0 ||
	    ev_io_start(&main_sig_io, fd, EPOLLIN, main_on_signal) < 0) {
		fatal("cannot watch signals: %s", strerror(errno));
	}
}

static void
main_daemonize(void)
{
	pid_t pid = fork();

	if (pid < 0) {
		fatal("fork: %s", strerror(errno));
	}
	if (pid > 0) {
		_exit(0);
	}
	setsid();
	if (freopen("/dev/null", "r", stdin) == NULL ||
	    freopen("/dev/null", "w", stdout) == NULL) {
		log_warn("cannot redirect stdio to /dev/null");
	}
}

/* One descriptor per session, listener and file being written, and some. */
static void
main_fd_limit(const struct conf *conf)
{
	rlim_t want = (rlim_t)CONFIG_POOL_SESSIONS + CONFIG_POOL_LISTENERS + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want) {
		return;
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want) {
		log_warn("open files limited to %llu; sessions beyond about "
		         "%llu will wait",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)(rl.rlim_cur > 80 ? rl.rlim_cur - 80 :
		                                            0));
	}
}

static size_t
main_arena_size(void)
{
	/* every pool, worst case; untouched pages cost nothing */
	return (size_t)CONFIG_POOL_SESSIONS * (4096 + 64) +
	    (size_t)CONFIG_POOL_TRANSACTIONS *
	    (sizeof(struct deliver_rcpt) * CONFIG_SMTPD_RCPT_MAX + 4096) +
	    MAIN_ARENA_SLACK;
}

static int
main_tern(int argc, char **argv)
{
	const char *path = NULL;
	bool check = false, daemon = false;
	struct conf *conf;
	int opt, rc;

	while ((opt = getopt(argc, argv, "c:dtVh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			daemon = true;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			main_version();
			return 0;
		default:
			main_usage();
		}
	}
	if (optind != argc) {
		main_usage();
	}
	log_open(false, LOG_L_INFO);
	rc = conf_load(path, &conf);
	if (rc != 0) {
		fprintf(stderr, "%s: %d error%s\n",
		    path ? path : "(embedded default)", rc, rc == 1 ? "" : "s");
		return 1;
	}
	if (check) {
		printf("%s: configuration ok\n", conf->source);
		conf_free(conf);
		return 0;
	}
	if (daemon) {
		main_daemonize();
	}
	log_open(daemon, conf->log_level);
	if (arena_init(main_arena_size()) < 0 ||
	    ev_init(CONFIG_POOL_SESSIONS + 16) < 0) {
		fatal("cannot reserve start-up memory: %s", strerror(errno));
	}
	main_fd_limit(conf);
	rc = deliver_init(conf);
	if (rc < 0) {
		fatal("drop directory %s: %s", conf->drop, strerror(-rc));
	}
	main_signals();
	smtpd_init(conf);
	arena_seal();
	log_info("tern %s started config=%s hostname=%s arena=%zu",
	    TERN_VERSION, conf->source, conf->hostname, arena_used());
	rc = ev_run();
	log_info("tern stopped");
	conf_free(conf);
	return rc < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	return main_tern(argc, argv);
}
