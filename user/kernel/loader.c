// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "core/log.h"
#include "kernel/caps.h"
#include "kernel/kfeatures.h"
#include "kernel/krings.h"
#include "kernel/loader.h"
#include "kernel/shared_exits.h"
#include "kernel/uprobe_multi.h"
#include "kstream.h"

/* Of the skeletons only their ELF bytes are used: the loader works on
 * the objects of either build by name. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "conn_track.skel.h"
#include "conn_track_compat.skel.h"
#include "sock_io.skel.h"
#include "sock_io_compat.skel.h"
#include "ssl.skel.h"
#include "ssl_compat.skel.h"
#pragma GCC diagnostic pop

enum bpf_obj { OBJ_TRACK, OBJ_IO, OBJ_SSL };

/* Each object, of the default build and of the compat one. */
static const struct {
	const char *name;
	const void *(*elf[2])(size_t *size);
} objects[] = {
    [OBJ_TRACK] = {"conn_track", {conn_track_bpf__elf_bytes, conn_track_compat_bpf__elf_bytes}},
    [OBJ_IO] = {"sock_io", {sock_io_bpf__elf_bytes, sock_io_compat_bpf__elf_bytes}},
    [OBJ_SSL] = {"ssl", {ssl_bpf__elf_bytes, ssl_compat_bpf__elf_bytes}},
};

static struct bpf_object *open_object(enum bpf_obj which, bool compat)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = objects[which].name);
	size_t size;
	const void *elf = objects[which].elf[compat](&size);

	return bpf_object__open_mem(elf, size, &opts);
}

/* Sets a const volatile of obj's .rodata before the load, by name. */
static int set_const(struct bpf_object *obj, const char *name, const void *value, size_t size)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *v;
	const struct btf_type *sec;
	char data[256];
	const void *init;
	size_t len = 0;
	int id;

	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	init = map ? bpf_map__initial_value(map, &len) : NULL;
	if (id < 0 || !init || len > sizeof(data))
		return -1;
	sec = btf__type_by_id(btf, id);
	v = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, v++) {
		const struct btf_type *var = btf__type_by_id(btf, v->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name))
			continue;
		if (v->size != size || v->offset + size > len)
			return -1;
		memcpy(data, init, len);
		memcpy(data + v->offset, value, size);
		return bpf_map__set_initial_value(map, data, len);
	}
	return -1;
}

static int set_bool(struct bpf_object *obj, const char *name, bool value)
{
	return set_const(obj, name, &value, sizeof(value));
}

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

/* Keeps link, prog's attachment as name; -1 with err when there is none. */
static int keep_link(struct loader *l, const struct bpf_program *prog, struct bpf_link *link,
		     const char *name, char *err, size_t size)
{
	l->nrequired++;
	if (!link) {
		snprintf(err, size, "cannot attach %s (%s): %s", name,
			 bpf_program__section_name(prog), strerror(errno));
		return -1;
	}
	l->names[l->nlinks] = name;
	l->link_ids[l->nlinks] = link_id(bpf_link__fd(link));
	l->links[l->nlinks++] = link;
	return 0;
}

static int attach_all(struct loader *l, struct bpf_object *obj, char *err, size_t size)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj)
	{
		if (l->nlinks == LOADER_PROGS_MAX || keep_link(l, prog, bpf_program__attach(prog),
							       bpf_program__name(prog), err, size))
			return -1;
	}
	return 0;
}

static int attach_shared(struct loader *l, char *err, size_t size)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(l->io, "exit_write");

	if (l->compat)
		return 0;
	if (!prog) {
		snprintf(err, size, "sock_io has no exit_write program (a build mismatch)");
		return -1;
	}
	for (size_t i = 0; i < SHARED_EXITS; i++) {
		if (l->nlinks == LOADER_PROGS_MAX ||
		    keep_link(l, prog,
			      bpf_program__attach_tracepoint(prog, "syscalls",
							     shared_exits[i].tracepoint),
			      shared_exits[i].name, err, size))
			return -1;
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
		 "cannot load %s: %s (kernel 5.10+ with BTF and ring buffers needed; "
		 "--log.level=debug shows the verifier log)",
		 what, strerror(errno));
}

