// SPDX-License-Identifier: MIT
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

#define KEEP ((1u << CAP_SYS_PTRACE) | (1u << CAP_DAC_READ_SEARCH))

int caps_drop_after_attach(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};

	/* the bounding set first: dropping it needs CAP_SETPCAP, which goes next */
	for (int cap = 0; cap <= 63; cap++)
		if (cap >= 32 || !(KEEP & (1u << cap)))
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	data[0].effective = data[0].permitted = KEEP;
	if (syscall(SYS_capset, &hdr, data))
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
