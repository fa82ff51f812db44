/* SPDX-License-Identifier: GPL-2.0 OR MIT */
#ifndef SSE_SHARED_EXITS_H
#define SSE_SHARED_EXITS_H

/*
 * The exits that the default build's exit_write program serves besides
 * its own (bpf/sock_io.bpf.c says why), each named as its own program
 * would be: the label of sse_exporter_bpf_program_attached. The bench's
 * floor attaches its empty exit_write the same way, so that per-program
 * figures compare.
 */
static const struct shared_exit {
	const char *tracepoint, *name;
} shared_exits[] = {
    {"sys_exit_writev", "exit_writev"},
    {"sys_exit_sendto", "exit_sendto"},
    {"sys_exit_sendmsg", "exit_sendmsg"},
};

#define SHARED_EXITS (sizeof(shared_exits) / sizeof(shared_exits[0]))

#endif
