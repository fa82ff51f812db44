// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conn_track.skel.h"
#include "core/log.h"
#include "kernel/caps.h"
#include "kernel/loader.h"
#include "kernel/uprobe_multi.h"
#include "sock_io.skel.h"
#include "ssl.skel.h"

/* One log line per line of libbpf's message: a verifier log is one
 * message of many lines. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text, *line, *next;

	if (log_threshold > LOG_DEBUG || vasprintf(&text, fmt, ap) < 0)
		return 0;
	(void)level;
	for (line = text; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (*line)
			log_debug("%s", line); /* libbpf names itself */
	}
	free(text);
	return 0;
}

/* NULL when neither is there, errno EACCES when one is but we may not
 * read it (not root, without CAP_DAC_READ_SEARCH). */
static const char *tracefs_root(void)
{
	bool denied;

	if (faccessat(AT_FDCWD, "/sys/kernel/tracing/events", F_OK, AT_EACCESS) == 0)
		return "/sys/kernel/tracing";
	denied = errno == EACCES;
	if (faccessat(AT_FDCWD, "/sys/kernel/debug/tracing/events", F_OK, AT_EACCESS) == 0)
		return "/sys/kernel/debug/tracing";
	errno = denied || errno == EACCES ? EACCES : ENOENT;
	return NULL;
}

/* The checks whose failure libbpf would only report as a stack of
 * low-level errors. */
static int preflight(struct bpf_object *obj, char *err, size_t size)
{
	struct bpf_program *prog;
	const char *root;
	char path[256];

	if (!caps_can_load()) {
		snprintf(err, size,
			 "needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (and CAP_SYS_PTRACE, "
			 "CAP_DAC_READ_SEARCH to read /proc): run as root, with sudo");
		return -1;
	}
	if (faccessat(AT_FDCWD, "/sys/kernel/btf/vmlinux", R_OK, AT_EACCESS)) {
		snprintf(err, size,
			 "kernel has no BTF (/sys/kernel/btf/vmlinux): needs a kernel "
			 "built with CONFIG_DEBUG_INFO_BTF=y");
		return -1;
	}
	root = tracefs_root();
	if (!root && errno == EACCES) {
		snprintf(err, size,
			 "tracefs is not readable: needs CAP_DAC_READ_SEARCH, or root (sudo)");
		return -1;
	}
	if (!root) {
		snprintf(err, size,
			 "tracefs is not mounted: mount -t tracefs nodev "
			 "/sys/kernel/tracing");
		return -1;
	}
	bpf_object__for_each_program(prog, obj)
	{
		const char *sec = bpf_program__section_name(prog);

		if (strncmp(sec, "tracepoint/", 11))
			continue;
		snprintf(path, sizeof(path), "%s/events/%s", root, sec + 11);
		if (faccessat(AT_FDCWD, path, F_OK, AT_EACCESS)) {
			snprintf(err, size,
				 "kernel lacks the tracepoint %s (needs syscall "
				 "tracepoints, CONFIG_FTRACE_SYSCALLS=y)",
				 sec + 11);
			return -1;
		}
	}
	return 0;
}

/* The kernel id of the link behind fd; 0 if fd is not a BPF link. */
static uint32_t link_id(int fd)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

bool loader_link_alive(const struct loader *l, size_t i)
{
	if (i >= l->nlinks)
		return false;
	/* no id at start (legacy perf-event attach): nothing to compare */
	return !l->link_ids[i] || link_id(bpf_link__fd(l->links[i])) == l->link_ids[i];
}

size_t loader_links_alive(const struct loader *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->nlinks; i++)
		n += loader_link_alive(l, i);
	return n;
}

static int attach_all(struct loader *l, struct bpf_object *obj, char *err, size_t size)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj)
	{
		struct bpf_link *link;

		if (l->nlinks == LOADER_PROGS_MAX)
			return -1;
		l->nrequired++;
		link = bpf_program__attach(prog);
		if (!link) {
			snprintf(err, size, "cannot attach %s (%s): %s", bpf_program__name(prog),
				 bpf_program__section_name(prog), strerror(errno));
			return -1;
		}
		l->names[l->nlinks] = bpf_program__name(prog);
		l->link_ids[l->nlinks] = link_id(bpf_link__fd(link));
		l->links[l->nlinks++] = link;
	}
	return 0;
}

/* Maps of the same name are one map: later objects reuse those of the
 * objects loaded before them. */
static int share_maps(struct bpf_object *to, struct bpf_object *const *from, size_t nfrom)
{
	struct bpf_map *map, *src;

	bpf_object__for_each_map(map, to)
	{
		if (bpf_map__is_internal(map))
			continue;
		for (size_t i = 0; i < nfrom; i++) {
			src = bpf_object__find_map_by_name(from[i], bpf_map__name(map));
			if (!src)
				continue;
			if (bpf_map__reuse_fd(map, bpf_map__fd(src)))
				return -1;
			break;
		}
	}
	return 0;
}

