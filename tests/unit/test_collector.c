// SPDX-License-Identifier: MIT
/*
 * Unit tests of the collector: ring buffer records in, metrics and kernel
 * map writes out, with kernel maps of the test's own (kernel/kmaps.h).
 * Connections belong to this process, so that /proc answers the sweep.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <math.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/clock.h"
#include "kstream.h"
#include "kernel_lines.h"
#include "kernel/kconns.h"
#include "track/collector.h"
#include "track/kernel_sync.h"
#include "track/kstreams.h"

#define MS	 1000000ull
#define GONE_FD	 1000000 /* no such fd in this process */
#define REQUEST	 "GET /s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
#define SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
#define KHEAD                                                                                      \
	"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
#define KCHUNK "9\r\ndata: a\n\n\r\n" /* an event of 9 bytes */
#define KTAIL  "0\r\n\r\n"	      /* the body's end */

/* ---- kernel maps of the test's own: a few entries per map ---- */

#define FAKE_ENTRIES 16

struct fake_entry {
	bool used;
	char key[8];
	char value[sizeof(struct kstream)]; /* the largest value */
};

struct fake_map {
	struct fake_entry e[FAKE_ENTRIES];
	size_t key_size, value_size;
	bool array; /* every key present, zero until written */
};

static struct fake_map maps[KMAP_COUNT];
static uint64_t slots_owned[1];
static uint64_t gate_held[1];		     /* connections counted in the gate */
static uint64_t sock_lines_held[1];	     /* lines of sock_lines held */
static uint64_t sock_hashed[1];		     /* entries of sock_owner */
static uint64_t procs[PID_BITMAP_WORDS];     /* procs_with_conns */
static uint64_t upstreams[PID_BITMAP_WORDS]; /* upstream_procs */
static uint64_t handoffs[1];		     /* entries of detached */
/* -errno: every lookup or update of the map fails so */
static int lookup_fails[KMAP_COUNT], update_fails[KMAP_COUNT];

static struct fake_entry *fake_find(enum kmap map, const void *key)
{
	struct fake_map *m = &maps[map];

	for (int i = 0; i < FAKE_ENTRIES; i++)
		if (m->e[i].used && !memcmp(m->e[i].key, key, m->key_size))
			return &m->e[i];
	return NULL;
}

static int fake_lookup(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	struct fake_entry *e = fake_find(map, key);

	(void)km;
	if (lookup_fails[map])
		return lookup_fails[map];
	if (map == KMAP_CONN_SLOTS) {
		memcpy(value, &slots[*(const uint32_t *)key], sizeof(slots[0]));
		return 0;
	}
	if (map == KMAP_KLINES) {
		memcpy(value, &lines[*(const uint32_t *)key], sizeof(lines[0]));
		return 0;
	}
	if (map == KMAP_SOCK_LINES) {
		memcpy(value, &sock_lines[*(const uint32_t *)key], sizeof(sock_lines[0]));
		return 0;
	}
	if (!e && maps[map].array) {
		memset(value, 0, maps[map].value_size);
		return 0;
	}
	if (!e)
		return -ENOENT;
	memcpy(value, e->value, maps[map].value_size);
	return 0;
}

static int fake_update(struct kmaps *km, enum kmap map, const void *key, const void *value,
		       enum kmap_flag flag)
{
	struct fake_entry *e = fake_find(map, key);

	(void)km;
	if (update_fails[map])
		return update_fails[map];
	if (e && flag == KMAP_NOEXIST)
		return -EEXIST;
	if (!e && flag == KMAP_EXIST)
		return -ENOENT;
	for (int i = 0; !e && i < FAKE_ENTRIES; i++)
		if (!maps[map].e[i].used)
			e = &maps[map].e[i];
	if (!e)
		return -E2BIG;
	e->used = true;
	memcpy(e->key, key, maps[map].key_size);
	memcpy(e->value, value, maps[map].value_size);
	return 0;
}

static int fake_delete(struct kmaps *km, enum kmap map, const void *key)
{
	struct fake_entry *e = fake_find(map, key);

	(void)km;
	if (!e)
		return -ENOENT;
	e->used = false;
	return 0;
}

/* Entries of a map by bucket: the slots' pairs, in order. */
#define FAKE_BUCKET 2

/* As the kernel reads a hash map: whole buckets from *from on, as many as
 * fit in *count; -ENOSPC when the first does not, -ENOENT with the last
 * ones. */
static int fake_batch(struct kmaps *km, enum kmap map, void *from, void *next, void *keys,
		      void *values, uint32_t *count)
{
	const struct fake_map *m = &maps[map];
	uint32_t b = from ? *(const uint32_t *)from : 0, total = 0;
	int err = -ENOENT;

	(void)km;
	if (lookup_fails[map])
		return lookup_fails[map];
	for (; b < FAKE_ENTRIES / FAKE_BUCKET; b++) {
		const struct fake_entry *e = &m->e[b * FAKE_BUCKET];
		uint32_t size = 0;

		for (int i = 0; i < FAKE_BUCKET; i++)
			size += e[i].used;
		if (size > *count - total) {
			err = total ? 0 : -ENOSPC;
			break;
		}
		for (int i = 0; i < FAKE_BUCKET; i++, e++) {
			if (!e->used)
				continue;
			memcpy((char *)keys + total * m->key_size, e->key, m->key_size);
			memcpy((char *)values + total * m->value_size, e->value, m->value_size);
			total++;
		}
	}
	*(uint32_t *)next = b;
	*count = total;
	return err;
}

static int fake_take(struct kmaps *km, enum kmap map, const void *key, void *value)
{
	int err = fake_lookup(km, map, key, value);

	return err ? err : fake_delete(km, map, key);
}

/* the kernel's arrays that user space changes in place */
static void *fake_share(struct kmaps *km, enum kmap map, size_t at)
{
	(void)km;
	return kernel_line(map, at);
}

static const struct kmaps_ops fake_ops = {
    .lookup = fake_lookup,
    .update = fake_update,
    .delete = fake_delete,
    .batch = fake_batch,
    .take = fake_take,
    .share = fake_share,
    .unshare = kernel_line_unshare,
};

static void fake_reset(void)
{
	static const size_t sizes[KMAP_COUNT][2] = {
	    [KMAP_CONNS] = {sizeof(struct conn_key), sizeof(struct conn_info)},
	    [KMAP_SOCK_OWNER] = {sizeof(uint64_t), sizeof(struct conn_key)},
	    [KMAP_TRACKED_PROCS] = {sizeof(uint32_t), sizeof(uint64_t)},
	    [KMAP_PROCS] = {sizeof(uint32_t), sizeof(uint64_t)},
	    [KMAP_GATED_IDS] = {sizeof(uint64_t), sizeof(struct conn_key)},
	    [KMAP_ALLOWED_TGIDS] = {sizeof(uint32_t), sizeof(uint8_t)},
	    [KMAP_ALLOWED_PORTS] = {sizeof(uint16_t), sizeof(uint8_t)},
	    [KMAP_CONNECTING] = {sizeof(uint64_t), sizeof(int32_t)},
	    [KMAP_COUNTERS] = {sizeof(uint32_t), sizeof(uint64_t)},
	    [KMAP_KSTREAMS] = {sizeof(uint64_t), sizeof(struct kstream)},
	    [KMAP_DETACHED] = {sizeof(uint64_t), sizeof(struct conn_info)},
	    [KMAP_CONN_SLOTS] = {sizeof(uint32_t), sizeof(struct conn_slot)},
	    [KMAP_KLINES] = {sizeof(uint32_t), sizeof(struct kstream)},
	    [KMAP_GATE_LINES] = {sizeof(uint32_t), sizeof(struct gate_line)},
	    [KMAP_SOCK_LINES] = {sizeof(uint32_t), sizeof(struct sock_line)},
	};

	memset(maps, 0, sizeof(maps));
	memset(slots, 0, sizeof(slots));
	memset(lines, 0, sizeof(lines));
	memset(gate_lines, 0, sizeof(gate_lines));
	memset(sock_lines, 0, sizeof(sock_lines));
	memset(sock_lines_held, 0, sizeof(sock_lines_held));
	memset(sock_hashed, 0, sizeof(sock_hashed));
	memset(slots_owned, 0, sizeof(slots_owned));
	memset(gate_held, 0, sizeof(gate_held));
	memset(procs, 0, sizeof(procs));
	memset(upstreams, 0, sizeof(upstreams));
	memset(handoffs, 0, sizeof(handoffs));
	memset(lookup_fails, 0, sizeof(lookup_fails));
	memset(update_fails, 0, sizeof(update_fails));
	for (int i = 0; i < KMAP_COUNT; i++) {
		maps[i].key_size = sizes[i][0];
		maps[i].value_size = sizes[i][1];
	}
	maps[KMAP_PROCS].array = maps[KMAP_COUNTERS].array = true;
}

static const char *const map_names[KMAP_COUNT] = {
    "conns",	     "sock_owner",    "tracked_procs", "procs_with_conns", "gated_ids",
    "allowed_tgids", "allowed_ports", "connecting",    "counters",	   "kstreams",
    "detached",	     "conn_slots",    "klines",	       "gate_lines",	   "sock_lines",
};

/* ---- fixture: a collector on those maps ---- */

struct fixture {
	struct collector c;
	struct metrics m;
	struct config cfg;
	struct kmaps km;
	pthread_mutex_t lock;
	uint64_t ts;
	uint32_t tgid;
	uint32_t seq0;	  /* their sockets' write sequence at accept */
	uint8_t role;	  /* of the connections opened */
	bool unix_domain; /* ... and their kind: a unix socket (no address, no sock) */
};

