// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <bpf/btf.h>

#include "kernel/uprobe_multi.h"

#define UPROBE_MULTI_RETURN 1U

/* the kernel reads the offsets as unsigned longs */
_Static_assert(sizeof(size_t) == sizeof(unsigned long), "offsets are unsigned long");

/* The head of bpf_attr's link_create with its uprobe_multi member, as
 * the kernel lays them out; Debian 12's linux/bpf.h is older. */
struct uprobe_multi_attr {
	uint32_t prog_fd;
	uint32_t target_fd;
	uint32_t attach_type;
	uint32_t link_flags;
	uint64_t path;
	uint64_t offsets;
	uint64_t ref_ctr_offsets;
	uint64_t cookies;
	uint32_t cnt;
	uint32_t flags;
	uint32_t pid;
};

bool uprobe_multi_supported(const struct btf *btf)
{
	const struct btf_type *t;
	const struct btf_enum *e;
	bool found = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "bpf_attach_type", BTF_KIND_ENUM);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	e = t ? btf_enum(t) : NULL;
	for (int i = 0; e && i < btf_vlen(t) && !found; i++)
		found =
		    !strcmp(btf__name_by_offset(btf, e[i].name_off), "BPF_TRACE_UPROBE_MULTI") &&
		    e[i].val == UPROBE_MULTI_ATTACH_TYPE;
	return found;
}

int uprobe_multi_attach(int prog_fd, const char *path, const size_t *offsets, size_t n,
			bool retprobe, uint64_t cookie)
{
	uint64_t cookies[UPROBE_MULTI_MAX];
	struct uprobe_multi_attr attr;

	if (n > UPROBE_MULTI_MAX) {
		errno = E2BIG;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		cookies[i] = cookie;

	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = prog_fd;
	attr.attach_type = UPROBE_MULTI_ATTACH_TYPE;
	attr.path = (uintptr_t)path;
	attr.offsets = (uintptr_t)offsets;
	attr.cookies = (uintptr_t)cookies;
	attr.cnt = n;
	attr.flags = retprobe ? UPROBE_MULTI_RETURN : 0;
	return syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
}
