// SPDX-License-Identifier: MIT
/*
 * Benchmark helper: loads a BPF object file (default build/floor.bpf.o,
 * the empty programs on the exporter's hooks), attaches every program,
 * prints "ready" and waits for SIGTERM or SIGINT. Detaches in parallel
 * threads: each tracepoint detach waits for an RCU grace period.
 *
 *   floor_loader [OBJ]
 *
 * The object may have maps (tests/bench/experiments/ uses this to load
 * variants of the exporter's programs); they are created empty.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#define MAX_LINKS 128

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void *destroy_link(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "build/floor.bpf.o";
	struct bpf_link *links[MAX_LINKS];
	pthread_t tids[MAX_LINKS];
	int started[MAX_LINKS];
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct sigaction sa;
	sigset_t mask, old;
	size_t n = 0;
	int rc = 0;

	libbpf_set_print(print_warnings);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		fprintf(stderr, "floor_loader: cannot open %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "floor_loader: cannot load %s: %s\n", path, strerror(errno));
		bpf_object__close(obj);
		return 1;
	}
	bpf_object__for_each_program(prog, obj)
	{
		struct bpf_link *link;

		if (n == MAX_LINKS) {
			fprintf(stderr, "floor_loader: more than %d programs\n", MAX_LINKS);
			rc = 1;
			break;
		}
		link = bpf_program__attach(prog);
		if (!link) {
			fprintf(stderr, "floor_loader: cannot attach %s (%s): %s\n",
				bpf_program__name(prog), bpf_program__section_name(prog),
				strerror(errno));
			rc = 1;
			break;
		}
		links[n++] = link;
	}

	if (rc == 0) {
		printf("ready %zu\n", n);
		fflush(stdout);
		/* Block the signals, then wait for one atomically: no lost wakeup. */
		sigemptyset(&mask);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigprocmask(SIG_BLOCK, &mask, &old);
		while (!stop)
			sigsuspend(&old);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}

	for (size_t i = 0; i < n; i++)
		started[i] = !pthread_create(&tids[i], NULL, destroy_link, links[i]);
	for (size_t i = 0; i < n; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			bpf_link__destroy(links[i]);
	}
	bpf_object__close(obj);
	return rc;
}
