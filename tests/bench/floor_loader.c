// SPDX-License-Identifier: MIT
/*
 * Benchmark helper: loads a BPF object file (default build/floor.bpf.o,
 * the empty programs on the exporter's hooks), attaches every program,
 * prints "ready N" (N links) and waits for SIGTERM or SIGINT. Detaches in
 * parallel threads: each tracepoint detach waits for an RCU grace period.
 *
 *   floor_loader [OBJ]
 *
 * Uprobe programs have no target in their section: user/kernel/tls_attach.c
 * attaches them to the OpenSSL functions of $FLOOR_LIBSSL (default
 * /usr/lib/x86_64-linux-gnu/libssl.so.3) from its probe table, by name
 * ("floor_" + the exporter's program name), exactly as it attaches the
 * exporter's.
 *
 * The object may have maps; they are created empty.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "core/log.h"
#include "kernel/shared_exits.h"
#include "kernel/tls_attach.h"
#include "kernel/uprobe_multi.h"

#define MAX_LINKS   128
#define DEFAULT_SSL "/usr/lib/x86_64-linux-gnu/libssl.so.3"

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

static bool is_uprobe(const struct bpf_program *prog)
{
	const char *sec = bpf_program__section_name(prog);

	return !strncmp(sec, "uprobe", 6) || !strncmp(sec, "uretprobe", 9);
}

/* Loads obj with the uprobe programs made for uprobe_multi links where
 * the kernel has them, as user/kernel/loader.c does. */
static int load(struct bpf_object *obj, bool multi)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj)
	{
		if (multi && is_uprobe(prog))
			bpf_program__set_expected_attach_type(prog, UPROBE_MULTI_ATTACH_TYPE);
	}
	return bpf_object__load(obj);
}

/* Whether tls_attach.c attaches prog (some programs serve several of its
 * hooks). */
static bool tls_attaches(const struct tls_attach *t, const struct bpf_program *prog)
{
	for (size_t i = 0; i < TLS_PROBES; i++)
		if (t->progs[i] == prog)
			return true;
	return false;
}

/* The OpenSSL probes, by tls_attach.c; every uprobe program must be one. */
static int attach_ssl(struct bpf_object *obj, const char *lib, bool multi, struct tls_link *links,
		      size_t *n)
{
	struct bpf_program *prog;
	struct tls_attach t;
	struct tls_link *made;
	size_t nmade;
	int rc;

	if (tls_attach_init(&t, obj, "floor_", multi))
		return -1;
	bpf_object__for_each_program(prog, obj)
	{
		if (is_uprobe(prog) && !tls_attaches(&t, prog)) {
			fprintf(stderr, "floor_loader: %s is no program of tls_attach.c's\n",
				bpf_program__name(prog));
			tls_attach_free(&t);
			return -1;
		}
	}
	rc = tls_attach_file(&t, lib);
	made = tls_attach_take_links(&t, &nmade);
	tls_attach_free(&t);
	if (nmade > MAX_LINKS - *n) {
		tls_links_release(made, nmade);
		nmade = 0;
		rc = -1;
	}
	memcpy(links + *n, made, nmade * sizeof(*made));
	*n += nmade;
	free(made);
	if (rc != 1) {
		fprintf(stderr, "floor_loader: cannot attach to the OpenSSL of %s\n", lib);
		return -1;
	}
	return 0;
}

/* The other programs attach by their section (tracepoints). */
static int attach_others(struct bpf_object *obj, struct tls_link *links, size_t *n)
{
	struct bpf_program *prog;
	struct bpf_link *link;

	bpf_object__for_each_program(prog, obj)
	{
		if (is_uprobe(prog))
			continue;
		if (*n == MAX_LINKS) {
			fprintf(stderr, "floor_loader: more than %d links\n", MAX_LINKS);
			return -1;
		}
		link = bpf_program__attach(prog);
		if (!link) {
			fprintf(stderr, "floor_loader: cannot attach %s (%s): %s\n",
				bpf_program__name(prog), bpf_program__section_name(prog),
				strerror(errno));
			return -1;
		}
		links[(*n)++] = (struct tls_link){link, -1};
	}
	return 0;
}

/* floor_exit_write on the other exits that the exporter's exit_write
 * serves, as its loader attaches it. */
static int attach_shared(struct bpf_object *obj, struct tls_link *links, size_t *n)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "floor_exit_write");
	struct bpf_link *link;

	for (size_t i = 0; i < SHARED_EXITS; i++) {
		if (*n == MAX_LINKS) {
			fprintf(stderr, "floor_loader: more than %d links\n", MAX_LINKS);
			return -1;
		}
		link = prog ? bpf_program__attach_tracepoint(prog, "syscalls",
							     shared_exits[i].tracepoint)
			    : NULL;
		if (!link) {
			fprintf(stderr, "floor_loader: cannot attach floor_exit_write to %s\n",
				shared_exits[i].tracepoint);
			return -1;
		}
		links[(*n)++] = (struct tls_link){link, -1};
	}
	return 0;
}

/* Blocks the signals, then waits for one atomically: no lost wakeup. */
static void wait_for_stop(void)
{
	sigset_t mask, old;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	while (!stop)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "build/floor.bpf.o";
	const char *lib = getenv("FLOOR_LIBSSL") ? getenv("FLOOR_LIBSSL") : DEFAULT_SSL;
	struct tls_link links[MAX_LINKS];
	struct bpf_object *obj;
	struct sigaction sa;
	struct btf *vmlinux;
	bool multi;
	size_t n = 0;
	int rc;

	libbpf_set_print(print_warnings);
	log_threshold = LOG_WARN; /* tls_attach.c's */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		fprintf(stderr, "floor_loader: cannot open %s: %s\n", path, strerror(errno));
		return 1;
	}
	vmlinux = btf__load_vmlinux_btf();
	multi = uprobe_multi_supported(vmlinux);
	btf__free(vmlinux);
	if (load(obj, multi)) {
		fprintf(stderr, "floor_loader: cannot load %s: %s\n", path, strerror(errno));
		bpf_object__close(obj);
		return 1;
	}
	rc = attach_ssl(obj, lib, multi, links, &n) || attach_others(obj, links, &n) ||
	     attach_shared(obj, links, &n);
	if (!rc) {
		printf("ready %zu\n", n);
		fflush(stdout);
		wait_for_stop();
	}
	tls_links_release(links, n);
	bpf_object__close(obj);
	return rc;
}