static int setup(void **state)
{
	struct metrics_config mc = {.max_paths = 100, .max_models = 50, .idle_ns = 30000 * MS};
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || metrics_init(&f->m, &mc)) {
		free(f);
		return -1;
	}
	fake_reset();
	f->km.ops = &fake_ops;
	f->km.klines = lines;
	f->km.gate_lines = gate_lines;
	f->km.slots_owned = slots_owned;
	f->km.gate_held = gate_held;
	f->km.sock_lines = sock_lines_held;
	f->km.sock_hashed = sock_hashed;
	f->km.procs = procs;
	f->km.upstreams = upstreams;
	f->km.handoffs = handoffs;
	f->km.ncpus = 1;
	f->km.batch = 3; /* a bucket of 2 left for the next batch */
	for (int i = 0; i < KMAP_COUNT; i++) {
		f->km.name[i] = map_names[i];
		f->km.key_size[i] = maps[i].key_size;
		f->km.value_size[i] = maps[i].value_size;
		f->km.max_entries[i] = FAKE_ENTRIES;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->ts = 1000 * MS;
	f->tgid = getpid();
	f->role = ROLE_SERVER;
	if (collector_init(&f->c, &f->m, &f->lock, &f->km, &f->cfg, NULL)) {
		metrics_free(&f->m);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	collector_free(&f->c);
	metrics_free(&f->m);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* ---- records, as the kernel would send them ---- */

static void record(struct fixture *f, void *ev, size_t size)
{
	assert_int_equal(collector_handle(&f->c, ev, size), 0);
}

static struct event_hdr hdr(struct fixture *f, uint32_t type, uint64_t id)
{
	f->ts += MS;
	return (struct event_hdr){.type = type, .tgid = f->tgid, .ts_ns = f->ts, .conn_id = id};
}

static struct conn_key key_of(struct fixture *f, int32_t fd)
{
	return (struct conn_key){.tgid = f->tgid, .fd = fd};
}

/* The kernel's connection store (bpf/conn_store.bpf.h): a connection in
 * its slot's line when no other holds it, else in the conns hash. */
static struct conn_slot *line_held(const struct conn_key *key)
{
	struct conn_slot *s = &slots[conn_gate_slot(key)];

	return s->owner == conn_key_word(key) ? s : NULL;
}

static bool kstore_get(const struct conn_key *key, struct conn_info *info)
{
	struct conn_slot *s = line_held(key);

	if (s)
		*info = s->info;
	return s || fake_lookup(NULL, KMAP_CONNS, key, info) == 0;
}

static void kstore_set(const struct conn_key *key, const struct conn_info *info)
{
	struct conn_slot *s = line_held(key);

	if (s)
		s->info = *info;
	else
		assert_int_equal(fake_update(NULL, KMAP_CONNS, key, info, KMAP_EXIST), 0);
}

static void kstore_put(const struct conn_key *key, const struct conn_info *info)
{
	struct conn_slot *s = &slots[conn_gate_slot(key)];

	if (line_held(key)) { /* a stale entry of the key: replaced */
		s->info = *info;
		return;
	}
	if (s->owner != CONN_SLOT_FREE) {
		if (!fake_find(KMAP_CONNS, key))
			s->hashed++; /* counted first, as conn_hash_put() does */
		assert_int_equal(fake_update(NULL, KMAP_CONNS, key, info, KMAP_ANY), 0);
		return;
	}
	s->info = *info;
	s->owner = conn_key_word(key);
	slots_owned[0]++;
}

static void kstore_take(const struct conn_key *key, struct conn_info *info)
{
	struct conn_slot *s = line_held(key);

	if (!s) {
		assert_int_equal(fake_take(NULL, KMAP_CONNS, key, info), 0);
		slots[conn_gate_slot(key)].hashed--;
		return;
	}
	*info = s->info;
	s->owner = CONN_SLOT_FREE;
	slots_owned[0]--;
}

static uint64_t gate_of(struct fixture *f, int32_t fd)
{
	struct conn_key key = key_of(f, fd);

	return slots[conn_gate_slot(&key)].gate;
}

static bool gated(uint64_t id)
{
	return gate_lines[gate_line_index(id)].id == id || fake_find(KMAP_GATED_IDS, &id) != NULL;
}

/* What the kernel does before it makes a connection's entry: counts it
 * at the gate, and keeps its id in its line of gate_lines when that is
 * free, else in the gated_ids hash. */
static void kernel_gate(const struct conn_key *key, uint64_t id)
{
	struct gate_line *g = &gate_lines[gate_line_index(id)];

	slots[conn_gate_slot(key)].gate++;
	gate_held[0]++;
	if (g->id == GATE_LINE_FREE)
		*g = (struct gate_line){.id = id, .key = *key};
	else
		assert_int_equal(fake_update(NULL, KMAP_GATED_IDS, &id, key, KMAP_NOEXIST), 0);
}

/* What the kernel does at a close, or at the first call of a connection
 * found PROTO_OTHER: it uncounts the connection, unless user space did. */
static void kernel_ungate(struct fixture *f, int32_t fd, uint64_t id)
{
	struct gate_line *g = &gate_lines[gate_line_index(id)];
	bool in_line = g->id == id;

	if (in_line)
		g->id = GATE_LINE_FREE;
	if (in_line || fake_delete(NULL, KMAP_GATED_IDS, &id) == 0) {
		slots[conn_gate_slot(&(struct conn_key){.tgid = f->tgid, .fd = fd})].gate--;
		gate_held[0]--;
	}
}

/* What the kernel does when sk gets owner key (bpf/maps.bpf.h): in sk's
 * line when that holds sk or is free, else in the sock_owner hash. */
static void kernel_sock_put(uint64_t sk, const struct conn_key *key)
{
	struct sock_line *l = &sock_lines[sock_line_index(sk)];

	if (l->sk == sk || (l->sk == SOCK_LINE_FREE && !fake_find(KMAP_SOCK_OWNER, &sk))) {
		sock_lines_held[0] += l->sk != sk;
		*l = (struct sock_line){.sk = sk, .owner = conn_key_word(key)};
		return;
	}
	sock_hashed[0] += !fake_find(KMAP_SOCK_OWNER, &sk);
	assert_int_equal(fake_update(NULL, KMAP_SOCK_OWNER, &sk, key, KMAP_ANY), 0);
}

static void kernel_sock_drop(uint64_t sk)
{
	struct sock_line *l = &sock_lines[sock_line_index(sk)];

	if (l->sk == sk) {
		l->sk = SOCK_LINE_FREE;
		sock_lines_held[0]--;
	} else if (fake_delete(NULL, KMAP_SOCK_OWNER, &sk) == 0) {
		sock_hashed[0]--;
	}
}

/* Whether sk has an owner in the kernel, into *key if so. */
static bool kernel_sock_owner(uint64_t sk, struct conn_key *key)
{
	struct sock_line *l = &sock_lines[sock_line_index(sk)];

	if (l->sk == sk) {
		*key = conn_key_of_word(l->owner);
		return true;
	}
	return fake_lookup(NULL, KMAP_SOCK_OWNER, &sk, key) == 0;
}

static bool sock_owned(uint64_t sk)
{
	struct conn_key key;

	return kernel_sock_owner(sk, &key);
}

/* An accept as the kernel sees it: its map entries (counted at the gate
 * first), then its record. */
static void open_conn(struct fixture *f, uint64_t id, int32_t fd, uint64_t ino, uint8_t proto)
{
	struct open_event ev = {
	    .h = hdr(f, EV_OPEN, id),
	    .key = key_of(f, fd),
	    .info = {.id = id,
		     .sk = f->unix_domain ? 0 : 0x1000 + id,
		     .ino = ino,
		     .open_ns = f->ts,
		     .lport = f->unix_domain ? 0 : 40000,
		     .role = f->role,
		     .proto = proto},
	    .remote.family = f->unix_domain ? AF_UNIX : AF_INET,
	    .out_seq = f->seq0,
	};

	kernel_gate(&ev.key, id);
	kstore_put(&ev.key, &ev.info);
	if (ev.info.sk)
		kernel_sock_put(ev.info.sk, &ev.key);
	record(f, &ev, sizeof(ev));
}

static void data(struct fixture *f, uint64_t id, uint8_t dir, uint8_t flags, int64_t ret,
		 uint32_t seg, uint32_t offset, const char *bytes, size_t len)
{
	struct data_event ev = {
	    .h = hdr(f, EV_DATA, id),
	    .dir = dir,
	    .flags = flags,
	    .len = len,
	    .ret = ret,
	    .offset = offset,
	    .seg = seg,
	};

	memcpy(ev.data, bytes, len);
	record(f, &ev, offsetof(struct data_event, data) + len);
}

/* One syscall's bytes in records of seg bytes; the records whose bit is
 * set in lost never arrive. */
static void syscall_io(struct fixture *f, uint64_t id, uint8_t dir, const char *s, size_t seg,
		       uint32_t lost)
{
	size_t n = strlen(s);

	for (uint32_t i = 0; i * seg < n; i++) {
		size_t off = i * seg, len = n - off < seg ? n - off : seg;

		if (!(lost & (1u << i)))
			data(f, id, dir, 0, (int64_t)n, i, (uint32_t)off, s + off, len);
	}
}

static void io(struct fixture *f, uint64_t id, uint8_t dir, const char *s)
{
	syscall_io(f, id, dir, s, CAPTURE_SEG_MAX, 0);
}

/* gap: records of the connection were lost since its last one out */
static void close_record(struct fixture *f, uint64_t id, int32_t fd, bool gap)
{
	struct close_event ev = {.h = hdr(f, EV_CLOSE, id), .key = key_of(f, fd), .gap = gap};

	record(f, &ev, sizeof(ev));
}

static void close_conn(struct fixture *f, uint64_t id, int32_t fd)
{
	close_record(f, id, fd, false);
}

/* The kernel saw close(): its entry is gone, its record still coming. */
static void kernel_close(struct fixture *f, int32_t fd)
{
	struct conn_key key = key_of(f, fd);
	struct conn_info info;

	kstore_take(&key, &info);
	kernel_ungate(f, fd, info.id);
}

/* A stream under way: request read, head and one event written. */
static void stream(struct fixture *f, uint64_t id)
{
	io(f, id, DIR_IN, REQUEST);
	io(f, id, DIR_OUT, SSE_HEAD);
	io(f, id, DIR_OUT, "data: a\n\n");
}

/* ---- what came out ---- */

static struct family *family(struct fixture *f, const char *name)
{
	for (struct family *fam = f->m.reg.first; fam; fam = fam->next)
		if (!strcmp(fam->name, name))
			return fam;
	fail_msg("no family %s", name);
	return NULL;
}

/* Sum of a family's series whose label i is value (i < 0: all). */
static double total(struct fixture *f, const char *name, int i, const char *value)
{
	struct family *fam = family(f, name);
	double sum = 0;

	for (struct series *s = fam->first; s; s = s->list_next)
		if (i < 0 || !strcmp(s->labels[i], value))
			sum += s->value;
	return sum;
}

/* Series of family name whose label i is value. */
static int series_with(struct fixture *f, const char *name, int i, const char *value)
{
	int n = 0;

	for (struct series *s = family(f, name)->first; s; s = s->list_next)
		n += s->labels[i] && !strcmp(s->labels[i], value);
	return n;
}

#define LOST(f)		  total(f, "sse_exporter_exchanges_lost_total", -1, NULL)
#define LOST_FOR(f, why)  total(f, "sse_exporter_exchanges_lost_total", 1, why)
#define HTTP_REQUESTS(f)  total(f, "http_requests_total", -1, NULL)
#define SSE_ENDED(f, why) total(f, "sse_requests_total", 4, why)
#define CONNS_ACTIVE(f)	  total(f, "http_connections_active", -1, NULL)

static bool kernel_has(struct fixture *f, int32_t fd, uint64_t id)
{
	struct conn_key key = key_of(f, fd);
	struct conn_info info;

	return kstore_get(&key, &info) && info.id == id;
}

static uint8_t kernel_proto(struct fixture *f, int32_t fd)
{
	struct conn_key key = key_of(f, fd);
	struct conn_info info;

	assert_true(kstore_get(&key, &info));
	return info.proto;
}

/* ---- a connection's life ---- */

static void test_open_then_close(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	assert_true(CONNS_ACTIVE(f) == 1);
	close_conn(f, 1, 5);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_int_equal(f->c.conns.n, 0);
	assert_true(CONNS_ACTIVE(f) == 0);
}

/* A server's stream state (conn_served) comes with its first HTTP bytes;
 * a client, or a connection that shows nothing, never has any. */
static void test_served_state_only_for_http_servers(void **state)
{
	struct fixture *f = *state;
	struct conn_entry *srv, *cli;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	f->role = ROLE_CLIENT;
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	srv = conn_table_find(&f->c.conns, 1);
	cli = conn_table_find(&f->c.conns, 2);
	assert_null(srv->srv);
	assert_null(cli->srv);
	stream(f, 1);
	io(f, 2, DIR_OUT, "GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_non_null(srv->srv);
	assert_non_null(srv->http);
	assert_null(cli->srv);
	assert_non_null(cli->up);
	close_conn(f, 1, 5);
	assert_true(SSE_ENDED(f, "success") == 1);
}

/* The owner's close ends the stream under way as the server's doing: a
 * body delimited by the close is complete. Not lost. */
static void test_close_ends_stream(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	close_conn(f, 1, 5);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(LOST(f) == 0);
}

/* Records of a connection no longer followed change nothing. */
static void test_records_after_close_ignored(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	close_conn(f, 1, 5);
	stream(f, 1);
	close_conn(f, 1, 5);
	assert_int_equal(f->c.conns.n, 0);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 0);
	assert_true(CONNS_ACTIVE(f) == 0);
}

static void sock_state(struct fixture *f, uint64_t id, int32_t from, int32_t to)
{
	struct sock_state_event ev = {
	    .h = hdr(f, EV_SOCK_STATE, id), .oldstate = from, .newstate = to};

	record(f, &ev, sizeof(ev));
}

/* The peer's FIN while a stream is written: the client left. A close
 * straight from ESTABLISHED before the owner's: a reset. */
static void test_peer_fin_or_reset_ends_stream(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	sock_state(f, 1, TCP_ESTABLISHED, TCP_CLOSE_WAIT);
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	stream(f, 2);
	sock_state(f, 2, TCP_ESTABLISHED, TCP_CLOSE);
	assert_true(SSE_ENDED(f, "client_closed") == 2);
	assert_true(total(f, "sse_errors_total", 1, "client_disconnect") == 1);
	assert_true(total(f, "sse_errors_total", 1, "connection_reset") == 1);
	assert_non_null(conn_table_find(&f->c.conns, 1)); /* closed by its owner later */
}

/* The client's FIN after records of the stream were lost (its end, say):
 * the stream is lost, not ended by the client. */
static void test_peer_fin_after_gap_loses_stream(void **state)
{
	struct fixture *f = *state;
	struct sock_state_event ev;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	ev = (struct sock_state_event){.h = hdr(f, EV_SOCK_STATE, 1),
				       .oldstate = TCP_ESTABLISHED,
				       .newstate = TCP_CLOSE_WAIT,
				       .gap = 1};
	record(f, &ev, sizeof(ev));
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 0);
	data(f, 1, DIR_IN, DATA_F_EOF | DATA_F_GAP, 0, 0, 0, "", 0);
	close_record(f, 1, 5, true);
	assert_true(LOST(f) == 1);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 0);
	assert_true(CONNS_ACTIVE(f) == 0);
}

/* A process exit ends every connection of the process and only those,
 * its kernel entries removed, what was under way ended (not lost). */
static void test_exit_ends_process(void **state)
{
	struct fixture *f = *state;
	struct exit_event ev;
	uint32_t other = f->tgid;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	stream(f, 1);
	f->tgid = other + 1;
	open_conn(f, 3, 5, 0, PROTO_UNKNOWN);
	f->tgid = other;
	ev = (struct exit_event){.h = hdr(f, EV_EXIT, 0)};
	record(f, &ev, sizeof(ev));
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_null(conn_table_find(&f->c.conns, 2));
	assert_non_null(conn_table_find(&f->c.conns, 3));
	assert_false(kernel_has(f, 5, 1));
	assert_false(kernel_has(f, 6, 2));
	assert_false(gated(1));
	assert_false(gated(2));
	assert_true(gated(3));
	assert_false(sock_owned(0x1001));
	assert_true(sock_owned(0x1003));
	f->tgid = other + 1;
	assert_true(kernel_has(f, 5, 3));
	assert_true(SSE_ENDED(f, "failure") == 1);
	assert_true(LOST(f) == 0);
}

#define HEAD100 "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
#define BODY100                                                                                    \
	"0123456789012345678901234567890123456789012345678901234567890123456789"                   \
	"012345678901234567890123456789"
#define GET	 "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
#define OK_SHORT "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

/* ---- the client's leaving, and copies that come after it ---- */

/* The client's FIN as the kernel tells it: with the bytes the owner had
 * written then (its socket's write sequence, numbered from accept's). */
static void peer_fin(struct fixture *f, uint64_t id, size_t written)
{
	struct sock_state_event ev = {.h = hdr(f, EV_SOCK_STATE, id),
				      .oldstate = TCP_ESTABLISHED,
				      .newstate = TCP_CLOSE_WAIT,
				      .out_valid = 1,
				      .out_seq = f->seq0 + (uint32_t)written};

	record(f, &ev, sizeof(ev));
}

#define FIRST_EVENT "data: a\n\n"
#define LATE_EVENT  "data: late\n\n"

/* The copy of a write the client read before it left comes after the
 * FIN's record (its exit ran after the client had read it and left): its
 * events count. A write after the FIN does not, and the stream ends as
 * the client's leaving at that call. The sequence wraps on the way. */
static void test_copy_after_peer_fin_counted(void **state)
{
	struct fixture *f = *state;

	f->seq0 = UINT32_MAX - 10;
	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	peer_fin(f, 1, strlen(SSE_HEAD FIRST_EVENT LATE_EVENT));
	io(f, 1, DIR_OUT, LATE_EVENT);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 0);
	io(f, 1, DIR_OUT, "data: after the client left\n\n");
	assert_true(SSE_ENDED(f, "client_closed") == 1);
	assert_true(total(f, "sse_chunks_streamed_total", -1, NULL) == 2);
	assert_true(LOST(f) == 0);
}

/* The same race on a plain response: the client read it whole and left
 * before the write's exit. The request was answered, not abandoned. */
static void test_response_copy_after_peer_fin(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, GET);
	peer_fin(f, 1, strlen(OK_SHORT));
	assert_true(HTTP_REQUESTS(f) == 0);
	io(f, 1, DIR_OUT, OK_SHORT);
	data(f, 1, DIR_IN, DATA_F_EOF, 0, 0, 0, "", 0);
	close_conn(f, 1, 5);
	assert_true(HTTP_REQUESTS(f) == 1);
	assert_true(LOST(f) == 0);
}

/* A FIN after every write's copy ends the stream at once; one that
 * waits for a copy that never comes, from a server that makes no call
 * since, ends it KLEFT_GRACE_NS after the client left. */
static void test_peer_fin_copies_in_or_grace(void **state)
{
	struct fixture *f = *state;
	uint64_t t_fin;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	peer_fin(f, 1, strlen(SSE_HEAD FIRST_EVENT));
	assert_true(SSE_ENDED(f, "client_closed") == 1);
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	stream(f, 2);
	peer_fin(f, 2, strlen(SSE_HEAD FIRST_EVENT LATE_EVENT));
	t_fin = f->ts;
	kstreams_refresh(&f->c, t_fin + KLEFT_GRACE_NS - 1);
	assert_true(SSE_ENDED(f, "client_closed") == 1);
	kstreams_refresh(&f->c, t_fin + KLEFT_GRACE_NS);
	assert_true(SSE_ENDED(f, "client_closed") == 2);
	assert_true(LOST(f) == 0);
}

/* ---- bytes and their gaps ---- */

/* Two keep-alive exchanges; the first response comes in records of 20
 * bytes, those of lost missing. The second is read right only if the
 * first's missing bytes were skipped by count. */
static void two_exchanges(struct fixture *f, uint32_t lost)
{
	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, GET);
	syscall_io(f, 1, DIR_OUT, HEAD100 BODY100, 20, lost);
	io(f, 1, DIR_IN, GET);
	io(f, 1, DIR_OUT, OK_SHORT);
}

static void test_records_whole(void **state)
{
	struct fixture *f = *state;

	two_exchanges(f, 0);
	assert_true(HTTP_REQUESTS(f) == 2);
	assert_true(LOST(f) == 0);
}

/* A record lost inside a body of known length: skipped by count, the
 * framing holds. */
static void test_gap_in_length_body_skipped(void **state)
{
	struct fixture *f = *state;

	two_exchanges(f, 1u << 4);
	assert_true(HTTP_REQUESTS(f) == 2);
	assert_true(LOST(f) == 0);
}

/* The last records of a syscall lost: the next syscall's first record
 * tells, and the rest is skipped. */
static void test_tail_lost_skipped_at_next_syscall(void **state)
{
	struct fixture *f = *state;

	two_exchanges(f, 1u << 6 | 1u << 5 | 1u << 4);
	assert_true(HTTP_REQUESTS(f) == 2);
	assert_true(LOST(f) == 0);
}

/* Bytes lost inside an event stream: the events cannot be told apart any
 * more, so the exchange is lost, not misread. */
static void test_gap_in_stream_loses_exchange(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, REQUEST);
	io(f, 1, DIR_OUT, SSE_HEAD);
	syscall_io(f, 1, DIR_OUT, "data: one\n\ndata: two\n\n", 8, 1u << 1);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 0);
	assert_true(total(f, "sse_chunks_streamed_total", -1, NULL) == 0);
}

