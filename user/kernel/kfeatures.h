/* SPDX-License-Identifier: MIT */
/*
 * What the running kernel offers of what the default BPF build uses
 * (bpf/features.bpf.h), and whether threads without capabilities may use
 * its fds, probed before anything is loaded: the loader takes the compat
 * build when one of the build's is missing, and /health and
 * sse_exporter_kernel_feature say which.
 */
#ifndef SSE_KFEATURES_H
#define SSE_KFEATURES_H

enum kfeature {
	KF_BPF_LOOP,	  /* bpf_loop, 5.17 */
	KF_ATOMIC_FETCH,  /* atomic or, and, cmpxchg, fetch-and-add, 5.12 */
	KF_TASK_STORAGE,  /* task storage in tracing programs, 5.12 */
	KF_ATTACH_COOKIE, /* bpf_get_attach_cookie in uprobes, 5.15 */
	KF_TASK_PT_REGS,  /* bpf_task_pt_regs in tracepoints, 5.15 */
	/* not the build's: the kfunc bpf_rdonly_cast, 6.2 (kstream.bpf.h) */
	KF_RDONLY_CAST,
	/* not the build's: bpf(2) on fds without CAP_BPF while
	 * kernel.unprivileged_bpf_disabled is set, 5.19 */
	KF_BPF_FD_UNPRIVILEGED,
	/* not the build's: ring buffer dynptrs, 5.19, which reserve a
	 * record of a size known at run time (bpf/ring.bpf.h) */
	KF_RINGBUF_DYNPTR,
	KF_COUNT
};

/* The features whose lack makes the loader take the compat build. */
#define KF_BUILD_MASK                                                                              \
	((1u << KF_BPF_LOOP) | (1u << KF_ATOMIC_FETCH) | (1u << KF_TASK_STORAGE) |                 \
	 (1u << KF_ATTACH_COOKIE) | (1u << KF_TASK_PT_REGS))

/* "bpf_loop", "atomic_fetch", "task_storage", "attach_cookie",
 * "task_pt_regs", "rdonly_cast", "bpf_fd_unprivileged", "ringbuf_dynptr" */
const char *kfeature_name(enum kfeature f);

/* What is done instead for want of the feature, for the log. */
const char *kfeature_fallback(enum kfeature f);

struct btf;

/* A bit (1 << f) per feature the kernel lacks. vmlinux: the kernel's BTF
 * (btf__load_vmlinux_btf()'s; NULL: kfuncs count as missing). */
unsigned kfeatures_missing(const struct btf *vmlinux);

#endif
