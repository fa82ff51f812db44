/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the programs may ask of the kernel. Each object is built twice
 * from the same source: the default build takes what 5.17 and later
 * offer; the compat build (-DSSE_BPF_COMPAT, build/NAME.compat.bpf.o),
 * which the loader picks when a probe finds one of these missing, takes
 * only what 5.10 has (BTF, tp_btf, ring buffers, bounded loops, plain
 * atomic add). A switch at load time cannot replace a second build here:
 * 5.10 refuses a program that merely contains an atomic instruction it
 * does not know, or a callback reference (bpf_loop's), even where that
 * code is dead.
 *
 * What each fallback costs, and what the compat build loses, is in the
 * README ("Requirements") and on /health.
 */
#ifndef SSE_FEATURES_BPF_H
#define SSE_FEATURES_BPF_H

#ifdef SSE_BPF_COMPAT
#define HAVE_BPF_LOOP	   0 /* 5.17 */
#define HAVE_ATOMIC_FETCH  0 /* 5.12: or, and, cmpxchg, add with its result */
#define HAVE_ATTACH_COOKIE 0 /* 5.15 */
#define HAVE_TASK_PT_REGS  0 /* 5.15: a syscall's arguments at its exit */
#else
#define HAVE_BPF_LOOP	   1
#define HAVE_ATOMIC_FETCH  1
#define HAVE_ATTACH_COOKIE 1
#define HAVE_TASK_PT_REGS  1
#endif
/* Task storage in tracing programs (5.12) comes with bpf_loop's code: the
 * TLS hooks' per-task walk area (kstream.bpf.h) and the TLS state of each
 * thread (tls_state.bpf.h). */

/*
 * n steps of fn(i, ctx) until one returns non-zero: bpf_loop, or before
 * it a loop the verifier walks step by step, which bounds n by its
 * budget (1M instructions, 8192 pending branches: keep a step's state in
 * map values, where every step starts from the same abstract state).
 */
#if HAVE_BPF_LOOP
#define steps_loop(n, fn, ctx) bpf_loop(n, fn, ctx, 0)
#else
#define steps_loop(n, fn, ctx)                                                                     \
	do {                                                                                       \
		for (__u32 step_ = 0; step_ < (n); step_++)                                        \
			if (fn(step_, ctx))                                                        \
				break;                                                             \
	} while (0)
#endif

#endif
