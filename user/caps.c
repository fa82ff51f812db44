// SPDX-License-Identifier: MIT
#include <linux/capability.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

/* /proc of other processes; and uprobes on OpenSSL copies found later */
#define KEEP_LOW  ((1u << CAP_SYS_PTRACE) | (1u << CAP_DAC_READ_SEARCH))
#define KEEP_HIGH ((1u << (CAP_PERFMON - 32)) | (1u << (CAP_BPF - 32)))

static bool kept(int cap)
{
	return cap < 32 ? KEEP_LOW & (1u << cap) : KEEP_HIGH & (1u << (cap - 32));
}

int caps_drop_after_attach(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};

	/* the bounding set first: dropping it needs CAP_SETPCAP, which goes next */
	for (int cap = 0; cap <= 63; cap++)
		if (!kept(cap))
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	data[0].effective = data[0].permitted = KEEP_LOW;
	data[1].effective = data[1].permitted = KEEP_HIGH;
	if (syscall(SYS_capset, &hdr, data))
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