/* A record that does not fit the syscall under way (the first records of
 * a later one lost) is dropped, never fed out of place: here it would
 * count an event twice. */
static void test_record_out_of_place_dropped(void **state)
{
	struct fixture *f = *state;
	const char *events = "data: 1\n\ndata: 2\n\ndata: 3\n\n";

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, REQUEST);
	io(f, 1, DIR_OUT, SSE_HEAD);
	syscall_io(f, 1, DIR_OUT, events, 9, 1u << 2);	 /* 18 of 27 bytes came */
	data(f, 1, DIR_OUT, 0, 27, 1, 9, events + 9, 9); /* a later call's 2nd record */
	close_conn(f, 1, 5);				 /* the 9 missing bytes: lost */
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(total(f, "sse_chunks_streamed_total", -1, NULL) == 2);
}

/* ---- calls whose records were lost whole (DATA_F_GAP) ---- */

#define GET_B	  "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
#define PART_HEAD "GET /a HTTP/1.1\r\nHo"

#define PATH_REQUESTS(f, path) total(f, "http_requests_total", 2, path)

/* One call's bytes in one record, the first out after calls of the
 * connection whose records were all lost. */
static void gap_io(struct fixture *f, uint64_t id, uint8_t dir, const char *s)
{
	data(f, id, dir, DATA_F_GAP, (int64_t)strlen(s), 0, 0, s, strlen(s));
}

/* Event writes lost whole inside a stream: the stream is lost, not
 * counted short of events; the next request is read as usual. */
static void test_gap_in_stream(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	gap_io(f, 1, DIR_OUT, "data: c\n\n"); /* "data: b" went before it */
	io(f, 1, DIR_OUT, "data: d\n\n");
	io(f, 1, DIR_IN, GET_B);
	io(f, 1, DIR_OUT, OK_SHORT);
	close_conn(f, 1, 5);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(LOST(f) == 1);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 0);
	assert_true(total(f, "sse_chunks_streamed_total", -1, NULL) == 1);
	assert_true(PATH_REQUESTS(f, "/b") == 1);
}

/* A connection reads first (a request, or its head's start), then
 * records go missing whole, then the next request /b is read first: its
 * answer is /b's, counted as usual. */
static void answered_after_gap(struct fixture *f, uint64_t id, int32_t fd, const char *first)
{
	open_conn(f, id, fd, 0, PROTO_UNKNOWN);
	io(f, id, DIR_IN, first);
	gap_io(f, id, DIR_IN, GET_B);
	io(f, id, DIR_OUT, OK_SHORT);
	close_conn(f, id, fd);
}

/* A request head read in two calls, the second lost whole: the answer
 * that comes next is the request's, its exchange lost. Or the next
 * request comes first: the answer went with the lost records too. Either
 * way the next request is answered and counted as usual. */
static void test_gap_in_request_head(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, PART_HEAD);
	gap_io(f, 1, DIR_OUT, OK_SHORT);
	io(f, 1, DIR_IN, GET_B);
	io(f, 1, DIR_OUT, OK_SHORT);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(PATH_REQUESTS(f, "/b") == 1);

	answered_after_gap(f, 2, 6, PART_HEAD);
	assert_true(LOST_FOR(f, "bytes_missed") == 2);
	assert_true(LOST(f) == 2);
	assert_true(PATH_REQUESTS(f, "/b") == 2);
}

/* A response lost whole, head and all: the request that waited for it is
 * lost, the next one answered as usual (not paired with its answer). */
static void test_gap_loses_unanswered_request(void **state)
{
	struct fixture *f = *state;

	answered_after_gap(f, 1, 5, GET);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(LOST(f) == 1);
	assert_true(PATH_REQUESTS(f, "/b") == 1);
	assert_true(PATH_REQUESTS(f, "/a") == 0);
}

/* Records lost after the last that came, then the connection ends (its
 * EOF record lost, say): the close record tells, or at a process's exit
 * the kernel's entry does. The stream under way has an unknown outcome,
 * not the one the close would give it. */
static void test_gap_before_end(void **state)
{
	struct fixture *f = *state;
	struct conn_key key = key_of(f, 6);
	struct conn_info info;
	struct exit_event ev;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	close_record(f, 1, 5, true);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);

	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	stream(f, 2);
	assert_true(kstore_get(&key, &info));
	info.lost = 1;
	kstore_set(&key, &info);
	ev = (struct exit_event){.h = hdr(f, EV_EXIT, 0)};
	record(f, &ev, sizeof(ev));
	assert_true(LOST_FOR(f, "bytes_missed") == 2);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 0);
}

/* sendfile: bytes moved, not copied, skipped by count. */
static void test_sendfile_body_skipped(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, GET);
	io(f, 1, DIR_OUT, HEAD100);
	data(f, 1, DIR_OUT, DATA_F_NOCOPY, 100, 0, 0, "", 0);
	io(f, 1, DIR_IN, GET);
	io(f, 1, DIR_OUT, OK_SHORT);
	assert_true(HTTP_REQUESTS(f) == 2);
	assert_true(LOST(f) == 0);
}

/* The read of EOF or a write's EPIPE: the client left; ECONNRESET: its
 * connection was reset. */
static void test_eof_epipe_reset(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	data(f, 1, DIR_IN, DATA_F_EOF, 0, 0, 0, "", 0);
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	stream(f, 2);
	data(f, 2, DIR_OUT, DATA_F_ERROR, -EPIPE, 0, 0, "", 0);
	open_conn(f, 3, 7, 0, PROTO_UNKNOWN);
	stream(f, 3);
	data(f, 3, DIR_IN, DATA_F_ERROR, -ECONNRESET, 0, 0, "", 0);
	assert_true(SSE_ENDED(f, "client_closed") == 3);
	assert_true(total(f, "sse_errors_total", 1, "client_disconnect") == 2);
	assert_true(total(f, "sse_errors_total", 1, "connection_reset") == 1);
	assert_true(LOST(f) == 0);
}

/* ---- connections found in /proc: the first bytes decide ---- */

static void test_adopted_stream(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_ADOPT);
	io(f, 1, DIR_OUT, "data: a\n\n");
	assert_int_equal(kernel_proto(f, 5), PROTO_HTTP);
	assert_int_equal(gate_of(f, 5), 1); /* its bytes still pass */
	assert_true(total(f, "sse_active_connections", -1, NULL) == 1);
	io(f, 1, DIR_OUT, "data: b\n\n");
	close_conn(f, 1, 5); /* no provider to wait for any more */
	assert_true(total(f, "sse_chunks_streamed_total", -1, NULL) == 2);
}

static void test_adopted_not_http(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_ADOPT);
	io(f, 1, DIR_IN, "\x16\x03\x01 binary");
	assert_int_equal(kernel_proto(f, 5), PROTO_OTHER);
	assert_null(conn_table_find(&f->c.conns, 1)->http);
	assert_int_equal(gate_of(f, 5), 0); /* its calls stop at the gate */
	assert_false(gated(1));
}

static size_t upstream_calls(struct fixture *f)
{
	size_t n = 0;

	for (size_t b = 0; b < UPSTREAM_BUCKETS; b++)
		for (struct upstream_call *u = f->c.upstreams.buckets[b]; u; u = u->next)
			n++;
	return n;
}

/* A client connection whose first bytes are not HTTP (a database's) is
 * left alone for good: its records still in the ring buffer from before
 * the kernel was told are not parsed, and no upstream call of it stays in
 * the index. */
static void test_adopted_client_not_http_left_alone(void **state)
{
	struct fixture *f = *state;

	f->role = ROLE_CLIENT;
	open_conn(f, 1, 5, 0, PROTO_ADOPT);
	io(f, 1, DIR_IN, "+OK\r\n");
	assert_int_equal(kernel_proto(f, 5), PROTO_OTHER);
	assert_int_equal(upstream_calls(f), 0);
	io(f, 1, DIR_OUT, GET);
	io(f, 1, DIR_IN, OK_SHORT);
	assert_int_equal(upstream_calls(f), 0);
	assert_true(total(f, "sse_provider_requests_total", -1, NULL) == 0);
	close_conn(f, 1, 5);
	assert_int_equal(upstream_calls(f), 0);
}

static bool upstream_marked(const struct fixture *f)
{
	return upstreams[f->tgid / 64] & (1ull << (f->tgid % 64));
}

/* An upstream call found in /proc marks its process, as the kernel marks
 * those it classifies: the process's streams are then copied for
 * correlation. A server connection, or a client one that is not HTTP,
 * does not. */
static void test_adopted_upstream_marks_process(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_ADOPT);
	io(f, 1, DIR_IN, GET);
	assert_int_equal(kernel_proto(f, 5), PROTO_HTTP);
	f->role = ROLE_CLIENT;
	open_conn(f, 2, 6, 0, PROTO_ADOPT);
	io(f, 2, DIR_IN, "+OK\r\n");
	assert_false(upstream_marked(f));
	open_conn(f, 3, 7, 0, PROTO_ADOPT);
	io(f, 3, DIR_OUT, GET);
	assert_int_equal(kernel_proto(f, 7), PROTO_HTTP);
	assert_true(upstream_marked(f));
}

/* The kernel found TLS records on it: its plaintext showing HTTP keeps it
 * TLS, whose bytes come from the library hooks. */
static void test_adopted_tls_stays_tls(void **state)
{
	struct fixture *f = *state;
	struct conn_key key = key_of(f, 5);
	struct conn_info info;

	open_conn(f, 1, 5, 0, PROTO_ADOPT);
	assert_true(kstore_get(&key, &info));
	info.proto = PROTO_TLS;
	kstore_set(&key, &info);
	io(f, 1, DIR_IN, GET);
	assert_int_equal(kernel_proto(f, 5), PROTO_TLS);
	assert_int_equal(conn_table_find(&f->c.conns, 1)->info.proto, PROTO_TLS);
}

/* ---- Redis clients (track/redis_track.c) ---- */

#define R_GET(k)       "*2\r\n$3\r\nGET\r\n$1\r\n" k "\r\n"
#define R_MGET	       "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
#define R_RPUSH(n, k)  "*3\r\n$5\r\nRPUSH\r\n$" n "\r\n" k "\r\n$1\r\nx\r\n"
#define R_HIT	       "$1\r\nv\r\n"
#define R_NIL	       "$-1\r\n"
#define UNPAIRED(f)    total(f, "sse_exporter_redis_unpaired_total", -1, NULL)
#define FAILED(f, why) total(f, "sse_queue_produce_failures_total", 2, why)

/* Observations of a histogram's series whose label i is value, their
 * sum in *sum. */
static uint64_t observed(struct fixture *f, const char *name, int i, const char *value, double *sum)
{
	struct family *fam = family(f, name);
	uint64_t n = 0;

	*sum = 0;
	for (struct series *s = fam->first; s; s = s->list_next)
		if (!strcmp(s->labels[i], value)) {
			n += s->count;
			*sum += s->sum;
		}
	return n;
}

/* A client's connection the kernel found to carry Redis commands. */
static struct conn_entry *redis_client(struct fixture *f, uint64_t id, int32_t fd)
{
	f->role = ROLE_CLIENT;
	open_conn(f, id, fd, 0, PROTO_UNKNOWN);
	io(f, id, DIR_OUT, "*1\r\n$4\r\nPING\r\n");
	io(f, id, DIR_IN, "+PONG\r\n");
	return conn_table_find(&f->c.conns, id);
}

/* Cache reads, produces and their depth, and each command's time from
 * its write to its reply's read. */
static void test_redis_metrics(void **state)
{
	struct fixture *f = *state;
	struct conn_entry *e = redis_client(f, 1, 5);
	double sum;

	assert_non_null(e->redis);
	assert_null(e->http);
	io(f, 1, DIR_OUT, R_GET("k"));
	io(f, 1, DIR_IN, R_HIT);
	io(f, 1, DIR_OUT, R_GET("m") R_MGET); /* pipelined */
	io(f, 1, DIR_IN, R_NIL);
	io(f, 1, DIR_IN, "*3\r\n" R_HIT R_NIL R_HIT);
	io(f, 1, DIR_OUT, R_RPUSH("7", "jobs:42"));
	io(f, 1, DIR_IN, ":7\r\n");
	io(f, 1, DIR_OUT, R_RPUSH("4", "full"));
	io(f, 1, DIR_IN, "-OOM command not allowed\r\n");
	assert_true(total(f, "sse_cache_hits_total", 1, "L2") == 3);
	assert_true(total(f, "sse_cache_misses_total", 1, "L2") == 2);
	assert_true(total(f, "sse_queue_produce_attempts_total", 1, "redis") == 2);
	assert_true(total(f, "sse_queue_produce_success_total", 1, "redis") == 1);
	assert_true(FAILED(f, "OOM") == 1);
	assert_true(total(f, "sse_queue_depth", 1, "jobs::id") == 7);
	assert_int_equal(observed(f, "sse_redis_command_duration_seconds", 1, "GET", &sum), 2);
	assert_true(fabs(sum - 0.002) < 1e-9);
	assert_int_equal(observed(f, "sse_redis_command_duration_seconds", 1, "MGET", &sum), 1);
	assert_true(fabs(sum - 0.002) < 1e-9); /* behind the GET of its write */
	assert_int_equal(observed(f, "sse_redis_command_duration_seconds", 1, "RPUSH", &sum), 2);
	assert_int_equal(observed(f, "sse_redis_command_duration_seconds", 1, "PING", &sum), 1);
	assert_int_equal(upstream_calls(f), 0);
	assert_int_equal(kernel_proto(f, 5), PROTO_UNKNOWN); /* the kernel's to set */
	assert_true(UNPAIRED(f) == 0);
	close_conn(f, 1, 5);
}

/* A produce waiting for its reply when the connection ends failed so;
 * the server's EOF ends it as the owner's close does. */
static void test_redis_produce_outstanding(void **state)
{
	struct fixture *f = *state;

	redis_client(f, 1, 5);
	io(f, 1, DIR_OUT, R_RPUSH("1", "q"));
	close_conn(f, 1, 5);
	redis_client(f, 2, 6);
	io(f, 2, DIR_OUT, R_RPUSH("1", "q"));
	data(f, 2, DIR_IN, DATA_F_EOF, 0, 0, 0, "", 0);
	assert_true(FAILED(f, "connection") == 2);
	assert_true(total(f, "sse_queue_produce_attempts_total", -1, NULL) == 2);
	assert_true(total(f, "sse_queue_produce_success_total", -1, NULL) == 0);
	close_conn(f, 2, 6);
	assert_true(FAILED(f, "connection") == 2); /* once */
}

/* Bytes not seen inside a bulk string are skipped by count: the value is
 * a hit all the same. */
static void test_redis_gap_in_value(void **state)
{
	struct fixture *f = *state;
	char reply[3 * CAPTURE_SEG_MAX];
	size_t n = sizeof(reply) - 16;
	int head = snprintf(reply, sizeof(reply), "$%zu\r\n", n);

	redis_client(f, 1, 5);
	io(f, 1, DIR_OUT, R_GET("k"));
	memset(reply + head, 'v', n);
	strcpy(reply + head + n, "\r\n");
	syscall_io(f, 1, DIR_IN, reply, CAPTURE_SEG_MAX, 1u << 1);
	io(f, 1, DIR_OUT, R_GET("m"));
	io(f, 1, DIR_IN, R_NIL);
	assert_true(total(f, "sse_cache_hits_total", -1, NULL) == 1);
	assert_true(total(f, "sse_cache_misses_total", -1, NULL) == 1);
	assert_true(UNPAIRED(f) == 0);
}

/* Records lost whole: what waited is unknown, the connection is counted
 * once and no longer copied; nothing after is paired. */
