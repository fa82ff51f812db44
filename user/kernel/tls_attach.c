// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "core/array.h"
#include "core/log.h"
#include "ident/proc.h"
#include "kernel/elf_sym.h"
#include "kernel/tls_attach.h"
#include "kernel/uprobe_multi.h"
#include "ssl_layout.h"

enum {
	SYM_WRITE,
	SYM_WRITE_EX,
	SYM_READ,
	SYM_READ_EX,
	SYM_HANDSHAKE,
	SYM_SHUTDOWN,
	SYM_FREE,
	SYM_MAX,
	/* BIO_f_ssl's methods, found through its table, not by name */
	SYM_BIO_WRITE = SYM_MAX,
	SYM_BIO_READ,
	SYM_ALL
};

static const char *const symbols[SYM_ALL] = {
    "SSL_write",   "SSL_write_ex",	     "SSL_read",
    "SSL_read_ex", "SSL_do_handshake",	     "SSL_shutdown",
    "SSL_free",	   "BIO_f_ssl write method", "BIO_f_ssl read method",
};

/* A program of ssl.bpf.c and the functions it hooks (one return program
 * serves both reads and BIO_f_ssl's read method). merged_into: the
 * program that takes prog's hooks in a build without prog (the default
 * build has one program for the three write functions); shape: the
 * cookie bits that tell it which function it is in (ssl_layout.h). */
struct probe {
	const char *prog;
	const char *merged_into;
	uint64_t shape;
	bool ret;
	int syms[3];
	int nsyms;
};

static const struct probe probes[] = {
    {"ssl_write_enter", NULL, SSL_HOOK_INT_LEN, false, {SYM_WRITE}, 1},
    {"ssl_write_ex_enter", "ssl_write_enter", 0, false, {SYM_WRITE_EX}, 1},
    {"ssl_read_enter", NULL, 0, false, {SYM_READ}, 1},
    {"ssl_read_ex_enter", NULL, 0, false, {SYM_READ_EX}, 1},
    {"ssl_read_exit", NULL, 0, true, {SYM_READ, SYM_READ_EX, SYM_BIO_READ}, 3},
    {"ssl_handshake_enter", NULL, 0, false, {SYM_HANDSHAKE}, 1},
    {"ssl_handshake_exit", NULL, 0, true, {SYM_HANDSHAKE}, 1},
    {"ssl_shutdown_enter", NULL, 0, false, {SYM_SHUTDOWN}, 1},
    {"ssl_free_enter", NULL, 0, false, {SYM_FREE}, 1},
    {"bio_ssl_write_enter", "ssl_write_enter", SSL_HOOK_BIO, false, {SYM_BIO_WRITE}, 1},
    {"bio_ssl_read_enter", NULL, 0, false, {SYM_BIO_READ}, 1},
};
_Static_assert(sizeof(probes) / sizeof(probes[0]) == TLS_PROBES, "TLS_PROBES");

static struct bpf_program *find_program(struct bpf_object *obj, const char *prefix,
					const char *prog, const char *suffix)
{
	char name[64];

	snprintf(name, sizeof(name), "%s%s%s", prefix, prog, suffix);
	return bpf_object__find_program_by_name(obj, name);
}

int tls_attach_init(struct tls_attach *t, struct bpf_object *obj, const char *prefix, bool multi)
{
	memset(t, 0, sizeof(*t));
	t->multi = multi;
	t->cookies = true;
	for (size_t i = 0; i < TLS_PROBES; i++) {
		const struct probe *p = &probes[i];

		t->progs[i] = find_program(obj, prefix, p->prog, "");
		if (!t->progs[i] && p->merged_into)
			t->progs[i] = find_program(obj, prefix, p->merged_into, "");
		if (!t->progs[i]) {
			log_error("no BPF program %s%s", prefix, p->prog);
			return -1;
		}
		t->progs_l30[i] = find_program(obj, prefix, p->prog, "_l30");
		/* a kernel without cookies refuses a uprobe with one */
		t->cookies = t->cookies && !t->progs_l30[i];
	}
	return 0;
}

static struct tls_file *known_file(struct tls_attach *t, const struct stat *st)
{
	for (size_t i = 0; i < t->nfiles; i++)
		if (t->files[i].dev == st->st_dev && t->files[i].ino == st->st_ino)
			return &t->files[i];
	return NULL;
}

