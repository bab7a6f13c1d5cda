/*
 * main.c — the program: options, configuration, start-up (arena, pools,
 * listeners), signals, reload, the event loop, shut-down. One binary
 * serves several names by argv[0] (tern, ternctl, mailq).
 *
 * Reload (SIGHUP, `ternctl reload`): the file given at start (or the
 * embedded default) is loaded whole into a new struct conf on the heap —
 * certificates, users and password files too — and the new listen
 * addresses are bound; any error and nothing changes. Then each part is
 * switched to it; sessions and outbound jobs in progress keep the one
 * they started with (conf_hold), which is freed when the last ends.
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

#include "admin/admin.h"
#include "conf/conf.h"
#include "core/core.h"
#include "deliver/deliver.h"
#include "dsn/dsn.h"
#include "queue/queue.h"
#include "route/route.h"
#include "smtp/smtp.h"
#include "tls/tls.h"

#define MAIN_ARENA_SLACK (8 * 1024 * 1024)

static struct ev_io main_sig_io;
static bool main_stopping;
static bool main_daemon;
static const char *main_path; /* -c FILE, NULL: the embedded default */
static struct conf *main_conf; /* the running configuration */
static uint32_t main_generation = 1;
static struct ev_timer main_stop_timer;

static void
main_usage(void)
{
	fprintf(stderr,
	    "usage: tern [-c FILE] [-d] [-t] [-V]\n"
	    "       tern journal check [-v] DIR\n"
	    "       tern resolve [-s SERVER:PORT] mx|a|aaaa|mxhosts NAME\n"
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
	IF_TLS(printf("tls: connections=%d heap-per-connection=%dK\n",
	    CONFIG_POOL_TLS, CONFIG_TLS_SESSION_KB);)
	printf("features:%s%s%s%s\n", ENABLE_SMTP_VRFY ? " vrfy" : "",
	    ENABLE_SMTP_HELP ? " help" : "",
	    ENABLE_SMTP_SMTPUTF8 ? " smtputf8" : "",
	    ENABLE_LOG_SYSLOG ? " syslog" : "");
}

#define MAIN_GRACE_MS 30000 /* for messages in progress at shutdown */

static uint64_t main_stop_deadline;

static void
main_stop_check(struct ev_timer *t)
{
	if (ev_now() >= main_stop_deadline) {
		smtpd_kill_all();
	}
	if (smtpd_sessions_active() == 0) {
		ev_break();
		return;
	}
	ev_timer_start(t, 50, main_stop_check);
}

/* ---- reload ------------------------------------------------------------ */

struct main_notes {
	int errors;
	int warnings;
	struct buf b; /* the lines for `ternctl reload` */
	char mem[6144];
};

static void
main_note(struct main_notes *n, bool error, const char *file, int line,
    const char *msg)
{
	char text[600];

	if (line > 0) {
		snprintf(text, sizeof(text), "%s:%d: %s", file, line, msg);
	} else {
		snprintf(text, sizeof(text), "%s: %s", file, msg);
	}
	if (error) {
		n->errors++;
		log_err("reload: %s", text);
	} else {
		n->warnings++;
		log_warn("reload: warning: %s", text);
	}
	(void)buf_printf(&n->b, "%s%s\n", error ? "" : "warning: ", text);
}

static void
main_reload_error(void *ctx, const char *file, int line, const char *msg)
{
	main_note(ctx, true, file, line, msg);
}

static void
main_reload_warning(void *ctx, const char *file, int line, const char *msg)
{
	main_note(ctx, false, file, line, msg);
}

/* At start an error in what a configuration loads ends the program. */
static void
main_start_error(void *ctx, const char *file, int line, const char *msg)
{
	if (line > 0) {
		fatal("%s:%d: %s", file, line, msg);
	}
	fatal("%s: %s", file, msg);
}

/* What other parts loaded into a configuration, when its last user ends. */
static void
main_conf_release(struct conf *c)
{
	tls_conf_unload(c);
	smtpd_users_unload(c);
	smtpc_auth_unload(c);
}

/* Everything a configuration needs besides its text; 0 or the first error. */
static int
main_conf_extras(struct conf *c, conf_report_fn report, void *ctx)
{
	int rc = smtpd_users_load(c, report, ctx);

	if (rc == 0) {
		rc = smtpc_auth_load(c, report, ctx);
	}
	return rc;
}

static void
main_reload_switch(struct conf *nc)
{
	struct conf *old = main_conf;

	smtpd_reload_commit(nc);
	smtpc_reload(nc);
	dsched_reload(nc);
	dsn_reload(nc);
	log_open(main_daemon, nc->log_level);
	main_conf = nc;
	main_generation++;
	if (conf_users(old) > 1) {
		log_info("config generation %u stays for %u sessions or jobs "
		         "in progress",
		    main_generation - 1, conf_users(old) - 1);
	}
	conf_drop(old); /* freed now, or when its last session ends */
}

static int
main_reload(struct buf *out)
{
	static struct main_notes notes;
	struct main_notes *n = &notes;
	struct conf *nc = NULL;
	int tls_warnings = 0;

	memset(n, 0, sizeof(*n));
	buf_init(&n->b, n->mem, sizeof(n->mem));
	log_info("config reload from %s",
	    main_path != NULL ? main_path : "(embedded default)");
	if (conf_load_report(main_path, main_reload_error, n, &nc) == 0) {
		conf_keep_fixed(nc, main_reload_warning, n);
		tls_warnings = tls_conf_load(nc);
		if (main_conf_extras(nc, main_reload_error, n) == 0) {
			(void)smtpd_reload_prepare(nc, main_reload_error, n);
		}
	}
	if (n->errors > 0) {
		conf_drop(nc);
		log_err("config reload failed with %d error%s; the running "
		        "configuration (generation %u) stays",
		    n->errors, n->errors == 1 ? "" : "s", main_generation);
		(void)buf_printf(out,
		    "error: reload failed, the running configuration stays\n");
	} else {
		main_reload_switch(nc);
		log_info("config reloaded from %s (generation %u)", nc->source,
		    main_generation);
		(void)buf_printf(out, "reloaded from %s (generation %u)\n",
		    nc->source, main_generation);
		if (tls_warnings > 0) {
			(void)buf_printf(out,
			    "warning: %d TLS warning%s, see the log\n",
			    tls_warnings, tls_warnings == 1 ? "" : "s");
		}
	}
	(void)buf_append(out, buf_data(&n->b), buf_size(&n->b));
	return n->errors > 0 ? -EINVAL : 0;
}

static void
main_reload_signal(void)
{
	char mem[256];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	(void)main_reload(&b); /* everything it says is logged */
}

static void
main_on_signal(struct ev_io *io, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			if (!main_stopping) {
				main_reload_signal();
			}
			continue;
		}
		if (!main_stopping) {
			main_stopping = true;
			log_info("shutdown signal=%u", si.ssi_signo);
			main_stop_deadline = ev_now() + MAIN_GRACE_MS;
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
	    (size_t)CONFIG_POOL_TRANSACTIONS * 2048 +
	    ((size_t)CONFIG_QUEUE_MAX_MESSAGES + 4 * CONFIG_POOL_TRANSACTIONS) *
	    (CONFIG_SMTPD_RCPT_MAX * 9 / 8 + 512 + 3 * sizeof(uint64_t)) +
	    (size_t)CONFIG_DSCHED_JOBS *
	    (5 * CONFIG_SMTPD_RCPT_MAX + 1536 + 72 * 1024) +
	    DSN_ARENA + 4 * (size_t)CONFIG_QUEUE_BUFFER_KB * 1024 +
	    dnsc_arena_size() + tls_arena_size() + MAIN_ARENA_SLACK;
}

static void
main_report(const char *what, const struct queue_report *r)
{
	printf("%s: segments=%u records=%llu messages=%u dropped=%u "
	       "torn=%u torn-bytes=%llu bad-records=%u\n",
	    what, r->segments, (unsigned long long)r->records, r->messages,
	    r->dropped, r->torn, (unsigned long long)r->torn_bytes,
	    r->bad_records);
}

/* tern journal check [-v] DIR: what recovery would do; changes nothing */
static int
main_journal(int argc, char **argv)
{
	struct queue_report rep;
	bool verbose = argc == 4 && strcmp(argv[2], "-v") == 0;
	const char *dir = argv[argc - 1];
	int rc;

	if (argc < 3 || strcmp(argv[1], "check") != 0 ||
	    (argc == 4 && !verbose) || argc > 4) {
		main_usage();
	}
	log_open(false, LOG_L_WARN);
	if (arena_init(main_arena_size()) < 0) {
		fatal("cannot reserve memory");
	}
	rc = queue_check(dir, &rep, verbose);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-rc));
		return 1;
	}
	main_report(dir, &rep);
	if (rep.torn > 0) {
		printf("recovery would cut %llu bytes of torn tail\n",
		    (unsigned long long)rep.torn_bytes);
	}
	if (rep.dropped > 0) {
		printf("recovery would drop %u messages never acknowledged\n",
		    rep.dropped);
	}
	return rep.bad_records > 0 ? 1 : 0;
}