static void test_redis_records_lost(void **state)
{
	struct fixture *f = *state;

	redis_client(f, 1, 5);
	io(f, 1, DIR_OUT, R_RPUSH("1", "q"));
	data(f, 1, DIR_IN, DATA_F_GAP, 4, 0, 0, ":1\r\n", 4);
	assert_true(total(f, "sse_exporter_redis_unpaired_total", 0, "gap") == 1);
	assert_int_equal(kernel_proto(f, 5), PROTO_OTHER);
	assert_int_equal(gate_of(f, 5), 0);
	io(f, 1, DIR_OUT, R_GET("k")); /* still in the ring buffer */
	io(f, 1, DIR_IN, R_HIT);
	close_conn(f, 1, 5);
	assert_true(UNPAIRED(f) == 1);
	assert_true(total(f, "sse_cache_hits_total", -1, NULL) == 0);
	assert_true(total(f, "sse_queue_produce_attempts_total", -1, NULL) == 1);
	assert_true(total(f, "sse_queue_produce_success_total", -1, NULL) == 0);
	assert_true(total(f, "sse_queue_produce_failures_total", -1, NULL) == 0);
}

/* Replies that are not RESP: counted as such. Commands that are not:
 * those already sent are still paired, then copying stops. */
static void test_redis_not_resp(void **state)
{
	struct fixture *f = *state;

	redis_client(f, 1, 5);
	io(f, 1, DIR_OUT, R_GET("k"));
	io(f, 1, DIR_IN, "?\r\n");
	assert_true(total(f, "sse_exporter_redis_unpaired_total", 0, "parse") == 1);
	assert_int_equal(kernel_proto(f, 5), PROTO_OTHER);
	redis_client(f, 2, 6);
	io(f, 2, DIR_OUT, R_GET("k") "*1\r\n:1\r\n"); /* Redis reads no integer */
	assert_true(UNPAIRED(f) == 2);
	assert_int_equal(kernel_proto(f, 6), PROTO_UNKNOWN); /* GET's reply to come */
	io(f, 2, DIR_IN, R_HIT);
	assert_true(total(f, "sse_cache_hits_total", -1, NULL) == 1);
	assert_int_equal(kernel_proto(f, 6), PROTO_OTHER);
	assert_true(UNPAIRED(f) == 2);
}

/* Connections older than the exporter: a client's command write makes it
 * Redis for the kernel too, a TLS one stays TLS; a server's read of the
 * same bytes is not Redis. */
static void test_redis_adopted(void **state)
{
	struct fixture *f = *state;
	struct conn_key key = key_of(f, 6);
	struct conn_info info;

	f->role = ROLE_CLIENT;
	open_conn(f, 1, 5, 0, PROTO_ADOPT);
	io(f, 1, DIR_OUT, R_GET("k"));
	io(f, 1, DIR_IN, R_HIT);
	assert_int_equal(kernel_proto(f, 5), PROTO_RESP);
	assert_true(total(f, "sse_cache_hits_total", -1, NULL) == 1);
	open_conn(f, 2, 6, 0, PROTO_ADOPT);
	assert_true(kstore_get(&key, &info));
	info.proto = PROTO_TLS;
	kstore_set(&key, &info);
	io(f, 2, DIR_OUT, R_GET("k"));
	io(f, 2, DIR_IN, R_NIL);
	assert_int_equal(kernel_proto(f, 6), PROTO_TLS);
	assert_true(total(f, "sse_cache_misses_total", -1, NULL) == 1);
	f->role = ROLE_SERVER;
	open_conn(f, 3, 7, 0, PROTO_ADOPT);
	io(f, 3, DIR_IN, R_GET("k"));
	assert_int_equal(kernel_proto(f, 7), PROTO_OTHER);
	assert_null(conn_table_find(&f->c.conns, 3)->redis);
}

/* A client's unix socket: Redis as over TCP, and an HTTP API's calls
 * named by their Host (dockerd's, a local model server's). */
static void test_unix_client(void **state)
{
	struct fixture *f = *state;

	f->unix_domain = true;
	redis_client(f, 1, 5);
	io(f, 1, DIR_OUT, R_RPUSH("1", "q"));
	data(f, 1, DIR_IN, DATA_F_EOF, 0, 0, 0, "", 0); /* CLIENT KILL: no TCP state */
	assert_true(FAILED(f, "connection") == 1);
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	io(f, 2, DIR_OUT, GET);
	io(f, 2, DIR_IN, OK_SHORT);
	assert_true(total(f, "sse_provider_requests_total", 1, "x") == 1);
	close_conn(f, 2, 6);
	close_conn(f, 1, 5);
}

/* A unix socket found in /proc is followed only when its first bytes
 * seen are a Redis command it writes: a service's log line to journald
 * may begin "GET ". */
static void test_unix_adopted_redis_only(void **state)
{
	struct fixture *f = *state;

	f->role = ROLE_CLIENT;
	f->unix_domain = true;
	open_conn(f, 1, 5, 0, PROTO_ADOPT);
	io(f, 1, DIR_OUT, GET);
	io(f, 1, DIR_IN, OK_SHORT);
	assert_int_equal(kernel_proto(f, 5), PROTO_OTHER);
	assert_int_equal(gate_of(f, 5), 0);
	assert_int_equal(upstream_calls(f), 0);
	assert_true(total(f, "sse_provider_requests_total", -1, NULL) == 0);
	open_conn(f, 2, 6, 0, PROTO_ADOPT);
	io(f, 2, DIR_OUT, R_GET("k"));
	io(f, 2, DIR_IN, R_HIT);
	assert_int_equal(kernel_proto(f, 6), PROTO_RESP);
	assert_true(total(f, "sse_cache_hits_total", -1, NULL) == 1);
}

/* ---- the gate in front of every read and write (conn_slots) ---- */

/* An fd of this process whose connection would share fd's slot. */
static int32_t same_slot_fd(struct fixture *f, int32_t fd)
{
	struct conn_key key = key_of(f, fd), other = key;

	do
		other.fd++;
	while (conn_gate_slot(&other) != conn_gate_slot(&key));
	return other.fd;
}

/* A connection found in /proc is counted at the gate with its entry. */
static void test_adopt_counted_at_gate(void **state)
{
	struct fixture *f = *state;
	struct conn_key key = key_of(f, 5);
	struct conn_info info = {.id = 7, .proto = PROTO_ADOPT};

	assert_int_equal(kernel_adopt(&f->c, &key, &info), 0);
	assert_true(kernel_has(f, 5, 7));
	assert_int_equal(gate_of(f, 5), 1);
	assert_true(gated(7));
}

/* One the kernel accepted since it attached is the kernel's, counted
 * once, by the kernel. */
static void test_adopt_of_kernel_entry_uncounted(void **state)
{
	struct fixture *f = *state;
	struct conn_key key = key_of(f, 5);
	struct conn_info info = {.id = 7, .proto = PROTO_ADOPT};

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	assert_int_equal(kernel_adopt(&f->c, &key, &info), -EEXIST);
	assert_int_equal(gate_of(f, 5), 1);
	assert_false(gated(7));
	assert_true(kernel_has(f, 5, 1));
}

/* Two connections of one slot: the first in the slot's line, the second
 * in the hash. User space finds, changes, counts and ends either. */
static void test_slot_shared_line_and_hash(void **state)
{
	struct fixture *f = *state;
	int32_t fd2 = same_slot_fd(f, 5);
	struct conn_key k1 = key_of(f, 5), k2 = key_of(f, fd2);
	struct conn_info info;
	struct exit_event ev;

	open_conn(f, 1, 5, 0, PROTO_ADOPT);
	open_conn(f, 2, fd2, 0, PROTO_ADOPT);
	assert_non_null(line_held(&k1));
	assert_null(line_held(&k2));
	assert_non_null(fake_find(KMAP_CONNS, &k2));
	assert_int_equal(slots[conn_gate_slot(&k1)].hashed, 1);
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_map_entries", 0, "conns") == 2);
	io(f, 1, DIR_IN, GET);
	io(f, 2, DIR_IN, "\x16\x03\x01 binary");
	assert_int_equal(kernel_proto(f, 5), PROTO_HTTP);
	assert_int_equal(kernel_proto(f, fd2), PROTO_OTHER);
	assert_int_equal(gate_of(f, 5), 1); /* the second left it */
	/* an adoption of a key the line holds is refused */
	info = (struct conn_info){.id = 9, .proto = PROTO_ADOPT};
	assert_int_equal(kernel_adopt(&f->c, &k1, &info), -EEXIST);
	ev = (struct exit_event){.h = hdr(f, EV_EXIT, 0)};
	record(f, &ev, sizeof(ev));
	assert_false(kernel_has(f, 5, 1));
	assert_false(kernel_has(f, fd2, 2));
	assert_int_equal(slots[conn_gate_slot(&k1)].owner, CONN_SLOT_FREE);
	assert_int_equal(slots[conn_gate_slot(&k1)].hashed, 0);
	assert_int_equal(slots_owned[0], 0);
	assert_int_equal(gate_of(f, 5), 0);
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_map_entries", 0, "conns") == 0);
}

/* An adoption whose line another key holds goes to the hash, counted in
 * the line first; refused or deleted, it is uncounted once: the kernel's
 * calls skip the hash while the line counts none (conn_store.bpf.h). */
static void test_adopt_into_hash_counted(void **state)
{
	struct fixture *f = *state;
	int32_t fd2 = same_slot_fd(f, 5);
	struct conn_key k2 = key_of(f, fd2);
	struct conn_slot *s = &slots[conn_gate_slot(&k2)];
	struct conn_info info = {.id = 7, .proto = PROTO_ADOPT};

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	assert_int_equal(s->hashed, 0);
	assert_int_equal(kernel_adopt(&f->c, &k2, &info), 0);
	assert_non_null(fake_find(KMAP_CONNS, &k2));
	assert_int_equal(s->hashed, 1);
	info.id = 8;
	assert_int_equal(kernel_adopt(&f->c, &k2, &info), -EEXIST);
	assert_int_equal(s->hashed, 1);
	assert_int_equal(kconns_delete(&f->km, &k2, 7), 0);
	assert_int_equal(s->hashed, 0);
	assert_int_not_equal(kconns_delete(&f->km, &k2, 7), 0);
	assert_int_equal(s->hashed, 0);
}

/* A map the loaded build lacks (the default build's connecting) has no
 * series of its fill; the others have theirs. */
static void test_map_missing_from_build(void **state)
{
	struct fixture *f = *state;

	f->km.name[KMAP_CONNECTING] = NULL;
	collector_refresh_self(&f->c);
	assert_int_equal(series_with(f, "sse_exporter_map_entries", 0, "connecting"), 0);
	assert_int_equal(series_with(f, "sse_exporter_map_max_entries", 0, "connecting"), 0);
	assert_int_equal(series_with(f, "sse_exporter_map_entries", 0, "conns"), 1);
}

/* With no room to count it, it is not adopted: an entry the gate does
 * not count would have its bytes hidden. */
static void test_adopt_without_room_not_made(void **state)
{
	struct fixture *f = *state;
	struct conn_key key = key_of(f, 5);
	struct conn_info info = {.id = 7, .proto = PROTO_ADOPT};

	update_fails[KMAP_GATED_IDS] = -E2BIG;
	assert_int_equal(kernel_adopt(&f->c, &key, &info), -E2BIG);
	assert_false(kernel_has(f, 5, 7));
	assert_int_equal(gate_of(f, 5), 0);
}

/* A connection user space ends is uncounted with its entries. */
static void test_forget_uncounts(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_forget(&f->c, conn_table_find(&f->c.conns, 1));
	assert_false(kernel_has(f, 5, 1));
	assert_int_equal(gate_of(f, 5), 0);
	assert_false(gated(1));
}

/* ... once, whoever comes first: the kernel found it PROTO_OTHER, then
 * user space ends it (twice, even). Another connection of the same slot
 * keeps its count: a second uncount would hide its bytes. */
static void test_uncounted_once(void **state)
{
	struct fixture *f = *state;
	int32_t other = same_slot_fd(f, 5);

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	open_conn(f, 2, other, 0, PROTO_UNKNOWN);
	assert_int_equal(gate_of(f, 5), 2);
	kernel_ungate(f, 5, 1);
	kernel_forget(&f->c, conn_table_find(&f->c.conns, 1));
	kernel_forget(&f->c, conn_table_find(&f->c.conns, 1));
	assert_int_equal(gate_of(f, other), 1);
	assert_true(gated(2));
}

/* Two connections whose ids fall on one line of gate_lines: the first
 * counted there, the second in the hash. User space ends each once, at
 * the key it was counted under, and the count shows both until then. */
static void test_gate_line_and_hash(void **state)
{
	struct fixture *f = *state;
	uint64_t later = 1 + GATE_LINES;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	open_conn(f, later, 6, 0, PROTO_UNKNOWN);
	assert_int_equal(gate_lines[gate_line_index(1)].id, 1);
	assert_non_null(fake_find(KMAP_GATED_IDS, &later));
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_map_entries", 0, "gated_ids") == 2);
	kernel_forget(&f->c, conn_table_find(&f->c.conns, later));
	assert_int_equal(gate_of(f, 6), 0);
	assert_int_equal(gate_of(f, 5), 1);
	assert_true(gated(1));
	kernel_forget(&f->c, conn_table_find(&f->c.conns, 1));
	kernel_forget(&f->c, conn_table_find(&f->c.conns, 1));
	assert_int_equal(gate_of(f, 5), 0);
	assert_int_equal(gate_lines[gate_line_index(1)].id, GATE_LINE_FREE);
	assert_int_equal(gate_held[0], 0);
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_map_entries", 0, "gated_ids") == 0);
}

/* Two sockets of one line of sock_lines: the first's owner there, the
 * second's in the hash. User space forgets each only while its owner is
 * the connection it ends; the count shows both until then. */
static void test_sock_owner_line_and_hash(void **state)
{
	struct fixture *f = *state;
	struct conn_key k1 = key_of(f, 5), k2 = key_of(f, 6);
	uint64_t sk1 = 0x1001, sk2 = sk1 + 1;

	while (sock_line_index(sk2) != sock_line_index(sk1))
		sk2++;
	kernel_sock_put(sk1, &k1);
	kernel_sock_put(sk2, &k2);
	assert_int_equal(sock_lines[sock_line_index(sk1)].sk, sk1);
	assert_non_null(fake_find(KMAP_SOCK_OWNER, &sk2));
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_map_entries", 0, "sock_owner") == 2);
	assert_int_equal(kmaps_sock_owner_forget(&f->km, sk2, &k1), -ENOENT);
	assert_int_equal(kmaps_sock_owner_forget(&f->km, sk2, &k2), 0);
	assert_false(sock_owned(sk2));
	assert_int_equal(kmaps_sock_owner_forget(&f->km, sk1, &k2), -ENOENT);
	assert_true(sock_owned(sk1));
	assert_int_equal(kmaps_sock_owner_forget(&f->km, sk1, &k1), 0);
	assert_false(sock_owned(sk1));
	assert_int_equal(sock_hashed[0], 0);
	assert_int_equal(sock_lines_held[0], 0);
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_map_entries", 0, "sock_owner") == 0);
}

/* ---- the sweep ---- */

struct sock {
	int fd;
	uint64_t ino;
};

static struct sock sock_open(void)
{
	struct sock s = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
	struct stat st;

	assert_true(s.fd >= 0);
	assert_int_equal(fstat(s.fd, &st), 0);
	s.ino = st.st_ino;
	return s;
}