/* How the programs of obj find the rings (kernel/krings.h). */
static int set_rings(struct bpf_object *obj, const struct krings *kr)
{
	return set_bool(obj, "ring_per_cpu", kr->per_cpu) ||
	       set_const(obj, "ring_wakeup_bytes", &kr->wakeup, sizeof(kr->wakeup));
}

/* The OpenSSL programs. A kernel that refuses them costs TLS only: the
 * plaintext capture goes on, and the reason is told once (tls_failed). */
static int load_tls(struct loader *l, const struct loader_options *o, const struct btf *vmlinux,
		    char *err, size_t size)
{
	struct bpf_program *prog;
	bool multi = uprobe_multi_supported(vmlinux);

	l->ssl = open_object(OBJ_SSL, l->compat);
	if (!l->ssl) {
		snprintf(err, size, "cannot open the BPF objects: %s", strerror(errno));
		return -1;
	}
	if (multi)
		bpf_object__for_each_program(prog, l->ssl)
		    bpf_program__set_expected_attach_type(prog, UPROBE_MULTI_ATTACH_TYPE);
	if (set_bool(l->ssl, "kstreams_on", o->kstreams && !l->compat) ||
	    set_rings(l->ssl, &l->rings) || set_bool(l->ssl, "kstream_copies", o->track_clients) ||
	    share_maps(l->ssl, (struct bpf_object *[]){l->track, l->io}, 2) ||
	    bpf_object__load(l->ssl)) {
		load_error(err, size, "ssl");
		log_error("%s; TLS is not observed, plaintext is", err);
		bpf_object__close(l->ssl);
		l->ssl = NULL;
		l->tls_failed = true;
		return -1;
	}
	if (tls_attach_init(&l->tls, l->ssl, "", multi)) {
		snprintf(err, size, "ssl: a uprobe program is missing");
		return -1;
	}
	return 0;
}

/* Which build the kernel takes: the default one unless a probe finds
 * what it uses missing (or the tests ask for the compat one). */
static void choose_build(struct loader *l, const struct loader_options *o,
			 const struct btf *vmlinux)
{
	l->kfeatures_missing = kfeatures_missing(vmlinux);
	l->compat = (l->kfeatures_missing & KF_BUILD_MASK) || o->compat;
	for (int f = 0; f < KF_COUNT; f++)
		if (l->kfeatures_missing & (1u << f))
			log_warn("kernel lacks %s: %s", kfeature_name(f), kfeature_fallback(f));
	if (l->compat)
		log_info("loading the compat BPF build%s",
			 l->kfeatures_missing & KF_BUILD_MASK ? "" : " (SSE_EXPORTER_BPF_COMPAT)");
}

/* The numbers by which exit_write tells the calls it serves apart: this
 * architecture's. */
static int set_send_numbers(struct loader *l)
{
	long writev = SYS_writev, sendmsg = SYS_sendmsg;

	return !l->compat && (set_const(l->io, "nr_writev", &writev, sizeof(writev)) ||
			      set_const(l->io, "nr_sendmsg", &sendmsg, sizeof(sendmsg)));
}

static int set_options(struct loader *l, const struct loader_options *o)
{
	uint32_t self = getpid();

	return set_const(l->track, "self_tgid", &self, sizeof(self)) ||
	       set_bool(l->track, "filter_active", o->selective) ||
	       set_bool(l->track, "watch_exec", o->watch_exec) ||
	       set_bool(l->track, "track_clients", o->track_clients) ||
	       set_bool(l->io, "kstreams_on", o->kstreams && !l->compat) ||
	       set_bool(l->io, "kstream_copies", o->track_clients) || set_send_numbers(l) ||
	       (!l->compat &&
		set_bool(l->io, "tcp_send_time", !(l->kfeatures_missing & (1u << KF_RDONLY_CAST))));
}

static int size_map(struct bpf_object *obj, const char *name, uint32_t entries)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);

	return !map || bpf_map__set_max_entries(map, entries);
}