static void
main_log_stats(void)
{
	struct queue_stats st;

	queue_get_stats(&st);
	log_info("queue stats journal-bytes=%llu syncs=%llu commits=%llu "
	         "messages=%u",
	    (unsigned long long)st.bytes_written, (unsigned long long)st.syncs,
	    (unsigned long long)st.commits, st.messages);
}

static void
main_start(struct conf *conf)
{
	const struct dsched_agent *local, *relay;
	struct queue_report rep;
	int rc;

	(void)main_conf_extras(conf, main_start_error, NULL);
	rc = queue_init(conf, &rep);
	if (rc < 0) {
		fatal("spool %s: %s", conf->spool, strerror(-rc));
	}
	log_info("queue recovered segments=%u records=%llu messages=%u "
	         "dropped=%u torn-bytes=%llu bad-records=%u",
	    rep.segments, (unsigned long long)rep.records, rep.messages,
	    rep.dropped, (unsigned long long)rep.torn_bytes, rep.bad_records);
	rc = dnsc_init(conf->resolvers, conf->nresolvers);
	if (rc < 0) {
		log_warn("dns resolver not ready (%s): relaying by name waits",
		    strerror(-rc));
	}
	rc = deliver_init(conf, &local);
	if (rc < 0) {
		fatal("drop directory %s: %s", conf->drop, strerror(-rc));
	}
	smtpc_init(conf, &relay);
	dsched_init(conf, local, relay);
	dsn_init(conf);
	smtpd_init(conf);
	rc = admin_init(conf);
	if (rc < 0) {
		fatal("control socket in %s: %s", conf->spool, strerror(-rc));
	}
	admin_set_reload(main_reload);
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
		/* certificates: a warning each, the server starts without */
		rc = arena_init(main_arena_size()) < 0 ? 0 :
		                                         tls_conf_load(conf);
		printf("%s: configuration ok%s\n", conf->source,
		    rc > 0 ? " (with warnings)" : "");
		tls_conf_unload(conf);
		conf_free(conf);
		return 0;
	}
	if (daemon) {
		main_daemonize();
	}
	main_daemon = daemon;
	main_path = path;
	main_conf = conf;
	conf_set_release(main_conf_release);
	conf_pin(conf);
	log_open(daemon, conf->log_level);
	if (arena_init(main_arena_size()) < 0 ||
	    ev_init(CONFIG_POOL_SESSIONS + CONFIG_DSCHED_JOBS + DNSC_TIMERS +
	        64) < 0) {
		fatal("cannot reserve start-up memory: %s", strerror(errno));
	}
	main_fd_limit(conf);
	main_signals();
	tls_conf_load(conf); /* a certificate that fails: no STARTTLS */
	main_start(conf);
	arena_seal();
	log_info("tern %s started config=%s hostname=%s arena=%zu",
	    TERN_VERSION, conf->source, conf->hostname, arena_used());
	rc = ev_run();
	admin_fini();
	dnsc_fini();
	deliver_fini();
	queue_fini();
	main_log_stats();
	log_info("tern stopped");
	conf_drop(main_conf); /* freed unless an outbound job still holds it */
	return rc < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/');
	const char *prog = slash != NULL ? slash + 1 : argv[0];

	/* multi-call: the name it was called by decides */
	if (strcmp(prog, "ternctl") == 0 || strcmp(prog, "mailq") == 0) {
		return admin_client_main(prog, argc, argv);
	}
	if (argc >= 2 && strcmp(argv[1], "ctl") == 0) {
		return admin_client_main("ternctl", argc - 1, argv + 1);
	}
	if (argc >= 2 && strcmp(argv[1], "resolve") == 0) {
		return dnsc_cli_main(argc - 1, argv + 1);
	}
	if (argc >= 2 && strcmp(argv[1], "journal") == 0) {
		return main_journal(argc - 1, argv + 1);
	}
	return main_tern(argc, argv);
}