static int remember(struct tls_attach *t, const struct stat *st, bool openssl)
{
	if (array_reserve((void **)&t->files, &t->files_cap, t->nfiles + 1, sizeof(*t->files)))
		return -1;
	t->files[t->nfiles++] = (struct tls_file){st->st_dev, st->st_ino, openssl};
	return 0;
}

static int keep_link(struct tls_attach *t, struct bpf_link *link, int fd)
{
	if (array_reserve((void **)&t->links, &t->links_cap, t->nlinks + 1, sizeof(*t->links))) {
		tls_link_release(&(struct tls_link){link, fd});
		return -1;
	}
	t->links[t->nlinks++] = (struct tls_link){link, fd};
	return 0;
}

static int attach_multi(struct tls_attach *t, struct bpf_program *prog, const struct probe *p,
			const char *path, const size_t *off, uint64_t cookie)
{
	size_t offsets[3];
	int fd;

	for (int i = 0; i < p->nsyms; i++)
		offsets[i] = off[p->syms[i]];
	fd = uprobe_multi_attach(bpf_program__fd(prog), path, offsets, p->nsyms, p->ret, cookie);
	return fd < 0 ? -1 : keep_link(t, NULL, fd);
}

static int attach_single(struct tls_attach *t, struct bpf_program *prog, const struct probe *p,
			 const char *path, const size_t *off, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = p->ret, .bpf_cookie = cookie);
	struct bpf_link *link;

	for (int i = 0; i < p->nsyms; i++) {
		link = bpf_program__attach_uprobe_opts(prog, -1, path, off[p->syms[i]], &opts);
		if (!link || keep_link(t, link, -1))
			return -1;
	}
	return 0;
}

/* Which struct layout the probes may assume (the cookie they get): 3.0
 * and 3.1 have SSL_CTX_new_ex; 3.2 reorganised the SSL object (and
 * brought QUIC). Others get none: their records are not matched by
 * content. */
static uint64_t openssl_layout(const char *path)
{
	static const char *const marks[] = {"SSL_CTX_new_ex", "OSSL_QUIC_client_method"};
	size_t off[2];

	if (elf_func_offsets(path, marks, 2, off) < 0)
		return SSL_LAYOUT_UNKNOWN;
	return off[0] && !off[1] ? SSL_LAYOUT_30 : SSL_LAYOUT_UNKNOWN;
}

/* OpenSSL 3.0 and 3.1: BIO_f_ssl's table is a bio_method_st (int type,
 * name, bwrite, bwrite_old, bread, ...) of type BIO_TYPE_SSL. */
#define BIO_TYPE_SSL	 0x0207
#define BIO_METHOD_WRITE 16
#define BIO_METHOD_READ	 32

static void bio_ssl_methods(const char *path, size_t *off)
{
	static const size_t slots[2] = {BIO_METHOD_WRITE, BIO_METHOD_READ};
	size_t found[2];

	if (elf_method_funcs(path, "BIO_f_ssl", BIO_TYPE_SSL, slots, 2, found) != 2)
		return;
	off[SYM_BIO_WRITE] = found[0];
	off[SYM_BIO_READ] = found[1];
}

static int attach_all(struct tls_attach *t, const char *path, size_t *off)
{
	uint64_t layout = openssl_layout(path);
	int err = 0;

	if (layout == SSL_LAYOUT_30)
		bio_ssl_methods(path, off);

	for (size_t i = 0; i < TLS_PROBES; i++) {
		struct bpf_program *prog =
		    layout == SSL_LAYOUT_30 && t->progs_l30[i] ? t->progs_l30[i] : t->progs[i];
		struct probe p = probes[i];
		uint64_t cookie;
		int n = 0;

		/* symbols this copy lacks (SSL_read_ex before 1.1.1) */
		for (int j = 0; j < p.nsyms; j++)
			if (off[p.syms[j]])
				p.syms[n++] = p.syms[j];
		p.nsyms = n;
		if (!n)
			continue;
		cookie = t->cookies ? layout | p.shape : 0;
		if (t->multi ? attach_multi(t, prog, &p, path, off, cookie)
			     : attach_single(t, prog, &p, path, off, cookie)) {
			log_warn("cannot attach %s to %s in %s: %s", bpf_program__name(prog),
				 symbols[p.syms[0]], path, strerror(errno));
			err = -1;
		}
	}
	return err;
}

/* /proc/PID/exe and /proc/PID/root/... name the file through one
 * process; the log says which file it is. */