/* The fd still holds the connection's socket: never released. */
static void test_sweep_keeps_open_fd(void **state)
{
	struct fixture *f = *state;
	struct sock s = sock_open();

	open_conn(f, 1, s.fd, s.ino, PROTO_UNKNOWN);
	kernel_close(f, s.fd); /* even with no kernel entry */
	for (int i = 0; i < 3; i++)
		collector_sweep(&f->c, NULL, NULL);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	close(s.fd);
}

/* The fd is gone and the kernel still maps it to the connection: its
 * close() went unseen. Released at once, its kernel entries with it, the
 * exchange under way lost. */
static void test_sweep_releases_closed_unseen(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, GONE_FD, 77, PROTO_UNKNOWN);
	stream(f, 1);
	collector_sweep(&f->c, NULL, NULL);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_false(kernel_has(f, GONE_FD, 1));
	assert_false(sock_owned(0x1001));
	assert_int_equal(gate_of(f, GONE_FD), 0);
	assert_true(LOST_FOR(f, "close_unseen") == 1);
	assert_true(CONNS_ACTIVE(f) == 0);
}

/* A sweep looks at sweep_budget connections, whole buckets, from where
 * the last one stopped: a table larger than that is looked through over
 * several sweeps, each connection in turn. Ids 6 and 5 (open) take the
 * table's first buckets (conn_table.c's hash): a sweep that began from
 * the first bucket each time would never reach the others. */
static void test_sweep_budget(void **state)
{
	struct fixture *f = *state;
	struct sock open[2] = {sock_open(), sock_open()};
	size_t ended[4];

	f->c.sweep_budget = 2;
	for (uint64_t id = 1; id <= 4; id++)
		open_conn(f, id, GONE_FD + (int32_t)id, 77, PROTO_UNKNOWN);
	open_conn(f, 5, open[0].fd, open[0].ino, PROTO_UNKNOWN);
	open_conn(f, 6, open[1].fd, open[1].ino, PROTO_UNKNOWN);
	for (int sweep = 0; sweep < 4; sweep++) {
		collector_sweep(&f->c, NULL, NULL);
		ended[sweep] = 6 - f->c.conns.n;
	}
	assert_int_equal(ended[0], 0); /* 6 and 5 */
	assert_int_equal(ended[1], 2); /* 4 and 3 */
	assert_int_equal(ended[2], 4); /* 2 and 1 */
	assert_int_equal(ended[3], 4);
	assert_non_null(conn_table_find(&f->c.conns, 5));
	assert_non_null(conn_table_find(&f->c.conns, 6));
	close(open[0].fd);
	close(open[1].fd);
}

/* The line of a key whose fd was closed unseen holds a new connection of
 * the same fd by the time user space releases the old one: it stays. */
static void test_release_spares_new_owner_of_line(void **state)
{
	struct fixture *f = *state;
	struct conn_key key = key_of(f, 5);

	open_conn(f, 2, 5, 0, PROTO_UNKNOWN);
	assert_int_equal(kconns_delete(&f->km, &key, 1), -ENOENT);
	assert_true(kernel_has(f, 5, 2));
	assert_int_equal(kconns_delete(&f->km, &key, 2), 0);
	assert_false(kernel_has(f, 5, 2));
}

/* Adopted as its process exited: the exit went by before the process's
 * entry was made, so the sweep removes it, and only for a process gone. */
static void test_sweep_forgets_gone_process(void **state)
{
	struct fixture *f = *state;
	uint32_t gone = 0x3fffffff, alive = f->tgid;
	uint64_t one = 1;

	f->tgid = gone;
	open_conn(f, 1, GONE_FD, 77, PROTO_UNKNOWN);
	f->tgid = alive;
	open_conn(f, 2, GONE_FD, 78, PROTO_UNKNOWN);
	fake_update(NULL, KMAP_TRACKED_PROCS, &gone, &one, KMAP_NOEXIST);
	fake_update(NULL, KMAP_TRACKED_PROCS, &alive, &one, KMAP_NOEXIST);
	collector_sweep(&f->c, NULL, NULL);
	assert_int_equal(f->c.conns.n, 0);
	assert_null(fake_find(KMAP_TRACKED_PROCS, &gone));
	assert_non_null(fake_find(KMAP_TRACKED_PROCS, &alive));
}

/* The kernel saw the close: its record is still on its way behind the
 * stream's last records. The sweep waits, and the close record ends the
 * stream as the server closing it. */
static void test_sweep_waits_for_close_record(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, GONE_FD, 77, PROTO_UNKNOWN);
	stream(f, 1);
	kernel_close(f, GONE_FD);
	collector_sweep(&f->c, NULL, NULL);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	io(f, 1, DIR_OUT, "data: b\n\n");
	close_conn(f, 1, GONE_FD);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(total(f, "sse_chunks_streamed_total", -1, NULL) == 2);
	assert_true(LOST(f) == 0);
}

/* ... and when the close record was lost, the next sweep ends it. */
static void test_sweep_later_when_close_record_lost(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, GONE_FD, 77, PROTO_UNKNOWN);
	stream(f, 1);
	kernel_close(f, GONE_FD);
	collector_sweep(&f->c, NULL, NULL);
	assert_true(LOST(f) == 0);
	collector_sweep(&f->c, NULL, NULL);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_true(LOST_FOR(f, "close_unseen") == 1);
}

/* The fd was reused by a new connection before the old one's close was
 * seen: the old entry goes a sweep later, the kernel's entry, now the new
 * connection's, stays. */
static void test_sweep_fd_reused(void **state)
{
	struct fixture *f = *state;
	struct sock s = sock_open();

	open_conn(f, 1, s.fd, s.ino + 1, PROTO_UNKNOWN);
	open_conn(f, 2, s.fd, s.ino, PROTO_UNKNOWN);
	collector_sweep(&f->c, NULL, NULL);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	collector_sweep(&f->c, NULL, NULL);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_non_null(conn_table_find(&f->c.conns, 2));
	assert_true(kernel_has(f, s.fd, 2));
	assert_true(sock_owned(0x1001));
	close(s.fd);
}

/* Every process with connections gets its bit in the kernel's gate back;
 * bits of other processes stay. */
static void test_sweep_remarks_processes(void **state)
{
	struct fixture *f = *state;
	struct sock s = sock_open();
	uint64_t *word = &procs[f->tgid / 64];
	uint64_t other = 1ull << ((f->tgid + 1) % 64);

	open_conn(f, 1, s.fd, s.ino, PROTO_UNKNOWN);
	*word = other; /* the kernel cleared ours (an exit), set another's */
	collector_sweep(&f->c, NULL, NULL);
	assert_true(*word & (1ull << (f->tgid % 64)));
	assert_true(*word & other);
	close(s.fd);
}

/* ---- a connection changing hands (bpf/handoff.bpf.h) ---- */

/* What the kernel does at a close of fd while another fd keeps the
 * socket: the connection waits in detached, its record says so. */
static void kernel_detach(struct fixture *f, int32_t fd)
{
	struct conn_key key = key_of(f, fd);
	struct conn_info info;
	struct close_event ev;

	kstore_take(&key, &info);
	kernel_sock_drop(info.sk);
	kernel_ungate(f, fd, info.id);
	assert_int_equal(fake_update(NULL, KMAP_DETACHED, &info.sk, &info, KMAP_NOEXIST), 0);
	handoffs[0]++;
	ev = (struct close_event){.h = hdr(f, EV_CLOSE, info.id), .key = key, .detached = 1};
	record(f, &ev, sizeof(ev));
}

/* ... and a call of f->tgid on fd takes it over. */
static void kernel_take_over(struct fixture *f, uint64_t id, int32_t fd)
{
	uint64_t sk = 0x1000 + id;
	struct conn_key key = key_of(f, fd);
	struct handoff_event ev = {.h = hdr(f, EV_HANDOFF, id), .key = key};
	struct conn_info info;

	assert_int_equal(fake_take(NULL, KMAP_DETACHED, &sk, &info), 0);
	handoffs[0]--;
	kernel_gate(&key, id);
	kstore_put(&key, &info);
	kernel_sock_put(sk, &key);
	record(f, &ev, sizeof(ev));
}

static void exit_process(struct fixture *f, uint32_t tgid)
{
	struct exit_event ev = {.h = hdr(f, EV_EXIT, 0)};

	ev.h.tgid = tgid;
	record(f, &ev, sizeof(ev));
}

/* Connection 1's owner writes the rest of its stream, and exits without
 * a close(): records the sweep reads between finding the fd gone and
 * judging it. */
static bool owner_ends_and_exits(void *ctx)
{
	struct fixture *f = ctx;

	io(f, 1, DIR_OUT, KCHUNK KTAIL);
	exit_process(f, f->tgid);
	return false;
}

/* A record still being written holds those after it back: none read. */
static bool records_held_back(void *ctx)
{
	(void)ctx;
	return true;
}

/* The owner finished its stream and exited after the records were last
 * read, before the sweep looked at its fd: read first, they end the
 * exchange whole; none is lost as closed unseen. */
static void test_sweep_reads_records_before_judging(void **state)
{
	struct fixture *f = *state;

	f->cfg.stale_after_s = 60; /* the owner's series outlive its exit */
	open_conn(f, 1, GONE_FD, 77, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, REQUEST);
	io(f, 1, DIR_OUT, KHEAD KCHUNK);
	collector_sweep(&f->c, owner_ends_and_exits, f);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(total(f, "sse_chunks_streamed_total", -1, NULL) == 2);
	assert_true(LOST(f) == 0);
}

/* The same, the owner's last records held back behind one still being
 * written at the first sweep: its fd is judged at the next. */
static void test_sweep_waits_for_held_back_records(void **state)
{
	struct fixture *f = *state;

	f->cfg.stale_after_s = 60;
	open_conn(f, 1, GONE_FD, 77, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, REQUEST);
	io(f, 1, DIR_OUT, KHEAD KCHUNK);
	collector_sweep(&f->c, records_held_back, f);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	assert_true(LOST(f) == 0);
	collector_sweep(&f->c, owner_ends_and_exits, f);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(LOST(f) == 0);
}

/* A forking server: the parent closes its copy mid-stream, the child goes
 * on writing it. The stream is counted once, whole, when the child ends
 * it; the parent's exit is not its end. */
static void test_handoff_stream_counted_once(void **state)
{
	struct fixture *f = *state;
	uint32_t parent = f->tgid;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	kernel_detach(f, 5);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	assert_true(CONNS_ACTIVE(f) == 1);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 0);
	f->tgid = parent + 1;
	kernel_take_over(f, 1, 7);
	io(f, 1, DIR_OUT, "data: b\n\n");
	exit_process(f, parent);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	io(f, 1, DIR_OUT, "data: c\n\n");
	kernel_close(f, 7);
	close_conn(f, 1, 7);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(total(f, "sse_requests_total", -1, NULL) == 1);
	assert_true(total(f, "sse_chunks_streamed_total", -1, NULL) == 3);
	assert_true(LOST(f) == 0);
	assert_true(CONNS_ACTIVE(f) == 0);
	assert_int_equal(f->c.ndetached, 0);
}

/* Taken over before the record of its detaching went out (the close()
 * makes the detached entry, then sends the record): it stays the taker's. */
static void test_handoff_before_detach_record(void **state)
{
	struct fixture *f = *state;
	uint32_t parent = f->tgid;
	struct handoff_event ho;
	struct close_event ev;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	ho = (struct handoff_event){.h = hdr(f, EV_HANDOFF, 1),
				    .key = {.tgid = parent + 1, .fd = 7}};
	record(f, &ho, sizeof(ho));
	ev = (struct close_event){.h = hdr(f, EV_CLOSE, 1), .key = key_of(f, 5), .detached = 1};
	record(f, &ev, sizeof(ev));
	assert_int_equal(f->c.ndetached, 0);
	assert_int_equal(conn_table_find(&f->c.conns, 1)->key.tgid, parent + 1);
}

/* Ended by user space after it changed hands (its new owner's exit): it
 * is uncounted at the gate under the key the kernel counted it under. */
static void test_handoff_uncounted_at_new_key(void **state)
{
	struct fixture *f = *state;
	uint32_t parent = f->tgid;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_detach(f, 5);
	f->tgid = parent + 1;
	kernel_take_over(f, 1, 7);
	assert_int_equal(gate_of(f, 7), 1);
	exit_process(f, parent + 1);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_int_equal(gate_of(f, 7), 0);
	assert_false(kernel_has(f, 7, 1));
	f->tgid = parent;
	assert_int_equal(gate_of(f, 5), 0);
}

/* Its new owner exits without a close() while its first owner still holds
 * the socket (a forking server's child): the socket goes with the last
 * fd, and by the time user space ends the connection its address may be
 * a new one's. That one's sock_owner entry, through which its next owner
 * would take it over, stays. */
static void test_exit_spares_socket_address_reused(void **state)
{
	struct fixture *f = *state;
	uint32_t parent = f->tgid;
	struct conn_key next = {.tgid = parent, .fd = 5}, owner;
	uint64_t sk = 0x1001;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_detach(f, 5);
	f->tgid = parent + 1;
	kernel_take_over(f, 1, 7);
	kernel_sock_put(sk, &next);
	exit_process(f, parent + 1);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_false(kernel_has(f, 7, 1));
	assert_true(kernel_sock_owner(sk, &owner));
	assert_int_equal(owner.tgid, parent);
	assert_int_equal(owner.fd, 5);
}

/* The socket's last fd closed while it waited: the kernel ends it. */
static void test_detached_ended_by_kernel(void **state)
{
	struct fixture *f = *state;
	struct close_event ev;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	kernel_detach(f, 5);
	ev = (struct close_event){.h = hdr(f, EV_CLOSE, 1), .key = {.fd = -1}};
	record(f, &ev, sizeof(ev));
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(CONNS_ACTIVE(f) == 0);
	assert_int_equal(f->c.ndetached, 0);
}

/* Taken by no process for 10 s: given up, counted untracked, what was
 * under way lost; the kernel no longer waits for it. Not before. */
static void test_detached_given_up(void **state)
{
	struct fixture *f = *state;
	uint64_t sk = 0x1001;

	f->ts = mono_ns();
	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_detach(f, 5);
	collector_sweep(&f->c, NULL, NULL);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	f->ts = mono_ns() - 11 * 1000 * MS;
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	stream(f, 2);
	kernel_detach(f, 6);
	collector_sweep(&f->c, NULL, NULL);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	assert_null(conn_table_find(&f->c.conns, 2));
	assert_true(LOST_FOR(f, "close_unseen") == 1);
	assert_int_equal(f->c.untracked, 1);
	assert_int_equal(handoffs[0], 1);
	assert_non_null(fake_find(KMAP_DETACHED, &sk));
	assert_null(fake_find(KMAP_DETACHED, &(uint64_t){0x1002}));
	assert_true(CONNS_ACTIVE(f) == 1);
}

/* Gone from the kernel without its record (lost): a sweep later, ended. */
static void test_detached_gone_unseen(void **state)
{
	struct fixture *f = *state;
	uint64_t sk = 0x1001;

	f->ts = mono_ns();
	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	stream(f, 1);
	kernel_detach(f, 5);
	fake_delete(NULL, KMAP_DETACHED, &sk);
	collector_sweep(&f->c, NULL, NULL);
	assert_non_null(conn_table_find(&f->c.conns, 1));
	collector_sweep(&f->c, NULL, NULL);
	assert_null(conn_table_find(&f->c.conns, 1));
	assert_true(LOST_FOR(f, "close_unseen") == 1);
	assert_int_equal(f->c.untracked, 0);
}

/* ---- the exporter's own gauges ---- */

