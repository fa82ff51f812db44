/* SPDX-License-Identifier: MIT */
/*
 * The connections followed now, by the id the kernel gave each at accept
 * or connect (unique for the exporter's life: a reused fd or pid is a new
 * id). An entry holds all user space knows of one connection: its HTTP
 * or Redis state, the syscall whose records are arriving, its stream's
 * series.
 */
#ifndef SSE_CONN_TABLE_H
#define SSE_CONN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn_event.h"
#include "ident/proc.h"
#include "llm/correlate.h"
#include "llm/upstream.h"
#include "metrics/metrics.h"
#include "proto/http_conn.h"
#include "track/targets.h"
#include "track/tentative_write.h"

struct collector;
struct redis_track;

/* What a server's connection needs once it shows HTTP, apart from its
 * parser: allocated with it, as most connections never do (clients, other
 * protocols), and this is 488 of the 704 bytes an entry took with it. */
struct conn_served {
	/* the stream's series and its upstream provider */
	struct metrics_stream stream;
	struct correlation corr;
	/* a stream the kernel counts (track/kstreams.h): when it was armed,
	 * its figures added to the metrics so far, whether its head is still
	 * to be parsed, and the bytes of the next write that belonged to its
	 * body */
	uint64_t kt_armed;
	struct sse_stats kseen;
	bool kpending;
	uint32_t kskip;
	/* the connection's out_known when it was armed: its end record
	 * brings the bytes of the writes the kernel counted, and with them
	 * the sum of bytes written back (a gap since clears it) */
	bool kout_known;
	/* the client left while the kernel counted the stream, or it or
	 * the owner left before the end record of the stream the kernel had
	 * ended: how and when (kleft_ts 0: not), the exchange closed so once
	 * the kernel's last figures are in, or KLEFT_GRACE_NS after */
	enum http_end kleft;
	uint64_t kleft_ts;
	/* the bytes its owner had written when the client's FIN came
	 * (fin_known: told by the kernel; track/kstreams.h) */
	uint32_t fin_out;
	bool fin_known;
};

struct conn_entry {
	struct conn_entry *next;
	struct collector *c;
	struct conn_key key;
	struct conn_info info;
	struct target *target;	   /* who owns it; its key is the series' target */
	struct http_conn *http;	   /* only once the connection shows HTTP */
	struct redis_track *redis; /* or Redis commands (track/redis_track.h) */
	struct conn_addr remote;
	struct conn_served *srv; /* a server's, with http */
	/* client: the calls it carries, and whether the server's FIN came
	 * before the owner closed (the server ended it, not the caller) */
	struct upstream_call *up;
	bool peer_fin;
	/* an accepted TCP connection's: its socket's write sequence at
	 * accept and the bytes its owner wrote since, by the records of its
	 * writes (out_known: every write's record came and carried them) */
	uint32_t out_seq0;
	uint32_t out_bytes;
	bool out_known;
	/* the syscall whose records are arriving */
	int64_t sys_ret;
	uint64_t sys_fed;
	uint8_t sys_dir;
	bool sys_open;
	struct tentative_write tentative; /* a TLS write that may be retried */
	/* sweeps that found the fd gone after the kernel saw it closed, or
	 * the connection no longer between owners in the kernel */
	uint8_t sweeps_gone;
	/* when its owner closed its fd while another fd kept the socket
	 * (bpf/handoff.bpf.h); 0 while a process owns it (key) */
	uint64_t detached_ns;
};

struct conn_table {
	struct conn_entry **by_id; /* buckets of chained entries */
	size_t size;		   /* buckets */
	size_t n;		   /* entries */
	size_t peak;		   /* most entries since conn_table_shrunk() */
};

int conn_table_init(struct conn_table *t, size_t size);
/* Frees every entry, then the table. */
void conn_table_free(struct conn_table *t);

struct conn_entry *conn_table_find(const struct conn_table *t, uint64_t id);

/* A zeroed entry with key and info; NULL when the id is in the table
 * already (ids are unique: a duplicate is a bug upstream) or memory ran
 * out. */
struct conn_entry *conn_table_add(struct conn_table *t, const struct conn_key *key,
				  const struct conn_info *info);

/* Whether at least n entries went since the last call that said so:
 * their memory is worth giving back. */
bool conn_table_shrunk(struct conn_table *t, size_t n);

/* Whether e's bytes are parsed: it showed HTTP or Redis. */
static inline bool conn_followed(const struct conn_entry *e)
{
	return e->http || e->redis;
}

/* Frees e's HTTP state: a server's conn_served, a client's upstream
 * call. */
void conn_drop_http(struct conn_entry *e);

/* Unlinks e and frees it with all it holds. */
void conn_table_remove(struct conn_table *t, struct conn_entry *e);

/* Every entry as e (n: the next one, b: the bucket); the body may remove
 * e, no other entry. */
#define conn_table_for_each(t, b, e, n)                                                            \
	for ((b) = 0; (b) < (t)->size; (b)++)                                                      \
		for ((e) = (t)->by_id[b]; (e) && ((n) = (e)->next, 1); (e) = (n))

#endif