static const char *display_path(const char *path)
{
	static char target[PATH_MAX];
	ssize_t n;

	if (strncmp(path, "/proc/", 6))
		return path;
	if (strstr(path, "/root/"))
		return strstr(path, "/root/") + 5;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return path;
	target[n] = '\0';
	return target;
}

int tls_attach_file(struct tls_attach *t, const char *path)
{
	size_t off[SYM_ALL] = {0};
	struct stat st;
	bool openssl;

	if (stat(path, &st) || !S_ISREG(st.st_mode) || known_file(t, &st))
		return 0;
	/* without SSL_read and SSL_write there is nothing to follow */
	openssl =
	    elf_func_offsets(path, symbols, SYM_MAX, off) > 0 && off[SYM_WRITE] && off[SYM_READ];
	if (remember(t, &st, openssl)) {
		/* the next scan tries again: said once */
		if (!t->told_nomem)
			log_warn("TLS: out of memory, %s not hooked (not repeated)",
				 display_path(path));
		t->told_nomem = true;
		return -1;
	}
	if (!openssl)
		return 0;
	if (attach_all(t, path, off))
		return -1;
	t->nlibs++;
	log_info("TLS: OpenSSL hooked in %s", display_path(path));
	return 1;
}

static bool is_libssl(const char *path)
{
	const char *base = strrchr(path, '/');

	return base && !strncmp(base + 1, "libssl.so", 9);
}

/* The libssl files a process maps, seen through its root (containers). */
static void scan_maps(struct tls_attach *t, pid_t pid)
{
	char path[512], line[1024], *file;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		file = strchr(line, '/');
		if (!file || !is_libssl(file))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, file);
		tls_attach_file(t, path);
	}
	fclose(f);
}

/* Where OpenSSL usually lives: hooked at start even if no process uses it
 * yet, so that the first process to load it is seen from its first call.
 * Binaries (Node) are hooked when they exec or by the scan: on kernels
 * without uprobe_multi every hooked file adds ~1 s to detaching. */
static const char *const well_known[] = {
    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    "/usr/lib/aarch64-linux-gnu/libssl.so.3",
    "/usr/lib64/libssl.so.3",
    "/usr/lib/libssl.so.3",
};

void tls_attach_well_known(struct tls_attach *t)
{
	for (size_t i = 0; i < sizeof(well_known) / sizeof(well_known[0]); i++)
		tls_attach_file(t, well_known[i]);
}

void tls_attach_exec(struct tls_attach *t, pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	tls_attach_file(t, path);
}

static void scan_process(void *ctx, pid_t pid)
{
	tls_attach_exec(ctx, pid);
	scan_maps(ctx, pid);
}

void tls_attach_scan(struct tls_attach *t)
{
	proc_for_each_tgid(scan_process, t);
}

void tls_link_release(struct tls_link *l)
{
	if (l->link)
		bpf_link__destroy(l->link);
	else if (l->fd >= 0)
		close(l->fd);
	l->link = NULL;
	l->fd = -1;
}

static void *release_link(void *link)
{
	tls_link_release(link);
	return NULL;
}

/* Every detach waits for a grace period (~70 ms on a nested VM); in
 * parallel they share them, and SIGTERM stays well within its 2 s. */
#define DETACH_THREADS_MAX 256

void tls_links_release(struct tls_link *links, size_t n)
{
	pthread_t tids[DETACH_THREADS_MAX];
	bool started[DETACH_THREADS_MAX] = {false};

	for (size_t i = 0; i < n && i < DETACH_THREADS_MAX; i++)
		started[i] = !pthread_create(&tids[i], NULL, release_link, &links[i]);
	for (size_t i = 0; i < n; i++) {
		if (i < DETACH_THREADS_MAX && started[i])
			pthread_join(tids[i], NULL);
		else
			tls_link_release(&links[i]);
	}
}

struct tls_link *tls_attach_take_links(struct tls_attach *t, size_t *n)
{
	struct tls_link *links = t->links;

	*n = t->nlinks;
	t->links = NULL;
	t->nlinks = t->links_cap = 0;
	return links;
}

void tls_attach_free(struct tls_attach *t)
{
	for (size_t i = 0; i < t->nlinks; i++)
		tls_link_release(&t->links[i]);
	free(t->links);
	free(t->files);
	memset(t, 0, sizeof(*t));
}