/* The kernel's counters and the fill of its maps, into the gauges. */
static void test_refresh_self(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = CNT_EVENTS_LOST;
	uint64_t n = 3;

	fake_update(NULL, KMAP_COUNTERS, &idx, &n, KMAP_ANY);
	idx = CNT_KSTREAMS_FULL;
	n = 4;
	fake_update(NULL, KMAP_COUNTERS, &idx, &n, KMAP_ANY);
	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	fake_update(NULL, KMAP_KSTREAMS, &(uint64_t){2}, &(struct kstream){0}, KMAP_ANY);
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_events_lost_total", -1, NULL) == 3);
	assert_true(total(f, "sse_exporter_kernel_stream_fallbacks_total", 0, "map_full") == 4);
	assert_true(total(f, "sse_exporter_map_entries", 0, "conns") == 2);
	assert_true(total(f, "sse_exporter_map_entries", 0, "sock_owner") == 2);
	assert_true(total(f, "sse_exporter_map_entries", 0, "kstreams") == 1);
	assert_true(total(f, "sse_exporter_map_entries", 0, "allowed_ports") == 0);
	assert_true(total(f, "sse_exporter_map_max_entries", 0, "conns") == FAKE_ENTRIES);
	assert_true(total(f, "sse_exporter_map_max_entries", 0, "kstreams") == FAKE_ENTRIES);
}

/* Counters that cannot be read keep their last values (read as 0 they
 * would go backwards); the rest is refreshed, the failure shows. */
static void test_refresh_counters_unreadable(void **state)
{
	struct fixture *f = *state;
	uint32_t idx = CNT_EVENTS_LOST;
	uint64_t n = 3;

	fake_update(NULL, KMAP_COUNTERS, &idx, &n, KMAP_ANY);
	collector_refresh_self(&f->c);
	n = 5;
	fake_update(NULL, KMAP_COUNTERS, &idx, &n, KMAP_ANY);
	lookup_fails[KMAP_COUNTERS] = -EBADF;
	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_events_lost_total", -1, NULL) == 3);
	assert_true(total(f, "sse_exporter_map_entries", 0, "conns") == 1);
	assert_true(total(f, "sse_exporter_map_errors_total", 0, "counters") == 1);
}

/* Failed map writes are counted by map and op; the ops made are exported
 * from zero. */
static void test_map_errors_exported(void **state)
{
	struct fixture *f = *state;
	struct conn_key key = key_of(f, 5);
	struct conn_info info = {.id = 7, .proto = PROTO_ADOPT};

	update_fails[KMAP_CONNS] = -ENOMEM;
	assert_int_equal(kernel_adopt(&f->c, &key, &info), -ENOMEM);
	assert_int_equal(slots[conn_gate_slot(&key)].hashed, 0);
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_exporter_map_errors_total", 0, "conns") == 1);
	assert_true(total(f, "sse_exporter_map_errors_total", 1, "update") == 1);
	assert_true(total(f, "sse_exporter_map_errors_total", -1, NULL) == 1);
	assert_true(family(f, "sse_exporter_map_errors_total")->nseries > 1); /* zeros too */
}

/* ---- streams the kernel counts (include/kstream.h) ---- */

#define KSTREAMS(f)  total(f, "sse_exporter_kernel_streams_total", -1, NULL)
#define FELL(f, why) total(f, "sse_exporter_kernel_stream_fallbacks_total", 0, why)
#define FELL_ALL(f)  total(f, "sse_exporter_kernel_stream_fallbacks_total", -1, NULL)
#define CHUNKS(f)    total(f, "sse_chunks_streamed_total", -1, NULL)
#define STREAMED(f)  total(f, "sse_bytes_streamed_total", -1, NULL)
#define SSE_ALL(f)   total(f, "sse_requests_total", -1, NULL)

/* The kernel's entry of connection id, with what it counted so far; its
 * time of arming kept. */
static void kernel_counts(uint64_t id, const struct sse_stats *st)
{
	struct kstream ks = {.scan = {.framing = SCAN_CHUNKED}};

	fake_lookup(NULL, KMAP_KSTREAMS, &id, &ks);
	ks.stats = *st;
	assert_int_equal(fake_update(NULL, KMAP_KSTREAMS, &id, &ks, KMAP_ANY), 0);
}

/* When the kernel armed connection id's stream. */
static uint64_t kernel_armed_at(uint64_t id)
{
	struct kstream ks;

	assert_int_equal(fake_lookup(NULL, KMAP_KSTREAMS, &id, &ks), 0);
	return ks.t_armed;
}

static bool kernel_counting(uint64_t id)
{
	return fake_find(KMAP_KSTREAMS, &id) != NULL;
}

/* A response head armed the connection: its entry, then the head's copy
 * that tells the start. */
static void kernel_arms(struct fixture *f, uint64_t id, int32_t fd, uint8_t framing,
			const char *head)
{
	struct data_event ev = {.h = hdr(f, EV_DATA, id),
				.fd = fd,
				.dir = DIR_OUT,
				.len = strlen(head),
				.ret = strlen(head),
				.kstart = framing};
	/* armed at the head record's time, as the kernel does */
	struct kstream ks = {.scan = {.framing = framing}, .t_armed = ev.h.ts_ns};

	assert_int_equal(fake_update(NULL, KMAP_KSTREAMS, &id, &ks, KMAP_ANY), 0);
	memcpy(ev.data, head, ev.len);
	record(f, &ev, offsetof(struct data_event, data) + ev.len);
}

/* The end record of connection id's stream (ev: its other fields). */
static void end_record_of(struct fixture *f, uint64_t id, struct kstream_end_event ev)
{
	ev.h = hdr(f, EV_KSTREAM_END, id);
	record(f, &ev, sizeof(ev));
}

static void end_record(struct fixture *f, uint64_t id, int32_t fd, uint8_t reason,
		       uint32_t rest_off, const struct sse_stats *st)
{
	end_record_of(f, id,
		      (struct kstream_end_event){
			  .fd = fd, .rest_off = rest_off, .reason = reason, .stats = *st});
}

/* The kernel's stream ends: its entry goes, its record comes. */
static void kernel_ends(struct fixture *f, uint64_t id, int32_t fd, uint8_t reason,
			uint32_t rest_off, const struct sse_stats *st)
{
	fake_delete(NULL, KMAP_KSTREAMS, &id);
	end_record(f, id, fd, reason, rest_off, st);
}

/* A stream the kernel counts: the request read, the start record, the
 * copy of the head write, which carries the first event. Returns when
 * the request was read. */
static uint64_t kernel_stream(struct fixture *f, uint64_t id, int32_t fd)
{
	uint64_t t_request;

	io(f, id, DIR_IN, REQUEST);
	t_request = f->ts;
	kernel_arms(f, id, fd, SCAN_CHUNKED, KHEAD KCHUNK);
	return t_request;
}

/* A stream the kernel counts on a new connection, ended there: its entry
 * gone, its end record not read (yet, or ever). */
static void kernel_stream_ended(struct fixture *f, uint64_t id, int32_t fd)
{
	open_conn(f, id, fd, 0, PROTO_UNKNOWN);
	kernel_stream(f, id, fd);
	fake_delete(NULL, KMAP_KSTREAMS, &id);
}

/* A write the kernel counted, copied for correlation. */
static void kernel_copy(struct fixture *f, uint64_t id, const char *s)
{
	data(f, id, DIR_OUT, DATA_F_KCOUNTED, (int64_t)strlen(s), 0, 0, s, strlen(s));
}

static struct series *histogram(struct fixture *f, const char *name)
{
	struct family *fam = family(f, name);

	assert_int_equal(fam->nseries, 1);
	return fam->first;
}

#define assert_close(got, want) assert_true(fabs((got) - (want)) < 1e-9)

/* The head's copy makes the exchange the kernel's: the events of the
 * copy are the kernel's to count, not counted again. */
static void test_kernel_stream_head_copy(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, 1, 5);
	assert_true(KSTREAMS(f) == 1);
	assert_true(total(f, "sse_active_connections", -1, NULL) == 1);
	assert_true(kernel_counting(1));
	assert_int_equal(conn_table_find(&f->c.conns, 1)->srv->stream.chunks_pending, 0);
	assert_true(STREAMED(f) == 0);
	assert_int_equal(histogram(f, "sse_chunk_size_bytes")->count, 0);
	close_conn(f, 1, 5); /* the kernel's figures, none, are the stream's */
	assert_true(SSE_ALL(f) == 1);
	assert_true(CHUNKS(f) == 0);
	assert_true(FELL_ALL(f) == 0);
}

/* Three data events (20, 25, 200 bytes; 30 ms, then 3 s apart) and a
 * heartbeat of 8 bytes, the first event at t_first. */
static struct sse_stats three_events(uint64_t t_first)
{
	return (struct sse_stats){
	    .data_events = 3,
	    .heartbeats = 1,
	    .body_bytes = 253,
	    .event_bytes = 253,
	    .t_first_data = t_first,
	    .t_last_event = t_first + 3030 * MS,
	    .t_last_write = t_first + 3030 * MS,
	    .gap_sum_ns = 3030 * MS,
	    .size_sum = 245,
	    .gap = {[4] = 1, [SSE_GAP_BUCKETS] = 1},
	    .size = {[1] = 2, [3] = 1},
	};
}

/* What the stream shows: data events (held until the provider is known),
 * heartbeats, bytes, and the size and gap histograms' counts and sums. */
static void assert_streamed(struct fixture *f, uint64_t chunks, double heartbeats, double bytes,
			    double size_sum, double gap_sum)
{
	struct series *size = histogram(f, "sse_chunk_size_bytes");
	struct series *gap = histogram(f, "sse_inter_chunk_gap_seconds");

	assert_int_equal(conn_table_find(&f->c.conns, 1)->srv->stream.chunks_pending, chunks);
	assert_true(total(f, "sse_heartbeats_total", -1, NULL) == heartbeats);
	assert_true(STREAMED(f) == bytes);
	assert_int_equal(size->count, chunks);
	assert_close(size->sum, size_sum);
	assert_int_equal(gap->count, chunks - 1);
	assert_close(gap->sum, gap_sum);
}

/* The kernel's figures, read at each refresh: each growth added once. */
static void test_kernel_figures_added_once(void **state)
{
	struct fixture *f = *state;
	uint64_t t_request;
	struct sse_stats st;
	struct series *size, *gap, *ttfc;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	t_request = kernel_stream(f, 1, 5);
	st = three_events(t_request + 40 * MS);
	kernel_counts(1, &st);
	collector_refresh_self(&f->c);
	assert_streamed(f, 3, 1, 253, 245, 3.03);
	size = histogram(f, "sse_chunk_size_bytes");
	gap = histogram(f, "sse_inter_chunk_gap_seconds");
	ttfc = histogram(f, "sse_time_to_first_chunk_seconds");
	assert_int_equal(size->buckets[1], 2);
	assert_int_equal(size->buckets[3], 1);
	assert_int_equal(gap->buckets[4], 1);
	assert_int_equal(gap->buckets[SSE_GAP_BUCKETS], 1);
	assert_int_equal(ttfc->count, 1);
	assert_close(ttfc->sum, 0.04);

	/* a 5-byte event 0.5 ms later and a heartbeat */
	st.t_last_event = st.t_last_write += MS / 2;
	st.data_events++;
	st.heartbeats++;
	st.body_bytes = st.event_bytes = 266;
	st.size[0]++;
	st.size_sum += 5;
	st.gap[0]++;
	st.gap_sum_ns += MS / 2;
	kernel_counts(1, &st);
	collector_refresh_self(&f->c);
	assert_streamed(f, 4, 2, 266, 250, 3.0305);
	assert_int_equal(size->buckets[0], 1);
	assert_int_equal(size->buckets[1], 2);
	assert_int_equal(gap->buckets[0], 1);
	assert_int_equal(ttfc->count, 1);

	collector_refresh_self(&f->c);
	assert_streamed(f, 4, 2, 266, 250, 3.0305);
	assert_int_equal(ttfc->count, 1);
	close_conn(f, 1, 5);
	assert_true(CHUNKS(f) == 4);
}

/* The figures of n data events of 9 bytes ("data: a\n\n"). */
static struct sse_stats small_events(uint64_t n)
{
	return (struct sse_stats){.data_events = n,
				  .body_bytes = 9 * n,
				  .event_bytes = 9 * n,
				  .size_sum = 9 * n,
				  .size = {[0] = n},
				  .t_last_write = n * MS};
}

/* Figures are read from the kernel before the lock and added after it:
 * what came in between wins. Read before the stream ended and the next
 * one was armed, they are not the new stream's; read before newer figures
 * were added, they are not added again, nor backwards. */
static void test_kernel_figures_read_unlocked(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(2), final = small_events(3);
	size_t n;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, 1, 5);
	kernel_counts(1, &st);
	n = kstreams_read(&f->c, 0);
	assert_int_equal(n, 1);
	kernel_ends(f, 1, 5, KSTREAM_COMPLETE, 0, &final);
	kernel_stream(f, 1, 5);
	kstreams_apply(&f->c, n, f->ts);
	assert_true(CHUNKS(f) == 3);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_int_equal(conn_table_find(&f->c.conns, 1)->srv->stream.chunks_pending, 0);

	kernel_counts(1, &st);
	n = kstreams_read(&f->c, 0);
	st.data_events++;
	st.t_last_write += MS;
	kernel_counts(1, &st);
	collector_refresh_self(&f->c);
	assert_int_equal(conn_table_find(&f->c.conns, 1)->srv->stream.chunks_pending, 3);
	kstreams_apply(&f->c, n, f->ts);
	assert_int_equal(conn_table_find(&f->c.conns, 1)->srv->stream.chunks_pending, 3);
	collector_refresh_self(&f->c);
	assert_int_equal(conn_table_find(&f->c.conns, 1)->srv->stream.chunks_pending, 3);
}

/* Streams the kernel counts on connections first_id..last_id, each with
 * st counted. */
static void kernel_streams(struct fixture *f, uint64_t first_id, uint64_t last_id,
			   const struct sse_stats *st)
{
	for (uint64_t id = first_id; id <= last_id; id++) {
		open_conn(f, id, (int32_t)id + 4, 0, PROTO_UNKNOWN);
		kernel_stream(f, id, (int32_t)id + 4);
		kernel_counts(id, st);
	}
}

static void assert_pending(struct fixture *f, uint64_t first_id, uint64_t last_id, uint64_t chunks)
{
	for (uint64_t id = first_id; id <= last_id; id++)
		assert_int_equal(conn_table_find(&f->c.conns, id)->srv->stream.chunks_pending,
				 chunks);
}

/* A stream the kernel counts in its line of klines, with figures st, on
 * a new connection id (its fd). with_entry: also in the hash, with st,
 * as one whose line was another's when it was armed. */
static struct kstream *kernel_stream_in_line(struct fixture *f, uint64_t id, int32_t fd,
					     const struct sse_stats *st, bool with_entry)
{
	struct kstream *line = &lines[kline_index(id)];

	open_conn(f, id, fd, 0, PROTO_UNKNOWN);
	kernel_stream(f, id, fd);
	if (with_entry)
		kernel_counts(id, st);
	assert_int_equal(fake_lookup(NULL, KMAP_KSTREAMS, &id, line), 0);
	if (!with_entry)
		fake_delete(NULL, KMAP_KSTREAMS, &id);
	line->id = id;
	line->stats = *st;
	return line;
}

/* Every stream the kernel counts is read, once, wherever it counts: in
 * its line (no entry in the hash) or in the hash (its line another's).
 * The room for their ids grows past its first size (FIGURES_ROOM0). */
