/* SPDX-License-Identifier: MIT */
/*
 * The streams the kernel counts (include/kstream.h), as user space reads
 * and gives them up: each has its entry in the kstreams hash, which user
 * space walks, and counts in its line of klines when it could take it,
 * else in that entry (bpf/kstream.bpf.h).
 */
#ifndef SSE_KLINES_H
#define SSE_KLINES_H

#include "kernel/kmaps.h"
#include "kstream.h"

/* 0 and connection id's stream in ks (a copy: the kernel goes on
 * changing it), or -ENOENT. */
int klines_read(struct kmaps *km, uint64_t id, struct kstream *ks);

/* ks, the entry of id's stream as read from the hash, replaced by its
 * line when the stream holds one: there it counts, the entry is the copy
 * made when it was armed. */
void klines_overlay(struct kmaps *km, uint64_t id, struct kstream *ks);

/* The kernel stops counting id's stream: its entry deleted, its line
 * released if it holds it. Its next write finds neither and is copied. */
void klines_forget(struct kmaps *km, uint64_t id);

#endif
