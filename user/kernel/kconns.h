/* SPDX-License-Identifier: MIT */
/*
 * The kernel's connections as user space reads and changes them: each in
 * its slot's line of conn_slots, or in the conns hash when another
 * connection holds the slot (bpf/conn_store.bpf.h). User space adopts
 * into the hash; it reads, changes and releases either.
 */
#ifndef SSE_KCONNS_H
#define SSE_KCONNS_H

#include "kernel/kmaps.h"

/* 0 and key's entry in info, or -ENOENT. */
int kconns_lookup(struct kmaps *km, const struct conn_key *key, struct conn_info *info);

/* Makes key's entry info unless it has one: 0, or -EEXIST (the kernel's
 * is there) or another -errno. */
int kconns_adopt(struct kmaps *km, const struct conn_key *key, const struct conn_info *info);

/* Sets the protocol of key's entry while it is connection id's. */
int kconns_set_proto(struct kmaps *km, const struct conn_key *key, uint64_t id, uint8_t proto);

/* Deletes key's entry while it is connection id's: 0 when this call did. */
int kconns_delete(struct kmaps *km, const struct conn_key *key, uint64_t id);

/* The connections the kernel holds, in lines and in the hash. */
uint32_t kconns_entries(struct kmaps *km);

#endif
