/* SPDX-License-Identifier: MIT */
/*
 * The streams the kernel counts (include/kstream.h), as user space reads
 * and gives them up: each counts in its line of klines when it could take
 * it, else in its entry of the kstreams hash (bpf/kstream.bpf.h). User
 * space knows them by their start records, and finds each by its id.
 */
#ifndef SSE_KLINES_H
#define SSE_KLINES_H

#include "kernel/kmaps.h"
#include "kstream.h"

/* Where klines_find found a stream. */
enum kline_where {
	KLINE_NOWHERE, /* the kernel has no stream of the id (or cannot be read) */
	KLINE_LINE,
	KLINE_HASH,
};

/* Connection id's stream into ks (a copy: the kernel goes on changing
 * it), from its line (mapped, no syscall) or from the hash. */
enum kline_where klines_find(struct kmaps *km, uint64_t id, struct kstream *ks);

/* The kernel stops counting id's stream: its entry deleted, its line
 * released if it holds it. Its next write finds neither and is copied. */
void klines_forget(struct kmaps *km, uint64_t id);

#endif