/* The maps sized by connections and the ring buffer, before the first
 * object is loaded: the others reuse its maps. The compat build's heirs
 * are a hash, an entry per process forked by one with connections (a
 * forking server's: one per connection); the default build's a bitmap by
 * pid. */
static int size_maps(struct loader *l, const struct loader_options *o)
{
	static const char *const by_conns[] = {"conns", "sock_owner", "tracked_procs", "gated_ids",
					       "detached"};
	bool per_cpu = !l->compat && !(l->kfeatures_missing & (1u << KF_RINGBUF_DYNPTR));
	uint64_t gate_max = o->max_conns;

	for (size_t i = 0; i < sizeof(by_conns) / sizeof(by_conns[0]); i++)
		if (size_map(l->track, by_conns[i], o->max_conns))
			return -1;
	if (l->compat && size_map(l->track, "heirs", o->max_conns))
		return -1;
	if (krings_create(&l->rings, l->track, o->ring_bytes, per_cpu))
		return -1;
	return set_const(l->track, "gate_max", &gate_max, sizeof(gate_max)) ||
	       set_const(l->io, "gate_max", &gate_max, sizeof(gate_max)) ||
	       set_rings(l->track, &l->rings) || set_rings(l->io, &l->rings);
}

static int load_objects(struct loader *l, const struct loader_options *o, const struct btf *vmlinux,
			char *err, size_t size)
{
	choose_build(l, o, vmlinux);
	l->track = open_object(OBJ_TRACK, l->compat);
	l->io = open_object(OBJ_IO, l->compat);
	if (!l->track || !l->io) {
		snprintf(err, size, "cannot open the BPF objects: %s", strerror(errno));
		return -1;
	}
	if (preflight(l->track, err, size) || preflight(l->io, err, size))
		return -1;
	if (set_options(l, o)) {
		snprintf(err, size, "BPF objects without their settings (a build mismatch)");
		return -1;
	}
	if (size_maps(l, o)) {
		snprintf(err, size, "cannot size the BPF maps: %s", strerror(errno));
		return -1;
	}
	if (bpf_object__load(l->track)) {
		load_error(err, size, "conn_track");
		return -1;
	}
	if (krings_plug(&l->rings, l->track)) {
		snprintf(err, size, "cannot set up the ring buffers: %s", strerror(errno));
		return -1;
	}
	if (share_maps(l->io, (struct bpf_object *[]){l->track}, 1) || bpf_object__load(l->io)) {
		load_error(err, size, "sock_io");
		return -1;
	}
	if (o->tls && load_tls(l, o, vmlinux, err, size) && !l->tls_failed)
		return -1;
	return 0;
}

/* The kernel's BTF, parsed once for the probes that read it (~0.1 s or
 * more here; libbpf parses it again for each object it loads). */
static int load(struct loader *l, const struct loader_options *o, char *err, size_t size)
{
	struct btf *vmlinux;
	int rc;

	/* first: without privileges, every feature probe fails too */
	if (!caps_can_load()) {
		snprintf(err, size,
			 "needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (and CAP_SYS_PTRACE, "
			 "CAP_DAC_READ_SEARCH to read /proc): run as root, with sudo");
		return -1;
	}
	vmlinux = btf__load_vmlinux_btf();
	rc = load_objects(l, o, vmlinux, err, size);
	btf__free(vmlinux);
	return rc;
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

/* Hash maps have batch reads since 5.6. */
static int map_batch(struct kmaps *km, enum kmap map, void *from, void *next, void *keys,
		     void *values, uint32_t *count)
{
	return bpf_map_lookup_batch(km->fd[map], from, next, keys, values, count, NULL) ? -errno
											: 0;
}

#define ENOTSUPP 524 /* the kernel's, not in user space's errno.h */

/* Hash maps have lookup-and-delete since 5.14 (before: ENOTSUPP). Before,
 * a lookup then the delete, whose success is the right to the entry: the
 * value read is the one deleted unless the kernel deleted the entry and
 * made it again in between (a connection handed over at that very
 * moment, its gated id moved to its new key). */
static int map_take(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	static bool unsupported;

	if (!unsupported) {
		if (!bpf_map_lookup_and_delete_elem(km->fd[map], key, value))
			return 0;
		if (errno != ENOTSUPP)
			return -errno;
		unsupported = true;
	}
	if (bpf_map_lookup_elem(km->fd[map], key, value))
		return -errno;
	return bpf_map_delete_elem(km->fd[map], key) ? -errno : 0;
}

/* The page of an array map that holds byte at: mapped for the one atomic
 * change user space makes, by offset (an array maps from any page). */
static void *map_at(struct kmaps *km, enum kmap map, size_t at)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, km->fd[map],
		       (off_t)(at - at % page));

	return p == MAP_FAILED ? NULL : p + at % page;
}

