// SPDX-License-Identifier: MIT
#include "kernel/krings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conn_event.h"

int krings_create(struct krings *kr, struct bpf_object *obj, uint32_t total, bool per_cpu)
{
	struct bpf_map *events = bpf_object__find_map_by_name(obj, "events");
	int cpus = per_cpu ? libbpf_num_possible_cpus() : 1;
	unsigned rings;
	int err = 0;

	memset(kr, 0, sizeof(*kr));
	if (!events || cpus < 1)
		return -EINVAL;
	rings = krings_count(total, (unsigned)cpus);
	kr->per_cpu = per_cpu;
	kr->slots = (unsigned)cpus;
	kr->bytes = krings_share(total, rings, (uint32_t)sysconf(_SC_PAGESIZE));
	kr->wakeup = kr->bytes / (EVENTS_RING_BYTES / EVENTS_WAKEUP_BYTES);
	kr->fds = calloc(rings, sizeof(*kr->fds));
	if (!kr->fds)
		return -ENOMEM;
	for (; kr->n < rings; kr->n++) {
		kr->fds[kr->n] =
		    bpf_map_create(BPF_MAP_TYPE_RINGBUF, "events_ring", 0, 0, kr->bytes, NULL);
		if (kr->fds[kr->n] < 0) {
			err = -errno;
			goto fail;
		}
	}
	/* the first ring is the template the kernel checks the others by */
	if (bpf_map__set_inner_map_fd(events, kr->fds[0]) ||
	    bpf_map__set_max_entries(events, kr->slots)) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	krings_close(kr);
	return err ? err : -EINVAL;
}

int krings_plug(const struct krings *kr, const struct bpf_object *obj)
{
	int fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "events"));

	for (uint32_t i = 0; i < kr->slots; i++)
		if (bpf_map_update_elem(fd, &i, &kr->fds[i % kr->n], BPF_ANY))
			return -errno;
	return 0;
}

void krings_close(struct krings *kr)
{
	for (unsigned i = 0; i < kr->n; i++)
		close(kr->fds[i]);
	free(kr->fds);
	memset(kr, 0, sizeof(*kr));
}
