// SPDX-License-Identifier: MIT
/*
 * ident/proc's pure parsers of /proc text. A /proc/PID/stat line gives
 * its start time whatever the process named itself (a comm holds spaces
 * and ')'); a /proc/net/tcp or tcp6 line as the kernel prints it gives
 * back its ports, state, inode and remote address; a /proc/net/unix line
 * its flags, type, state, inode and whether a name follows, whatever the
 * name holds; any line parses or is refused, with nothing read past its
 * end.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "ident/proc.h"

#define LINE_MAX_ 512

struct reader {
	const uint8_t *p;
	size_t left;
};

/* The next n bytes of the input as a number, zeros once it runs out. */
static uint64_t take(struct reader *r, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++, r->left -= !!r->left)
		v = v << 8 | (r->left ? *r->p++ : 0);
	return v;
}

static void stat_line(struct reader *r)
{
	static char line[LINE_MAX_ * 2];
	uint64_t ticks = take(r, 8) >> 1; /* below 2^63: sscanf's range */
	size_t n = r->left < LINE_MAX_ ? r->left : LINE_MAX_;
	char name[LINE_MAX_ + 1];

	for (size_t i = 0; i < n; i++) /* a comm: any byte but NUL */
		name[i] = r->p[i] ? (char)r->p[i] : '@';
	name[n] = '\0';
	snprintf(line, sizeof(line),
		 "4242 (%s) S 1 4242 4242 0 -1 4194560 1210 0 0 0 3 1 0 0 20 0 1 0 %llu 10989568 "
		 "1203 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0\n",
		 name, (unsigned long long)ticks);
	FUZZ_CHECK(proc_parse_start_ticks(line) == ticks, "start %llu, parsed %llu from [%s]",
		   (unsigned long long)ticks, (unsigned long long)proc_parse_start_ticks(line),
		   line);
}

/* A line as the kernel's tcp4_seq_show and tcp6_seq_show print it. */
static void tcp_line(struct reader *r)
{
	struct sock_entry e;
	struct conn_addr want = {0};
	bool v6 = take(r, 1) & 1;
	uint16_t lport = take(r, 2);
	uint8_t state = take(r, 1);
	unsigned long inode = take(r, 8);
	char line[LINE_MAX_], addr[40] = "";
	int n;

	want.family = v6 ? AF_INET6 : AF_INET;
	want.port = take(r, 2);
	for (size_t w = 0; w < (v6 ? 4u : 1u); w++) {
		uint32_t v = take(r, 4);

		memcpy(want.addr + w * 4, &v, sizeof(v));
		snprintf(addr + w * 8, sizeof(addr) - w * 8, "%08X", v);
	}
	n = snprintf(line, sizeof(line),
		     "%4d: %s:%04X %s:%04X %02X %08X:%08X %02X:%08lX %08X %5u %8d %lu %d "
		     "0000000000000000 100 0 0 10 0\n",
		     7, v6 ? "0000000000000000FFFF00000100007F" : "0100007F", lport, addr,
		     want.port, state, 0, 0, 0, 0ul, 0, 1000, 0, inode, 1);
	FUZZ_CHECK(n > 0 && proc_parse_tcp_line(line, &e) == 0, "refused [%s]", line);
	FUZZ_CHECK(e.lport == lport && e.rport == want.port && e.state == state &&
		       e.inode == inode && !memcmp(&e.remote, &want, sizeof(want)),
		   "[%s] parsed: ports %u %u state %u inode %llu", line, e.lport, e.rport, e.state,
		   (unsigned long long)e.inode);
}

/* A line as unix_seq_show prints it: the name is the socket's path, or
 * '@' and an abstract name's bytes (NULs shown as '@'); no newline in it,
 * or the file's lines would not be lines. */
static void unix_line(struct reader *r)
{
	struct unix_entry e;
	uint32_t flags = take(r, 4);
	uint16_t type = take(r, 2);
	uint8_t state = take(r, 1);
	unsigned long long inode = take(r, 8);
	size_t len = take(r, 1) % 109;
	char line[LINE_MAX_], name[110];

	for (size_t i = 0; i < len; i++) {
		uint8_t b = take(r, 1);

		name[i] = b && b != '\n' ? (char)b : '@';
	}
	name[len] = '\0';
	snprintf(line, sizeof(line), "%016llx: %08X %08X %08X %04X %02X %5llu%s%s\n", inode * 31,
		 2u, 0u, flags, type, state, inode, len ? " " : "", name);
	FUZZ_CHECK(proc_parse_unix_line(line, &e) == 0, "refused [%s]", line);
	FUZZ_CHECK(e.flags == flags && e.type == type && e.state == state && e.inode == inode &&
		       e.named == (len && name[strspn(name, " ")]),
		   "[%s] parsed: flags %x type %u state %u inode %llu named %d", line, e.flags,
		   e.type, e.state, (unsigned long long)e.inode, e.named);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[LINE_MAX_ + 1];
	struct reader r = {data, size};
	struct sock_entry e;
	struct unix_entry u;
	size_t n = size < LINE_MAX_ ? size : LINE_MAX_;

	memcpy(line, data, n); /* any text, NUL-terminated as the readers' */
	line[n] = '\0';
	proc_parse_start_ticks(line);
	proc_parse_tcp_line(line, &e);
	proc_parse_unix_line(line, &u);
	tcp_line(&r);
	unix_line(&r);
	stat_line(&r);
	return 0;
}
