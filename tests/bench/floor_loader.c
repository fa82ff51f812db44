// SPDX-License-Identifier: MIT
/*
 * Benchmark helper: loads a BPF object file (default build/floor.bpf.o,
 * the empty programs on the exporter's hooks), attaches every program,
 * prints "ready N" (N links) and waits for SIGTERM or SIGINT. Detaches in
 * parallel threads: each tracepoint detach waits for an RCU grace period.
 *
 *   floor_loader [OBJ]
 *
 * Uprobe programs have no target in their section: those named in
 * ssl_probes[] below are attached to the OpenSSL functions of
 * $FLOOR_LIBSSL (default /usr/lib/x86_64-linux-gnu/libssl.so.3) the way
 * user/kernel/tls_attach.c attaches the exporter's (uprobe_multi links where the
 * kernel has them, one probe per function), offsets resolved by the
 * exporter's own user/kernel/elf_sym.c (libbpf 1.1 does not match versioned
 * names such as SSL_write@@OPENSSL_3.0.0).
 *
 * The object may have maps (tests/bench/experiments/ uses this to load
 * variants of the exporter's programs); they are created empty.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "kernel/elf_sym.h"
#include "kernel/uprobe_multi.h"

#define MAX_LINKS   128
#define DEFAULT_SSL "/usr/lib/x86_64-linux-gnu/libssl.so.3"

/* As user/kernel/tls_attach.c: program, function, at its return. */
static const struct {
	const char *prog, *sym;
	bool ret;
} ssl_probes[] = {
    {"floor_ssl_write_enter", "SSL_write", false},
    {"floor_ssl_write_ex_enter", "SSL_write_ex", false},
    {"floor_ssl_read_enter", "SSL_read", false},
    {"floor_ssl_read_exit", "SSL_read", true},
    {"floor_ssl_read_ex_enter", "SSL_read_ex", false},
    {"floor_ssl_read_exit", "SSL_read_ex", true},
    {"floor_ssl_handshake_enter", "SSL_do_handshake", false},
    {"floor_ssl_handshake_exit", "SSL_do_handshake", true},
    {"floor_ssl_shutdown_enter", "SSL_shutdown", false},
    {"floor_ssl_free_enter", "SSL_free", false},
    /* BIO_f_ssl's methods, found through its table (last: see bio_ssl_methods) */
    {"floor_bio_ssl_write_enter", "BIO_f_ssl write method", false},
    {"floor_bio_ssl_read_enter", "BIO_f_ssl read method", false},
    {"floor_ssl_read_exit", "BIO_f_ssl read method", true},
};
#define N_SSL_PROBES (sizeof(ssl_probes) / sizeof(ssl_probes[0]))
#define N_BIO_PROBES 3

/* As user/kernel/tls_attach.c: bwrite and bread of BIO_f_ssl's bio_method_st. */
static void bio_ssl_methods(const char *lib, size_t *off)
{
	static const size_t slots[2] = {16, 32};
	size_t found[2] = {0, 0};
	size_t *bio = off + N_SSL_PROBES - N_BIO_PROBES;

	elf_method_funcs(lib, "BIO_f_ssl", 0x0207 /* BIO_TYPE_SSL */, slots, 2, found);
	bio[0] = found[0];
	bio[1] = bio[2] = found[1];
}

/* a libbpf link, or the fd of a uprobe_multi link */
struct floor_link {
	struct bpf_link *link;
	int fd;
};

static volatile sig_atomic_t stop;
static bool multi;

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

/* Attaches prog wherever ssl_probes[] names it; returns the links made,
 * or -1 (with links[] holding those made so far, counted in *n). */
static int attach_ssl(struct bpf_program *prog, const char *lib, const size_t *off,
		      struct floor_link *links, size_t *n)
{
	const char *name = bpf_program__name(prog);
	int made = 0;

	for (size_t i = 0; i < N_SSL_PROBES; i++) {
		struct bpf_link *link = NULL;
		int fd = -1;

		if (strcmp(ssl_probes[i].prog, name))
			continue;
		if (!off[i]) {
			fprintf(stderr, "floor_loader: %s not found in %s\n", ssl_probes[i].sym,
				lib);
			return -1;
		}
		if (*n == MAX_LINKS) {
			fprintf(stderr, "floor_loader: more than %d links\n", MAX_LINKS);
			return -1;
		}
		if (multi)
			fd = uprobe_multi_attach(bpf_program__fd(prog), lib, &off[i], 1,
						 ssl_probes[i].ret, 0);
		else
			link = bpf_program__attach_uprobe(prog, ssl_probes[i].ret, -1, lib, off[i]);
		if (!link && fd < 0) {
			fprintf(stderr, "floor_loader: cannot attach %s to %s in %s: %s\n", name,
				ssl_probes[i].sym, lib, strerror(errno));
			return -1;
		}
		links[(*n)++] = (struct floor_link){link, fd};
		made++;
	}
	if (!made) {
		fprintf(stderr, "floor_loader: no target for the uprobe program %s\n", name);
		return -1;
	}
	return made;
}

static void release(struct floor_link *l)
{
	if (l->link)
		bpf_link__destroy(l->link);
	else
		close(l->fd);
}

static void *release_thread(void *link)
{
	release(link);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "build/floor.bpf.o";
	const char *lib = getenv("FLOOR_LIBSSL") ? getenv("FLOOR_LIBSSL") : DEFAULT_SSL;
	const char *syms[N_SSL_PROBES];
	size_t off[N_SSL_PROBES];
	struct floor_link links[MAX_LINKS];
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
	multi = uprobe_multi_supported();
	bpf_object__for_each_program(prog, obj)
	{
		if (multi && is_uprobe(prog))
			bpf_program__set_expected_attach_type(prog, UPROBE_MULTI_ATTACH_TYPE);
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "floor_loader: cannot load %s: %s\n", path, strerror(errno));
		bpf_object__close(obj);
		return 1;
	}
	for (size_t i = 0; i < N_SSL_PROBES; i++)
		syms[i] = ssl_probes[i].sym;
	if (elf_func_offsets(lib, syms, N_SSL_PROBES - N_BIO_PROBES, off) < 0)
		memset(off, 0, sizeof(off)); /* reported if a program needs them */
	bio_ssl_methods(lib, off);
	bpf_object__for_each_program(prog, obj)
	{
		struct bpf_link *link;

		if (is_uprobe(prog)) {
			if (attach_ssl(prog, lib, off, links, &n) < 0) {
				rc = 1;
				break;
			}
			continue;
		}
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
		links[n++] = (struct floor_link){link, -1};
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
		started[i] = !pthread_create(&tids[i], NULL, release_thread, &links[i]);
	for (size_t i = 0; i < n; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			release(&links[i]);
	}
	bpf_object__close(obj);
	return rc;
}