static void load_error(char *err, size_t size, const char *what)
{
	snprintf(err, size,
		 "cannot load %s: %s (kernel 5.17+ with BTF and ring buffers needed; "
		 "--log.level=debug shows the verifier log)",
		 what, strerror(errno));
}

/* The OpenSSL programs. A kernel that refuses them costs TLS only: the
 * plaintext capture goes on, and the reason is told once (tls_failed). */
static int load_tls(struct loader *l, char *err, size_t size)
{
	struct bpf_program *prog;
	bool multi = uprobe_multi_supported();

	l->ssl = ssl_bpf__open();
	if (!l->ssl) {
		snprintf(err, size, "cannot open the BPF objects: %s", strerror(errno));
		return -1;
	}
	l->ssl->rodata->ring_wakeup_bytes = l->track->rodata->ring_wakeup_bytes;
	if (multi)
		bpf_object__for_each_program(prog, l->ssl->obj)
		    bpf_program__set_expected_attach_type(prog, UPROBE_MULTI_ATTACH_TYPE);
	if (share_maps(l->ssl->obj, (struct bpf_object *[]){l->track->obj, l->io->obj}, 2) ||
	    ssl_bpf__load(l->ssl)) {
		load_error(err, size, "ssl");
		log_error("%s; TLS is not observed, plaintext is", err);
		ssl_bpf__destroy(l->ssl);
		l->ssl = NULL;
		l->tls_failed = true;
		return -1;
	}
	if (tls_attach_init(&l->tls, l->ssl->obj, "", multi)) {
		snprintf(err, size, "ssl: a uprobe program is missing");
		return -1;
	}
	return 0;
}

/* The maps sized by connections and the ring buffer, before the first
 * object is loaded: the others reuse its maps. Records wake user space
 * once a sixteenth of the ring is waiting. */
static int size_maps(struct loader *l, const struct loader_options *o)
{
	struct conn_track_bpf *t = l->track;
	struct bpf_map *by_conns[] = {t->maps.conns, t->maps.sock_owner, t->maps.tracked_procs,
				      t->maps.gated_ids, t->maps.detached};
	uint64_t wakeup = o->ring_bytes / (EVENTS_RING_BYTES / EVENTS_WAKEUP_BYTES);

	for (size_t i = 0; i < sizeof(by_conns) / sizeof(by_conns[0]); i++)
		if (bpf_map__set_max_entries(by_conns[i], o->max_conns))
			return -1;
	t->rodata->ring_wakeup_bytes = l->io->rodata->ring_wakeup_bytes = wakeup;
	return bpf_map__set_max_entries(t->maps.events, o->ring_bytes);
}

static int load(struct loader *l, const struct loader_options *o, char *err, size_t size)
{
	l->track = conn_track_bpf__open();
	l->io = sock_io_bpf__open();
	if (!l->track || !l->io) {
		snprintf(err, size, "cannot open the BPF objects: %s", strerror(errno));
		return -1;
	}
	if (preflight(l->track->obj, err, size) || preflight(l->io->obj, err, size))
		return -1;
	l->track->rodata->self_tgid = getpid();
	l->track->rodata->filter_active = o->selective;
	l->track->rodata->watch_exec = o->watch_exec;
	l->track->rodata->track_clients = o->track_clients;
	l->io->rodata->kstreams_on = o->kstreams;
	l->io->rodata->kstream_copies = o->track_clients;
	if (size_maps(l, o)) {
		snprintf(err, size, "cannot size the BPF maps: %s", strerror(errno));
		return -1;
	}
	if (conn_track_bpf__load(l->track)) {
		load_error(err, size, "conn_track");
		return -1;
	}
	if (share_maps(l->io->obj, (struct bpf_object *[]){l->track->obj}, 1) ||
	    sock_io_bpf__load(l->io)) {
		load_error(err, size, "sock_io");
		return -1;
	}
	if (o->tls && load_tls(l, err, size) && !l->tls_failed)
		return -1;
	return 0;
}

/* ---- the maps user space reads and writes: bpf(2) behind kmaps_ops ---- */

static int map_lookup(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	return bpf_map_lookup_elem(km->fd[map], key, value) ? -errno : 0;
}

static int map_update(struct kmaps *km, enum kmap map, const void *key, const void *value,
		      enum kmap_flag flag)
{
	static const uint64_t flags[] = {
	    [KMAP_ANY] = BPF_ANY,
	    [KMAP_NOEXIST] = BPF_NOEXIST,
	    [KMAP_EXIST] = BPF_EXIST,
	};

	return bpf_map_update_elem(km->fd[map], key, value, flags[flag]) ? -errno : 0;
}

static int map_delete(struct kmaps *km, enum kmap map, const void *key)
{
	return bpf_map_delete_elem(km->fd[map], key) ? -errno : 0;
}

