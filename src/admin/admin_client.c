/*
 * admin_client.c — ternctl and mailq: send one command to the control
 * socket of a running tern and print the answer. The socket is found from
 * the configuration (-c FILE, or the embedded default) or given (-s PATH).
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin/admin.h"

static void
admin_client_usage(const char *prog)
{
	fprintf(stderr,
	    "usage: %s [-c FILE | -s SOCKET] queue list | queue show ID |\n"
	    "       %*s                      queue flush | stats | reload |\n"
	    "       %*s                      user add|del|list ...\n"
	    "       mailq [-c FILE | -s SOCKET]\n",
	    prog, (int)strlen(prog), "", (int)strlen(prog), "");
}

static int
admin_client_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: path too long\n", path);
		return -1;
	}
	str_copy(sun.sun_path, path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "%s: cannot connect (is tern running?): %s\n",
		    path, strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	return fd;
}

/* Send the command, copy the answer to stdout; 1 if it was an error. */
static int
admin_client_run(const char *path, const char *cmd)
{
	char buf[4096];
	bool first = true, error = false;
	ssize_t r;
	int fd = admin_client_connect(path);

	if (fd < 0) {
		return 2;
	}
	if (write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\n", 1) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		close(fd);
		return 2;
	}
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		if (first) {
			error = r >= 6 && memcmp(buf, "error:", 6) == 0;
			first = false;
		}
		fwrite(buf, 1, (size_t)r, error ? stderr : stdout);
	}
	close(fd);
	return error ? 1 : 0;
}

int
admin_client_main(const char *prog, int argc, char **argv)
{
	const char *conf_path = NULL, *sock = NULL;
	char path[108], cmd[256];
	struct conf *c;
	int opt, k;

	while ((opt = getopt(argc, argv, "+c:s:h")) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		default:
			admin_client_usage(prog);
			return 2;
		}
	}
	if (strcmp(prog, "mailq") != 0 && optind < argc &&
	    strcmp(argv[optind], "user") == 0) {
		return admin_user_main(conf_path, argc - optind, argv + optind);
	}
	if (strcmp(prog, "mailq") == 0) {
		str_copy(cmd, "queue list", sizeof(cmd));
	} else {
		cmd[0] = '\0';
		for (k = optind; k < argc; k++) {
			if (strlen(cmd) + strlen(argv[k]) + 2 > sizeof(cmd)) {
				break;
			}
			strcat(cmd, k > optind ? " " : "");
			strcat(cmd, argv[k]);
		}
		if (cmd[0] == '\0') {
			admin_client_usage(prog);
			return 2;
		}
	}
	if (sock == NULL) {
		if (conf_load(conf_path, &c) != 0) {
			return 2;
		}
		admin_control_path(c, path, sizeof(path));
		conf_free(c);
		sock = path;
	}
	return admin_client_run(sock, cmd);
}
