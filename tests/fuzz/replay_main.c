/*
 * replay_main.c — runs a fuzz harness over saved inputs, so that every
 * corpus file and every crash once found is a regression test. Arguments
 * are files or directories (their regular files, sorted; dot files
 * skipped). Each input runs in a child process: a crash or a broken
 * property fails that input alone. The last line of output is
 * "replay NAME: N passed, N failed". REPLAY_NOFORK=1 runs in-process
 * (for a debugger).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

static unsigned replay_passed;
static unsigned replay_failed;

static uint8_t *
replay_read(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t off = 0;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0) {
			close(fd);
		}
		return NULL;
	}
	p = malloc((size_t)st.st_size + 1);
	while (p != NULL && off < (size_t)st.st_size) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);

		if (n <= 0) {
			free(p);
			p = NULL;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	*len = off;
	return p;
}

/* Exactly len bytes, so that ASan sees any read past the input. */
static int
replay_one_input(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len == 0 ? 1 : len);

	if (copy == NULL) {
		return 1;
	}
	memcpy(copy, data, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	return 0;
}

static void
replay_file(const char *path)
{
	const char *nofork = getenv("REPLAY_NOFORK");
	uint8_t *data;
	size_t len = 0;
	int status;
	pid_t pid;

	data = replay_read(path, &len);
	if (data == NULL) {
		fprintf(stderr, "FAIL %s: cannot read (%s)\n", path,
		    strerror(errno));
		replay_failed++;
		return;
	}
	if (nofork != NULL && strcmp(nofork, "1") == 0) {
		replay_one_input(data, len);
		replay_passed++;
		free(data);
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		_exit(replay_one_input(data, len));
	}
	free(data);
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		fprintf(stderr, "FAIL %s: cannot run (%s)\n", path,
		    strerror(errno));
		replay_failed++;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		replay_passed++;
	} else {
		if (WIFSIGNALED(status)) {
			fprintf(stderr, "FAIL %s: signal %d\n", path,
			    WTERMSIG(status));
		} else {
			fprintf(stderr, "FAIL %s: exit %d\n", path,
			    WEXITSTATUS(status));
		}
		replay_failed++;
	}
}

static int
replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
replay_dir(const char *dir)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	size_t cap = 0;
	size_t i;
	DIR *d = opendir(dir);

	if (d == NULL) {
		fprintf(stderr, "FAIL %s: %s\n", dir, strerror(errno));
		replay_failed++;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.') {
			continue;
		}
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL) {
				abort();
			}
		}
		names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
		if (names[n] == NULL) {
			abort();
		}
		sprintf(names[n], "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	if (n > 0) {
		qsort(names, n, sizeof(*names), replay_cmp);
	}
	for (i = 0; i < n; i++) {
		struct stat st;

		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			replay_file(names[i]);
		}
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	int i;

	name = name == NULL ? argv[0] : name + 1;
	if (strncmp(name, "replay_", 7) == 0) {
		name += 7;
	}
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			replay_dir(argv[i]);
		} else {
			replay_file(argv[i]);
		}
	}
	printf("replay %s: %u passed, %u failed\n", name, replay_passed,
	    replay_failed);
	return replay_failed == 0 ? 0 : 1;
}