static int map_next_key(struct kmaps *km, enum kmap map, const void *key, void *next)
{
	return bpf_map_get_next_key(km->fd[map], key, next) ? -errno : 0;
}

static int map_take(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	return bpf_map_lookup_and_delete_elem(km->fd[map], key, value) ? -errno : 0;
}

static const struct kmaps_ops bpf_maps = {
    .lookup = map_lookup,
    .update = map_update,
    .delete = map_delete,
    .next_key = map_next_key,
    .take = map_take,
};

#define GATE_BYTES     (CONN_GATE_SLOTS * sizeof(uint64_t))
#define HANDOFFS_BYTES sizeof(uint64_t)

/* An mmapable array map, mapped; NULL on failure (errno). */
static uint64_t *map_shared(const struct bpf_map *map, size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);

	return p == MAP_FAILED ? NULL : p;
}

/* conn_gate and handoffs are mapped before any program is attached: failing here
 * detaches nothing (each detach waits for a grace period). */
static int maps_init(struct loader *l, char *err, size_t size)
{
	struct kmaps *km = &l->maps;
	const struct conn_track_bpf *t = l->track;
	const struct sock_io_bpf *io = l->io;
	const struct bpf_map *maps[KMAP_COUNT] = {
	    [KMAP_CONNS] = t->maps.conns,
	    [KMAP_SOCK_OWNER] = t->maps.sock_owner,
	    [KMAP_TRACKED_PROCS] = t->maps.tracked_procs,
	    [KMAP_PROCS] = t->maps.procs_with_conns,
	    [KMAP_GATED_IDS] = t->maps.gated_ids,
	    [KMAP_ALLOWED_TGIDS] = t->maps.allowed_tgids,
	    [KMAP_ALLOWED_PORTS] = t->maps.allowed_ports,
	    [KMAP_CONNECTING] = t->maps.connecting,
	    [KMAP_COUNTERS] = t->maps.counters,
	    [KMAP_KSTREAMS] = io->maps.kstreams,
	    [KMAP_DETACHED] = t->maps.detached,
	};

	km->ops = &bpf_maps;
	km->ncpus = libbpf_num_possible_cpus();
	for (int i = 0; i < KMAP_COUNT; i++) {
		km->fd[i] = bpf_map__fd(maps[i]);
		km->name[i] = bpf_map__name(maps[i]);
		km->key_size[i] = bpf_map__key_size(maps[i]);
		km->max_entries[i] = bpf_map__max_entries(maps[i]);
	}
	km->gate = map_shared(t->maps.conn_gate, GATE_BYTES);
	km->handoffs = map_shared(t->maps.handoffs, HANDOFFS_BYTES);
	if (km->gate && km->handoffs)
		return 0;
	snprintf(err, size, "cannot map %s: %s", km->gate ? "handoffs" : "conn_gate",
		 strerror(errno));
	return -1;
}

static void unmap_shared(struct kmaps *km)
{
	if (km->gate)
		munmap(km->gate, GATE_BYTES);
	if (km->handoffs)
		munmap(km->handoffs, HANDOFFS_BYTES);
	km->gate = km->handoffs = NULL;
}

int loader_open(struct loader *l, const struct loader_options *o, char *err, size_t size)
{
	memset(l, 0, sizeof(*l));
	libbpf_set_print(libbpf_log);
	if (load(l, o, err, size) || maps_init(l, err, size) ||
	    attach_all(l, l->track->obj, err, size) || attach_all(l, l->io->obj, err, size)) {
		loader_close(l);
		return -1;
	}
	return 0;
}

/* All links at once, the tracepoints' and the uprobes'. */
void loader_close(struct loader *l)
{
	struct tls_link *tls, *all;
	size_t ntls, n;

	tls = tls_attach_take_links(&l->tls, &ntls);
	n = ntls + l->nlinks;
	all = calloc(n ? n : 1, sizeof(*all));
	for (size_t i = 0; i < l->nlinks; i++) {
		struct tls_link link = {l->links[i], -1};

		if (all)
			all[ntls + i] = link;
		else
			tls_link_release(&link); /* one by one: slow, but released */
	}
	if (all) {
		if (ntls)
			memcpy(all, tls, ntls * sizeof(*all));
		tls_links_release(all, n);
	} else {
		tls_links_release(tls, ntls);
	}
	free(all);
	free(tls);
	tls_attach_free(&l->tls);
	l->nlinks = 0;
	unmap_shared(&l->maps);
	ssl_bpf__destroy(l->ssl);
	sock_io_bpf__destroy(l->io);
	conn_track_bpf__destroy(l->track);
	l->ssl = NULL;
	l->io = NULL;
	l->track = NULL;
}

int loader_events_fd(const struct loader *l)
{
	return bpf_map__fd(l->track->maps.events);
}