static void test_kernel_figures_every_stream(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(2);
	const uint64_t streams = FIGURES_ROOM0 + 2; /* past the first room */
	size_t n;

	kernel_streams(f, 1, 5, &st);
	for (uint64_t id = 6; id <= streams; id++)
		kernel_stream_in_line(f, id, (int32_t)id + 4, &st, false);
	n = kstreams_read(&f->c, 0);
	assert_int_equal(n, streams);
	assert_int_equal(f->c.kread.in_lines, streams - 5);
	collector_refresh_self(&f->c);
	assert_pending(f, 1, streams, 2);
	assert_true(total(f, "sse_exporter_map_entries", 0, "klines") == streams - 5);
	assert_true(total(f, "sse_exporter_map_entries", 0, "kstreams") == 5);
	collector_refresh_self(&f->c);
	assert_pending(f, 1, streams, 2);
}

/* Figures are read and added a batch at a time (of 3 here): every
 * stream's once, those in lines counted over all the batches. */
static void test_kernel_figures_in_batches(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(2);

	f->c.kread.batch = 3;
	kernel_streams(f, 1, 4, &st);
	for (uint64_t id = 5; id <= 7; id++)
		kernel_stream_in_line(f, id, (int32_t)id + 4, &st, false);
	collector_refresh_self(&f->c);
	assert_pending(f, 1, 7, 2);
	assert_true(total(f, "sse_exporter_map_entries", 0, "klines") == 3);
	collector_refresh_self(&f->c);
	assert_pending(f, 1, 7, 2);
}

/* A stream that ends between the read and the adding has its figures
 * from its end record, the read ones not added over them; one armed
 * meanwhile is read at the next refresh. */
static void test_kernel_stream_ends_after_read(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(2), final = small_events(3);
	size_t n;

	kernel_streams(f, 1, 3, &st);
	n = kstreams_read(&f->c, 0);
	assert_int_equal(n, 3);
	kernel_ends(f, 2, 6, KSTREAM_COMPLETE, 0, &final);
	kernel_streams(f, 4, 4, &st);
	kstreams_apply(&f->c, n, f->ts);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(CHUNKS(f) == 3);
	assert_pending(f, 1, 1, 2);
	assert_pending(f, 3, 3, 2);
	assert_pending(f, 4, 4, 0);
	kstreams_refresh(&f->c, f->ts);
	assert_pending(f, 1, 1, 2);
	assert_pending(f, 3, 4, 2);
	assert_true(CHUNKS(f) == 3);
}

/* A stream counting in its line: its figures are read there, not from
 * its entry's copy, and its end gives the line up with the entry. */
static void test_kernel_figures_in_line(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(2);
	struct kstream *line = kernel_stream_in_line(f, 1, 5, &st, false);

	collector_refresh_self(&f->c);
	assert_int_equal(conn_table_find(&f->c.conns, 1)->srv->stream.chunks_pending, 2);
	close_conn(f, 1, 5);
	assert_true(SSE_ALL(f) == 1);
	assert_true(CHUNKS(f) == 2);
	assert_false(kernel_counting(1));
	assert_int_equal(line->id, 0);
}

/* A line another connection's stream took is not given up with the
 * stream that held it before: only the line's own id frees it. */
static void test_kernel_line_of_another_kept(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(2);
	struct kstream *line = kernel_stream_in_line(f, 1, 5, &st, true);

	line->id = 1 + KLINES; /* the same line, another connection's */
	close_conn(f, 1, 5);
	assert_true(CHUNKS(f) == 2); /* from its entry */
	assert_false(kernel_counting(1));
	assert_int_equal(line->id, 1 + KLINES);
}

/* The body ends in a write that carries the next response too: its end
 * record, then the copy of that write, the body's tail first. */
static void end_before_next_response(struct fixture *f, uint64_t id, int32_t fd, const char *tail,
				     const struct sse_stats *st)
{
	char w[2 * CAPTURE_SEG_MAX];

	kernel_stream(f, id, fd);
	io(f, id, DIR_IN, GET); /* pipelined */
	kernel_ends(f, id, fd, KSTREAM_COMPLETE, strlen(tail), st);
	snprintf(w, sizeof(w), "%s%s", tail, OK_SHORT);
	io(f, id, DIR_OUT, w);
}

/* The end record's figures end the stream, once; the write's copy is
 * read from where the body ended, in its first record or a later one. */
static void test_kernel_end_then_next_response(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(2);
	char long_tail[CAPTURE_SEG_MAX + 100];

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	end_before_next_response(f, 1, 5, KTAIL, &st);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(CHUNKS(f) == 2);
	assert_int_equal(histogram(f, "sse_chunk_size_bytes")->count, 2);
	assert_true(STREAMED(f) == 18);
	assert_true(HTTP_REQUESTS(f) == 2); /* the stream's, then the next */
	assert_true(LOST(f) == 0);
	assert_true(FELL_ALL(f) == 0);
	close_conn(f, 1, 5);
	assert_true(SSE_ALL(f) == 1);

	memset(long_tail, 'x', sizeof(long_tail));
	strcpy(long_tail + sizeof(long_tail) - sizeof(KTAIL), KTAIL);
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	end_before_next_response(f, 2, 6, long_tail, &st);
	assert_true(SSE_ENDED(f, "success") == 2);
	assert_true(HTTP_REQUESTS(f) == 4);
	assert_true(LOST(f) == 0);
}

/* A plain response after a stream the kernel counted, on the same
 * connection, its copy behind the client's FIN (as in
 * test_response_copy_after_peer_fin): the end record's count of the
 * bytes that left no copy places the FIN after the response, which was
 * answered, not abandoned. */
static void test_response_copy_after_peer_fin_kernel_stream(void **state)
{
	struct fixture *f = *state;
	const char *counted = KCHUNK KTAIL; /* written after the head's copy */
	uint64_t id = 1;

	f->seq0 = UINT32_MAX - 10;
	open_conn(f, id, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, id, 5);
	fake_delete(NULL, KMAP_KSTREAMS, &id);
	end_record_of(f, id,
		      (struct kstream_end_event){.fd = 5,
						 .reason = KSTREAM_COMPLETE,
						 .wire_out = strlen(counted),
						 .stats = small_events(2)});
	io(f, id, DIR_IN, GET);
	peer_fin(f, id, strlen(KHEAD KCHUNK) + strlen(counted) + strlen(OK_SHORT));
	assert_true(HTTP_REQUESTS(f) == 1); /* the stream's */
	io(f, id, DIR_OUT, OK_SHORT);
	data(f, id, DIR_IN, DATA_F_EOF, 0, 0, 0, "", 0);
	close_conn(f, id, 5);
	assert_true(HTTP_REQUESTS(f) == 2);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(LOST(f) == 0);
}

/* The client read the head of a stream the kernel counts and left
 * before the head write's exit ran: the FIN's record, whose write
 * sequence holds the head, comes before the head's copy, which arms.
 * The request was answered: client_closed, code 200, at first_byte,
 * once the kernel's figures are read (KLEFT_GRACE_NS after the FIN). */
static void test_head_copy_after_peer_fin_kernel_stream(void **state)
{
	struct fixture *f = *state;
	uint64_t id = 1;

	uint64_t t_fin;

	open_conn(f, id, 5, 0, PROTO_UNKNOWN);
	io(f, id, DIR_IN, REQUEST);
	peer_fin(f, id, strlen(KHEAD));
	t_fin = f->ts;
	kernel_arms(f, id, 5, SCAN_CHUNKED, KHEAD);
	assert_true(SSE_ALL(f) == 0);
	kstreams_refresh(&f->c, t_fin + KLEFT_GRACE_NS);
	assert_true(SSE_ENDED(f, "client_closed") == 1);
	assert_true(total(f, "sse_requests_total", 5, "200") == 1);
	assert_true(total(f, "sse_errors_total", 2, "first_byte") == 1);
	assert_true(CHUNKS(f) == 0);
	assert_true(LOST(f) == 0);
}

/* The kernel gave the stream of a new connection up: the exchange is
 * lost; the write it gave up in comes whole, and the next response line
 * resynchronises. */
static void kernel_gives_up(struct fixture *f, uint64_t id, int32_t fd, uint8_t reason)
{
	open_conn(f, id, fd, 0, PROTO_UNKNOWN);
	kernel_stream(f, id, fd);
	kernel_ends(f, id, fd, reason, 0, &(struct sse_stats){.data_events = 1});
	io(f, id, DIR_OUT, "zz\r\ndata: b\n\n\r\n");
	io(f, id, DIR_IN, GET);
	io(f, id, DIR_OUT, OK_SHORT);
}

static void test_kernel_gives_up(void **state)
{
	struct fixture *f = *state;

	kernel_gives_up(f, 1, 5, KSTREAM_FRAMING);
	assert_true(LOST_FOR(f, "framing") == 1);
	assert_true(FELL(f, "framing") == 1);
	kernel_gives_up(f, 2, 6, KSTREAM_UNFOLLOWED);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(FELL(f, "unfollowed") == 1);
	assert_true(FELL_ALL(f) == 2);
	assert_true(SSE_ALL(f) == 0);
	assert_true(HTTP_REQUESTS(f) == 4); /* two streams' heads, two answers after */
}

/* A HEAD request on a new connection: user space reads the armed head
 * as a response without a body. The kernel's stream is given up; the next writes are copies
 * read as usual, not an end record lost. Unless user space gave it up
 * first, the kernel reads the next response as the body, whose framing
 * breaks: that end is no fallback of its own. */
static void answer_head(struct fixture *f, uint64_t id, int32_t fd, bool kernel_reads_on)
{
	open_conn(f, id, fd, 0, PROTO_UNKNOWN);
	io(f, id, DIR_IN, "HEAD /s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
	kernel_arms(f, id, fd, SCAN_CHUNKED, KHEAD);
	assert_false(kernel_counting(id));
	io(f, id, DIR_IN, GET);
	if (kernel_reads_on)
		kernel_ends(f, id, fd, KSTREAM_FRAMING, 0, &(struct sse_stats){0});
	io(f, id, DIR_OUT, OK_SHORT);
}

static void test_kernel_disagreement(void **state)
{
	struct fixture *f = *state;

	answer_head(f, 1, 5, false);
	answer_head(f, 2, 6, true);
	assert_true(FELL(f, "disagreement") == 2);
	assert_true(FELL_ALL(f) == 2);
	assert_true(KSTREAMS(f) == 0);
	assert_true(HTTP_REQUESTS(f) == 4);
	assert_true(LOST(f) == 0);
}

/* A head that armed a stream on a connection user space does not read
 * as a server's (unknown here: its open record lost) lets the kernel's
 * entry go at once; the copy itself is dropped, as any of it. */
static void test_kernel_start_unfollowed(void **state)
{
	struct fixture *f = *state;

	kernel_arms(f, 7, 5, SCAN_CHUNKED, KHEAD KCHUNK);
	assert_false(kernel_counting(7));
	assert_true(KSTREAMS(f) == 0);
	assert_true(HTTP_REQUESTS(f) == 0);
}

/* The end record was lost: a write copied whole shows it. The exchange
 * is lost, the copy read as the next response. A failed write is no
 * copy: the client left. */
static void test_kernel_end_lost(void **state)
{
	struct fixture *f = *state;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, 1, 5);
	io(f, 1, DIR_IN, GET);
	fake_delete(NULL, KMAP_KSTREAMS, &(uint64_t){1}); /* ended, its record lost */
	io(f, 1, DIR_OUT, OK_SHORT);
	assert_true(FELL(f, "end_lost") == 1);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(HTTP_REQUESTS(f) == 2);

	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	kernel_stream(f, 2, 6);
	data(f, 2, DIR_OUT, DATA_F_ERROR, -EPIPE, 0, 0, "", 0);
	assert_true(FELL(f, "end_lost") == 1);
	assert_true(SSE_ENDED(f, "client_closed") == 1);
	assert_false(kernel_counting(2));
	assert_true(LOST(f) == 1);
}

/* The end record was lost and the next response armed the connection
 * again: the first stream is lost, the second is the kernel's. */
static void test_kernel_end_lost_then_next_stream(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, 1, 5);
	fake_delete(NULL, KMAP_KSTREAMS, &(uint64_t){1}); /* ended, its record lost */
	kernel_stream(f, 1, 5);
	assert_true(FELL(f, "end_lost") == 1);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(KSTREAMS(f) == 2);
	assert_true(kernel_counting(1));
	kernel_copy(f, 1, KCHUNK);
	st = small_events(2);
	kernel_counts(1, &st);
	close_conn(f, 1, 5);
	assert_true(FELL_ALL(f) == 1);
	assert_true(SSE_ALL(f) == 1);
	assert_true(CHUNKS(f) == 2);
}

/* Records lost while the kernel counts: if it still has the stream, they
 * were others' (a request read) and the stream goes on in the kernel; if
 * it ended the stream, its end record was one of them: the exchange is
 * lost, not ended with the figures read last. */
static void test_kernel_gap(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(2);

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, 1, 5);
	gap_io(f, 1, DIR_IN, GET_B); /* pipelined */
	assert_true(kernel_counting(1));
	kernel_ends(f, 1, 5, KSTREAM_COMPLETE, 0, &st);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(LOST(f) == 0);
	assert_true(FELL_ALL(f) == 0);

	kernel_stream_ended(f, 2, 6); /* its record lost */
	close_record(f, 2, 6, true);
	assert_true(FELL(f, "end_lost") == 1);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(SSE_ENDED(f, "success") == 1);
}

/* The kernel ends a stream at its last write's exit: the client may
 * have read the body's end and left by then (or the server may end the
 * body after the client left), its FIN or EOF seen before the end record,
 * the entry gone. The stream ends with that record's figures, as the
 * client's leaving; the owner's closing, as the record says. An entry
 * armed since is a pipelined next response's, not read; a close before
 * the end record loses the exchange, counted. */
static void test_kernel_end_after_client_left(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(3);
	struct kstream next = {.scan = {.framing = SCAN_CHUNKED}};

	kernel_stream_ended(f, 1, 5);
	sock_state(f, 1, TCP_ESTABLISHED, TCP_CLOSE_WAIT);
	assert_true(SSE_ALL(f) == 0);
	end_record(f, 1, 5, KSTREAM_COMPLETE, 0, &st);
	kernel_stream_ended(f, 2, 6);
	data(f, 2, DIR_IN, DATA_F_EOF, 0, 0, 0, "", 0);
	end_record(f, 2, 6, KSTREAM_COMPLETE, 0, &st);
	assert_true(SSE_ENDED(f, "client_closed") == 2);
	assert_true(CHUNKS(f) == 6);
	kernel_stream_ended(f, 3, 7);
	data(f, 3, DIR_OUT, DATA_F_CLOSING, 0, 0, 0, "", 0);
	end_record(f, 3, 7, KSTREAM_COMPLETE, 0, &st);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(CHUNKS(f) == 9);

	open_conn(f, 4, 8, 0, PROTO_UNKNOWN);
	kernel_stream(f, 4, 8);
	io(f, 4, DIR_IN, REQUEST); /* pipelined, then the client's FIN */
	next.t_armed = f->ts + 1;
	assert_int_equal(fake_update(NULL, KMAP_KSTREAMS, &(uint64_t){4}, &next, KMAP_ANY), 0);
	sock_state(f, 4, TCP_ESTABLISHED, TCP_CLOSE_WAIT);
	assert_true(kernel_counting(4));
	end_record(f, 4, 8, KSTREAM_COMPLETE, 0, &st);
	assert_true(SSE_ENDED(f, "client_closed") == 4); /* and the request unanswered */
	assert_true(CHUNKS(f) == 12);
	kernel_arms(f, 4, 8, SCAN_CHUNKED, KHEAD KCHUNK);
	close_conn(f, 4, 8);
	assert_false(kernel_counting(4));
	assert_true(FELL_ALL(f) == 0);
	assert_true(LOST(f) == 0);

	kernel_stream_ended(f, 5, 9);
	close_conn(f, 5, 9);
	assert_true(FELL(f, "end_lost") == 1);
	assert_true(LOST_FOR(f, "bytes_missed") == 1);
	assert_true(SSE_ALL(f) == 5);

	/* the client had the whole body when it left: the race alone put
	 * its FIN first */
	kernel_stream_ended(f, 6, 10);
	sock_state(f, 6, TCP_ESTABLISHED, TCP_CLOSE_WAIT);
	end_record_of(f, 6,
		      (struct kstream_end_event){
			  .fd = 10, .reason = KSTREAM_COMPLETE, .peer_had_all = 1, .stats = st});
	assert_true(SSE_ENDED(f, "success") == 2);
	assert_true(SSE_ENDED(f, "client_closed") == 4);
	assert_true(CHUNKS(f) == 15);
}