static void unmap_at(struct kmaps *km, void *at)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	(void)km;
	munmap((void *)((uintptr_t)at - (uintptr_t)at % page), page);
}

static const struct kmaps_ops bpf_maps = {
    .lookup = map_lookup,
    .update = map_update,
    .delete = map_delete,
    .batch = map_batch,
    .take = map_take,
    .share = map_at,
    .unshare = unmap_at,
};

#define PROCS_BYTES (PID_BITMAP_WORDS * sizeof(uint64_t))
#define COUNT_BYTES sizeof(uint64_t)

static uint64_t *map_shared(const struct bpf_map *map, size_t bytes, char *err, size_t size)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);

	if (p != MAP_FAILED)
		return p;
	snprintf(err, size, "cannot map %s: %s", bpf_map__name(map), strerror(errno));
	return NULL;
}

#define KLINES_BYTES	 (KLINES * sizeof(struct kstream))
#define GATE_LINES_BYTES (GATE_LINES * sizeof(struct gate_line))

/* An array map's lines, mapped read-only. */
static const void *map_lines(const struct bpf_map *map, size_t bytes, char *err, size_t size)
{
	void *p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, bpf_map__fd(map), 0);

	if (p != MAP_FAILED)
		return p;
	snprintf(err, size, "cannot map %s: %s", bpf_map__name(map), strerror(errno));
	return NULL;
}

/* The maps of the streams the kernel counts are sock_io's. */
static bool in_io(enum kmap map)
{
	return map == KMAP_KSTREAMS || map == KMAP_KLINES;
}

/* The default build reads a connect()'s fd at its exit, from the saved
 * registers: only the compat build keeps the connects under way. */
static bool compat_only(enum kmap map)
{
	return map == KMAP_CONNECTING;
}

/* conn_track's map called name, mapped into *at (bytes long). */
static int map_cell(struct loader *l, const char *name, size_t bytes, uint64_t **at, char *err,
		    size_t size)
{
	const struct bpf_map *map = bpf_object__find_map_by_name(l->track, name);

	if (!map) {
		snprintf(err, size, "BPF objects without the map %s", name);
		return -1;
	}
	*at = map_shared(map, bytes, err, size);
	return *at ? 0 : -1;
}

/* conn_counts: its counts, in one mapping. */
static int map_counts(struct loader *l, struct kmaps *km, char *err, size_t size)
{
	uint64_t *p;

	if (map_cell(l, "conn_counts", sizeof(struct conn_counts), &p, err, size))
		return -1;
	km->slots_owned = p + offsetof(struct conn_counts, slots_owned) / sizeof(*p);
	km->gate_held = p + offsetof(struct conn_counts, gate_held) / sizeof(*p);
	km->sock_lines = p + offsetof(struct conn_counts, sock_lines) / sizeof(*p);
	km->sock_hashed = p + offsetof(struct conn_counts, sock_hashed) / sizeof(*p);
	return 0;
}

/* conn_counts, procs_with_conns, upstream_procs and handoffs are mapped
 * before any program is attached: failing here detaches nothing (each
 * detach waits for a grace period). */
