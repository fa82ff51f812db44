// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "kernel/caps.h"
#include "kernel/kfeatures.h"

static const struct {
	const char *name;
	const char *fallback;
} features[KF_COUNT] = {
    [KF_BPF_LOOP] = {"bpf_loop",
		     "SSE streams are counted in user space from copies, not in the kernel; "
		     "bounded loops copy the bytes"},
    [KF_ATOMIC_FETCH] = {"atomic_fetch",
			 "hash lookups replace the process bitmap, connection ids count per CPU"},
    [KF_TASK_STORAGE] = {"task_storage", "a hash by thread id holds each call in flight"},
    [KF_ATTACH_COOKIE] = {"attach_cookie", "one uprobe program per OpenSSL layout"},
    [KF_TASK_PT_REGS] = {"task_pt_regs",
			 "an enter probe per read and write family syscall hands its exit probe "
			 "the call's arguments"},
    [KF_RDONLY_CAST] = {"rdonly_cast",
			"a write the kernel counts reads the clock, not the time of its TCP send"},
    [KF_BPF_FD_UNPRIVILEGED] = {"bpf_fd_unprivileged",
				"the server threads keep CAP_BPF: the kernel asks for it at every "
				"bpf(2) call while kernel.unprivileged_bpf_disabled is set"},
    [KF_RINGBUF_DYNPTR] = {"ringbuf_dynptr",
			   "one ring buffer for all CPUs, whose records take turns at its lock"},
};

const char *kfeature_name(enum kfeature f)
{
	return f < KF_COUNT ? features[f].name : "?";
}

const char *kfeature_fallback(enum kfeature f)
{
	return f < KF_COUNT ? features[f].fallback : "?";
}

/* Whether the verifier takes an atomic fetch-and-add (BPF_ATOMIC with
 * BPF_FETCH, 5.12): older ones refuse it as "BPF_STX uses reserved
 * fields". libbpf has no probe for instructions. */
static bool atomic_fetch_supported(void)
{
	const struct bpf_insn insns[] = {
	    {.code = BPF_ST | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_10, .off = -8, .imm = 0},
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1},
	    {.code = BPF_STX | BPF_ATOMIC | BPF_DW,
	     .dst_reg = BPF_REG_10,
	     .src_reg = BPF_REG_1,
	     .off = -8,
	     .imm = BPF_ADD | BPF_FETCH},
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, NULL, "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Whether a tracepoint program may call the kfunc bpf_rdonly_cast (6.2):
 * a program that does is loaded, as libbpf offers no probe for kfuncs. */
static bool rdonly_cast_supported(const struct btf *vmlinux)
{
	int func = vmlinux ? btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) : -1;
	int type = vmlinux ? btf__find_by_name_kind(vmlinux, "tcp_sock", BTF_KIND_STRUCT) : -1;
	int fd = -1;

	if (func > 0 && type > 0) {
		const struct bpf_insn insns[] = {
		    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 0},
		    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = type},
		    {.code = BPF_JMP | BPF_CALL, .src_reg = BPF_PSEUDO_KFUNC_CALL, .imm = func},
		    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		    {.code = BPF_JMP | BPF_EXIT},
		};

		fd = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, NULL, "GPL", insns,
				   sizeof(insns) / sizeof(insns[0]), NULL);
	}
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void *lookup_unprivileged(void *fdp)
{
	uint32_t key = 0, value;
	static int refused;

	refused = caps_drop_thread((struct caps_keep){0}) ||
		  (bpf_map_lookup_elem(*(int *)fdp, &key, &value) && errno == EPERM);
	return &refused;
}

/* Whether a thread that dropped its capabilities may still read a map
 * through its fd: before 5.19, kernel.unprivileged_bpf_disabled refuses
 * it every bpf(2) call. Asked in a thread of its own, which drops them. */
static bool fds_unprivileged(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	void *refused = NULL;
	pthread_t t;

	if (fd < 0)
		return true; /* the load will say what is wrong */
	if (!pthread_create(&t, NULL, lookup_unprivileged, &fd))
		pthread_join(t, &refused);
	close(fd);
	return refused && !*(int *)refused;
}

unsigned kfeatures_missing(const struct btf *vmlinux)
{
	unsigned missing = 0;

	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) <= 0)
		missing |= 1u << KF_BPF_LOOP;
	if (!atomic_fetch_supported())
		missing |= 1u << KF_ATOMIC_FETCH;
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_storage_get, NULL) <= 0)
		missing |= 1u << KF_TASK_STORAGE;
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL) <= 0)
		missing |= 1u << KF_ATTACH_COOKIE;
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, NULL) <= 0)
		missing |= 1u << KF_TASK_PT_REGS;
	if (!rdonly_cast_supported(vmlinux))
		missing |= 1u << KF_RDONLY_CAST;
	if (!fds_unprivileged())
		missing |= 1u << KF_BPF_FD_UNPRIVILEGED;
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_ringbuf_reserve_dynptr,
				    NULL) <= 0)
		missing |= 1u << KF_RINGBUF_DYNPTR;
	return missing;
}