/* The body's last write, as the kernel handles it at its exit: counted
 * into the stream's entry if there is one (ending the stream if it ends
 * the body, the client having acknowledged it all), else copied, the
 * stream given up by user space. */
static void last_write(struct fixture *f, uint64_t id, const char *bytes, bool ends,
		       const struct sse_stats *st)
{
	if (!kernel_counting(id)) {
		io(f, id, DIR_OUT, bytes);
		return;
	}
	kernel_counts(id, st);
	if (!ends)
		return;
	fake_delete(NULL, KMAP_KSTREAMS, &id);
	end_record_of(f, id,
		      (struct kstream_end_event){
			  .reason = KSTREAM_COMPLETE, .peer_had_all = 1, .stats = *st});
}

/* The stream's duration so far: the sum of sse_stream_duration_seconds. */
static double streamed_for(struct fixture *f)
{
	struct family *fam = family(f, "sse_stream_duration_seconds");

	return fam->first ? fam->first->sum : 0;
}

/* The server's last write went out, the client read it and left, and
 * its FIN, reset or EOF reached user space before that write's exit probe
 * ran: the kernel still counts the write. The kernel's entry stays until
 * no write of the stream can be under way: the stream's end record, the
 * owner's failed write or its close. The exchange then ends as the
 * client's leaving, at its time, with every event; as complete if the
 * write ended the body the client had whole. */
static void test_kernel_last_write_after_client_left(void **state)
{
	struct fixture *f = *state;
	struct sse_stats two = small_events(2), three = small_events(3);
	uint64_t t_headers, t_left;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, 1, 5);
	t_headers = f->ts;
	kernel_counts(1, &two);
	sock_state(f, 1, TCP_ESTABLISHED, TCP_CLOSE_WAIT);
	t_left = f->ts;
	assert_true(kernel_counting(1));
	assert_true(SSE_ALL(f) == 0);
	last_write(f, 1, KCHUNK, false, &three);
	close_conn(f, 1, 5);
	assert_true(SSE_ENDED(f, "client_closed") == 1);
	assert_true(CHUNKS(f) == 3);
	assert_close(streamed_for(f), (double)(t_left - t_headers) / 1e9);
	assert_false(kernel_counting(1));

	open_conn(f, 2, 6, 0, PROTO_UNKNOWN); /* Node's res.end(data) */
	kernel_stream(f, 2, 6);
	kernel_counts(2, &two);
	sock_state(f, 2, TCP_ESTABLISHED, TCP_CLOSE_WAIT);
	last_write(f, 2, KCHUNK KTAIL, true, &three);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(CHUNKS(f) == 6);

	open_conn(f, 3, 7, 0, PROTO_UNKNOWN);
	kernel_stream(f, 3, 7);
	kernel_counts(3, &two);
	data(f, 3, DIR_IN, DATA_F_EOF, 0, 0, 0, "", 0);
	last_write(f, 3, KCHUNK, false, &three);
	data(f, 3, DIR_OUT, DATA_F_ERROR, -EPIPE, 0, 0, "", 0); /* the next write */
	assert_false(kernel_counting(3));
	assert_true(SSE_ENDED(f, "client_closed") == 2);
	assert_true(CHUNKS(f) == 9);

	open_conn(f, 4, 8, 0, PROTO_UNKNOWN);
	kernel_stream(f, 4, 8);
	kernel_counts(4, &two);
	sock_state(f, 4, TCP_ESTABLISHED, TCP_CLOSE); /* a reset */
	last_write(f, 4, KCHUNK, false, &three);
	close_conn(f, 4, 8);
	assert_true(SSE_ALL(f) == 4);
	assert_true(CHUNKS(f) == 12);
	assert_true(FELL_ALL(f) == 0);
	assert_true(LOST(f) == 0);
}

/* A server that neither writes nor closes after its client left: the
 * stream ends as the client's leaving once KLEFT_GRACE_NS passed, at the
 * next reading of the kernel's figures, not before. */
static void test_kernel_client_left_server_silent(void **state)
{
	struct fixture *f = *state;
	struct sse_stats two = small_events(2);
	uint64_t t_left;
	size_t n;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, 1, 5);
	kernel_counts(1, &two);
	sock_state(f, 1, TCP_ESTABLISHED, TCP_CLOSE_WAIT);
	t_left = f->ts;
	n = kstreams_read(&f->c, 0);
	kstreams_apply(&f->c, n, t_left + KLEFT_GRACE_NS - 1);
	assert_true(SSE_ALL(f) == 0);
	assert_true(kernel_counting(1));
	n = kstreams_read(&f->c, 0);
	kstreams_apply(&f->c, n, t_left + KLEFT_GRACE_NS);
	assert_true(SSE_ENDED(f, "client_closed") == 1);
	assert_true(CHUNKS(f) == 2);
	assert_false(kernel_counting(1));
	close_conn(f, 1, 5);
	assert_true(SSE_ALL(f) == 1);
	assert_true(LOST(f) == 0);
}

/* A close while the kernel counts: its last figures are the stream's,
 * whose body the close delimits. */
static void test_kernel_close_reads_figures(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st = small_events(3);

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, REQUEST);
	kernel_arms(f, 1, 5, SCAN_CLOSE, SSE_HEAD "data: a\n\n");
	assert_true(KSTREAMS(f) == 1);
	kernel_counts(1, &st);
	close_conn(f, 1, 5);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(CHUNKS(f) == 3);
	assert_true(STREAMED(f) == 27);
	assert_int_equal(histogram(f, "sse_chunk_size_bytes")->count, 3);
	assert_false(kernel_counting(1));
}

/* A close while the kernel holds an event, its blank line's CR the last
 * byte so far (an LF may follow): not in the figures read before, ended
 * by the close, at its CR's time, once. */
static void test_kernel_close_ends_held_event(void **state)
{
	struct fixture *f = *state;
	struct kstream ks = {
	    .scan = {.framing = SCAN_CLOSE,
		     .flags = SCAN_STARTED | SCAN_SAW_CR | SCAN_HELD | SCAN_HAS_DATA,
		     .event_bytes = 10,
		     .t_held = 1010 * MS},
	    .stats = small_events(2)};
	struct series *size, *gap;

	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	io(f, 1, DIR_IN, REQUEST);
	kernel_arms(f, 1, 5, SCAN_CLOSE, SSE_HEAD "data: a\n\n");
	ks.stats.body_bytes += 10; /* "data: b\r\n\r" */
	ks.stats.t_first_data = ks.stats.t_last_event = 1000 * MS;
	ks.stats.t_last_write = 1010 * MS;
	ks.t_armed = kernel_armed_at(1);
	assert_int_equal(fake_update(NULL, KMAP_KSTREAMS, &(uint64_t){1}, &ks, KMAP_ANY), 0);
	collector_refresh_self(&f->c);
	size = histogram(f, "sse_chunk_size_bytes");
	gap = histogram(f, "sse_inter_chunk_gap_seconds");
	assert_int_equal(size->count, 2);
	assert_int_equal(gap->count, 0);
	close_conn(f, 1, 5);
	assert_true(SSE_ENDED(f, "success") == 1);
	assert_true(CHUNKS(f) == 3);
	assert_true(STREAMED(f) == 28);
	assert_int_equal(size->count, 3);
	assert_close(size->sum, 28);
	assert_int_equal(size->buckets[0], 3);
	assert_int_equal(gap->count, 1);
	assert_close(gap->sum, 0.01);
	assert_false(kernel_counting(1));
}

/* The copies of a stream's first writes name its provider, by an event an
 * upstream call delivered; their events are counted by the kernel only. */
static void test_kernel_copies_correlate(void **state)
{
	struct fixture *f = *state;
	struct sse_stats st;
	struct conn_entry *e;

	f->role = ROLE_CLIENT;
	open_conn(f, 2, 6, 0, PROTO_UNKNOWN);
	io(f, 2, DIR_OUT,
	   "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
	   "Content-Length: 2\r\n\r\n{}");
	io(f, 2, DIR_IN, SSE_HEAD "data: u1\n\n");
	f->role = ROLE_SERVER;
	open_conn(f, 1, 5, 0, PROTO_UNKNOWN);
	kernel_stream(f, 1, 5);
	e = conn_table_find(&f->c.conns, 1);
	assert_null(e->srv->stream.provider); /* "data: a" was no upstream's */
	kernel_copy(f, 1, "a\r\ndata: u1\n\n\r\n");
	assert_non_null(e->srv->stream.provider);
	assert_string_equal(e->srv->stream.provider, "openai");
	assert_true(CHUNKS(f) == 0);
	assert_int_equal(histogram(f, "sse_chunk_size_bytes")->count, 0);
	st = small_events(2);
	kernel_counts(1, &st);
	collector_refresh_self(&f->c);
	assert_true(total(f, "sse_chunks_streamed_total", 2, "openai") == 2);
	assert_true(CHUNKS(f) == 2);
	assert_int_equal(histogram(f, "sse_chunk_size_bytes")->count, 2);
}

/* ---- exec ---- */

static void exec_record(struct fixture *f, uint32_t tgid)
{
	struct exec_event ev = {.h = hdr(f, EV_EXEC, 0)};

	ev.h.tgid = tgid;
	record(f, &ev, sizeof(ev));
}

/* Executables are handed over after the batch, once each, for the TLS
 * attach that must not run under the lock. */
static void test_exec_queued_for_tls(void **state)
{
	struct fixture *f = *state;
	const pid_t *pids;
	size_t n;

	f->cfg.tls = true;
	f->cfg.tls_scan_interval_s = 5;
	for (uint32_t tgid = 100; tgid < 200; tgid++)
		exec_record(f, tgid);
	pids = collector_take_execs(&f->c, &n);
	assert_int_equal(n, 100);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pids[i], 100 + i);
	collector_take_execs(&f->c, &n);
	assert_int_equal(n, 0);
}

static void test_exec_without_tls_not_queued(void **state)
{
	struct fixture *f = *state;
	size_t n;

	f->cfg.tls = true; /* --tls.scan-interval=0: no attach after start */
	exec_record(f, 100);
	f->cfg.tls = false;
	f->cfg.tls_scan_interval_s = 5;
	exec_record(f, 101);
	collector_take_execs(&f->c, &n);
	assert_int_equal(n, 0);
}

/* With a selection, an exec'd process is selected or unselected by the
 * rules. */
static void test_exec_selects(void **state)
{
	struct fixture *f = *state;
	uint32_t chosen = 4242, other = 4243;
	uint8_t one = 1;

	f->cfg.pids[f->cfg.npids++] = (pid_t)chosen;
	fake_update(NULL, KMAP_ALLOWED_TGIDS, &other, &one, KMAP_ANY);
	exec_record(f, chosen);
	exec_record(f, other);
	assert_non_null(fake_find(KMAP_ALLOWED_TGIDS, &chosen));
	assert_null(fake_find(KMAP_ALLOWED_TGIDS, &other));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_open_then_close),
	    T(test_served_state_only_for_http_servers),
	    T(test_close_ends_stream),
	    T(test_records_after_close_ignored),
	    T(test_peer_fin_or_reset_ends_stream),
	    T(test_copy_after_peer_fin_counted),
	    T(test_response_copy_after_peer_fin),
	    T(test_peer_fin_copies_in_or_grace),
	    T(test_exit_ends_process),
	    T(test_peer_fin_after_gap_loses_stream),
	    T(test_records_whole),
	    T(test_gap_in_length_body_skipped),
	    T(test_tail_lost_skipped_at_next_syscall),
	    T(test_gap_in_stream_loses_exchange),
	    T(test_record_out_of_place_dropped),
	    T(test_gap_in_stream),
	    T(test_gap_in_request_head),
	    T(test_gap_loses_unanswered_request),
	    T(test_gap_before_end),
	    T(test_sendfile_body_skipped),
	    T(test_eof_epipe_reset),
	    T(test_adopted_stream),
	    T(test_adopted_not_http),
	    T(test_adopted_client_not_http_left_alone),
	    T(test_adopted_upstream_marks_process),
	    T(test_adopted_tls_stays_tls),
	    T(test_redis_metrics),
	    T(test_redis_produce_outstanding),
	    T(test_redis_gap_in_value),
	    T(test_redis_records_lost),
	    T(test_redis_not_resp),
	    T(test_redis_adopted),
	    T(test_unix_client),
	    T(test_unix_adopted_redis_only),
	    T(test_adopt_counted_at_gate),
	    T(test_adopt_of_kernel_entry_uncounted),
	    T(test_slot_shared_line_and_hash),
	    T(test_map_missing_from_build),
	    T(test_adopt_without_room_not_made),
	    T(test_forget_uncounts),
	    T(test_uncounted_once),
	    T(test_sweep_keeps_open_fd),
	    T(test_sweep_releases_closed_unseen),
	    T(test_sweep_reads_records_before_judging),
	    T(test_sweep_waits_for_held_back_records),
	    T(test_sweep_budget),
	    T(test_sweep_waits_for_close_record),
	    T(test_sweep_later_when_close_record_lost),
	    T(test_sweep_fd_reused),
	    T(test_sweep_remarks_processes),
	    T(test_release_spares_new_owner_of_line),
	    T(test_adopt_into_hash_counted),
	    T(test_sweep_forgets_gone_process),
	    T(test_gate_line_and_hash),
	    T(test_sock_owner_line_and_hash),
	    T(test_handoff_stream_counted_once),
	    T(test_handoff_uncounted_at_new_key),
	    T(test_handoff_before_detach_record),
	    T(test_exit_spares_socket_address_reused),
	    T(test_detached_ended_by_kernel),
	    T(test_detached_given_up),
	    T(test_detached_gone_unseen),
	    T(test_refresh_self),
	    T(test_refresh_counters_unreadable),
	    T(test_map_errors_exported),
	    T(test_kernel_stream_head_copy),
	    T(test_kernel_figures_added_once),
	    T(test_kernel_figures_read_unlocked),
	    T(test_kernel_figures_every_stream),
	    T(test_kernel_figures_in_batches),
	    T(test_kernel_stream_ends_after_read),
	    T(test_kernel_figures_in_line),
	    T(test_kernel_line_of_another_kept),
	    T(test_kernel_end_then_next_response),
	    T(test_response_copy_after_peer_fin_kernel_stream),
	    T(test_head_copy_after_peer_fin_kernel_stream),
	    T(test_kernel_gives_up),
	    T(test_kernel_disagreement),
	    T(test_kernel_start_unfollowed),
	    T(test_kernel_end_lost),
	    T(test_kernel_end_lost_then_next_stream),
	    T(test_kernel_gap),
	    T(test_kernel_end_after_client_left),
	    T(test_kernel_last_write_after_client_left),
	    T(test_kernel_client_left_server_silent),
	    T(test_kernel_close_reads_figures),
	    T(test_kernel_close_ends_held_event),
	    T(test_kernel_copies_correlate),
	    T(test_exec_queued_for_tls),
	    T(test_exec_without_tls_not_queued),
	    T(test_exec_selects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
