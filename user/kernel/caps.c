// SPDX-License-Identifier: MIT
#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/caps.h"

/* /proc of other processes */
#define KEEP_LOW (1u << CAP_SYS_PTRACE) | (1u << CAP_DAC_READ_SEARCH)
/* uprobes on OpenSSL copies found later: the kernel asks for
 * CAP_SYS_ADMIN to create a uprobe perf event (6.x, paranoid 2) */
#define ATTACH_LOW  (1u << CAP_SYS_ADMIN)
#define ATTACH_HIGH ((1u << (CAP_PERFMON - 32)) | (1u << (CAP_BPF - 32)))
/* a listening port below 1024 */
#define BIND_LOW (1u << CAP_NET_BIND_SERVICE)
/* bpf(2) on fds, where the kernel asks for it */
#define BPF_HIGH (1u << (CAP_BPF - 32))

static bool kept(int cap, uint32_t low, uint32_t high)
{
	return cap < 32 ? low & (1u << cap) : high & (1u << (cap - 32));
}

static int get_caps(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};

	return syscall(SYS_capget, &hdr, data) ? -1 : 0;
}

/* The calling thread's effective and permitted sets become low/high, less
 * what it does not have (a container granted fewer): asking for more
 * than the permitted set fails. */
static int set_caps(uint32_t low, uint32_t high)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};

	if (get_caps(data))
		return -1;
	data[0].effective = data[0].permitted &= low;
	data[1].effective = data[1].permitted &= high;
	data[0].inheritable = data[1].inheritable = 0;
	return syscall(SYS_capset, &hdr, data) ? -1 : 0;
}

bool caps_can_load(void)
{
	struct __user_cap_data_struct data[2] = {0};

	if (get_caps(data))
		return false;
	return kept(CAP_SYS_ADMIN, data[0].effective, data[1].effective) ||
	       (kept(CAP_BPF, data[0].effective, data[1].effective) &&
		kept(CAP_PERFMON, data[0].effective, data[1].effective));
}

static bool has_setpcap(void)
{
	struct __user_cap_data_struct data[2] = {0};

	return !get_caps(data) && kept(CAP_SETPCAP, data[0].effective, data[1].effective);
}

int caps_drop_after_attach(struct caps_keep keep)
{
	uint32_t low = (KEEP_LOW) | (keep.attach ? ATTACH_LOW : 0) | (keep.bind ? BIND_LOW : 0);
	uint32_t high = (keep.attach ? ATTACH_HIGH : 0) | (keep.bpf ? BPF_HIGH : 0);
	bool bounding = has_setpcap();
	int err = 0;

	/* the bounding set first: dropping it needs CAP_SETPCAP, which goes
	 * next. Without it (not root: granted a few capabilities) the set
	 * stays, and no_new_privs keeps an exec from using it. A capability
	 * not in it is not asked for; EINVAL is one this kernel does not
	 * have; on another error the rest is dropped still. */
	for (int cap = 0; cap <= 63 && bounding; cap++)
		if (!kept(cap, low, high) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
			err = -1;
	if (set_caps(low, high))
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? -1 : err;
}

int caps_drop_thread(struct caps_keep keep)
{
	return set_caps(keep.bind ? BIND_LOW : 0, keep.bpf ? BPF_HIGH : 0);
}
