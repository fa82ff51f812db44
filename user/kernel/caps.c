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

static bool kept(int cap, uint32_t low, uint32_t high)
{
	return cap < 32 ? low & (1u << cap) : high & (1u << (cap - 32));
}

int caps_drop_after_attach(bool keep_attach)
{
	uint32_t low = (KEEP_LOW) | (keep_attach ? ATTACH_LOW : 0);
	uint32_t high = keep_attach ? ATTACH_HIGH : 0;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};
	int err = 0;

	/* the bounding set first: dropping it needs CAP_SETPCAP, which goes
	 * next. EINVAL is a capability this kernel does not have; on another
	 * error the rest is dropped still. */
	for (int cap = 0; cap <= 63; cap++)
		if (!kept(cap, low, high) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) &&
		    errno != EINVAL)
			err = -1;
	data[0].effective = data[0].permitted = low;
	data[1].effective = data[1].permitted = high;
	if (syscall(SYS_capset, &hdr, data))
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? -1 : err;
}