static int maps_init(struct loader *l, char *err, size_t size)
{
	struct kmaps *km = &l->maps;
	static const char *const names[KMAP_COUNT] = {
	    [KMAP_CONNS] = "conns",
	    [KMAP_SOCK_OWNER] = "sock_owner",
	    [KMAP_TRACKED_PROCS] = "tracked_procs",
	    [KMAP_PROCS] = "procs_with_conns",
	    [KMAP_GATED_IDS] = "gated_ids",
	    [KMAP_ALLOWED_TGIDS] = "allowed_tgids",
	    [KMAP_ALLOWED_PORTS] = "allowed_ports",
	    [KMAP_CONNECTING] = "connecting",
	    [KMAP_COUNTERS] = "counters",
	    [KMAP_KSTREAMS] = "kstreams",
	    [KMAP_DETACHED] = "detached",
	    [KMAP_CONN_SLOTS] = "conn_slots",
	    [KMAP_KLINES] = "klines",
	    [KMAP_GATE_LINES] = "gate_lines",
	    [KMAP_SOCK_LINES] = "sock_lines",
	};
	const struct bpf_map *maps[KMAP_COUNT];

	for (int i = 0; i < KMAP_COUNT; i++) {
		maps[i] = bpf_object__find_map_by_name(in_io(i) ? l->io : l->track, names[i]);
		if (!maps[i] && compat_only(i) && !l->compat)
			continue;
		if (!maps[i]) {
			snprintf(err, size, "BPF objects without the map %s", names[i]);
			return -1;
		}
	}
	km->ops = &bpf_maps;
	km->ncpus = libbpf_num_possible_cpus();
	km->batch = KMAPS_BATCH;
	for (int i = 0; i < KMAP_COUNT; i++) {
		km->fd[i] = -1;
		if (!maps[i])
			continue; /* name NULL: the build has no such map */
		km->fd[i] = bpf_map__fd(maps[i]);
		km->name[i] = bpf_map__name(maps[i]);
		km->key_size[i] = bpf_map__key_size(maps[i]);
		km->value_size[i] = bpf_map__value_size(maps[i]);
		km->max_entries[i] = bpf_map__max_entries(maps[i]);
	}
	km->klines = map_lines(maps[KMAP_KLINES], KLINES_BYTES, err, size);
	km->gate_lines =
	    km->klines ? map_lines(maps[KMAP_GATE_LINES], GATE_LINES_BYTES, err, size) : NULL;
	if (!km->gate_lines || map_counts(l, km, err, size) ||
	    map_cell(l, "procs_with_conns", PROCS_BYTES, &km->procs, err, size) ||
	    map_cell(l, "upstream_procs", PROCS_BYTES, &km->upstreams, err, size) ||
	    map_cell(l, "handoffs", COUNT_BYTES, &km->handoffs, err, size))
		return -1;
	return 0;
}

static void unmap_shared(struct kmaps *km)
{
	if (km->slots_owned) /* the start of conn_counts' mapping */
		munmap(km->slots_owned, sizeof(struct conn_counts));
	if (km->procs)
		munmap(km->procs, PROCS_BYTES);
	if (km->upstreams)
		munmap(km->upstreams, PROCS_BYTES);
	if (km->handoffs)
		munmap(km->handoffs, COUNT_BYTES);
	if (km->klines)
		munmap((void *)km->klines, KLINES_BYTES);
	if (km->gate_lines)
		munmap((void *)km->gate_lines, GATE_LINES_BYTES);
	km->klines = NULL;
	km->gate_lines = NULL;
	km->slots_owned = NULL;
	km->gate_held = NULL;
	km->sock_lines = NULL;
	km->sock_hashed = NULL;
	km->procs = NULL;
	km->upstreams = NULL;
	km->handoffs = NULL;
}

int loader_open(struct loader *l, const struct loader_options *o, char *err, size_t size)
{
	memset(l, 0, sizeof(*l));
	libbpf_set_print(libbpf_log);
	if (load(l, o, err, size) || maps_init(l, err, size) ||
	    attach_all(l, l->track, err, size) || attach_all(l, l->io, err, size) ||
	    attach_shared(l, err, size)) {
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
	bpf_object__close(l->ssl);
	bpf_object__close(l->io);
	bpf_object__close(l->track);
	krings_close(&l->rings);
	l->ssl = NULL;
	l->io = NULL;
	l->track = NULL;
}
