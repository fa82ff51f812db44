/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A syscall's arguments at its exit tracepoint, from the task's saved
 * registers: no enter probe needs to hand them over.
 */
#ifndef SSE_SYSCALL_ARGS_BPF_H
#define SSE_SYSCALL_ARGS_BPF_H

#include <bpf/bpf_tracing.h>
#include "features.bpf.h"

#if HAVE_TASK_PT_REGS
/* Argument n (0: the first) of the syscall the current task is in, from
 * the user registers it entered with: on its way out the kernel has
 * written only the return value's (x86-64: the arguments stay in di, si,
 * dx, r10 and the result goes to ax; arm64 keeps the first in orig_x0).
 * bpf_task_pt_regs() gives them to a tracepoint program since 5.15. */
static __always_inline unsigned long syscall_arg(const struct pt_regs *regs, int n)
{
	switch (n) {
	case 0:
		return PT_REGS_PARM1_SYSCALL(regs);
	case 1:
		return PT_REGS_PARM2_SYSCALL(regs);
	case 2:
		return PT_REGS_PARM3_SYSCALL(regs);
	default:
		return PT_REGS_PARM4_SYSCALL(regs);
	}
}
#endif

#endif
