// SPDX-License-Identifier: MIT
/* Unit tests of the /proc/net/tcp{,6} and unix line parsers, and of the
 * start time in /proc/PID/stat. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ident/proc.h"

/* Lines as the kernel prints them (tcp4_seq_show, tcp6_seq_show). */
static const char tcp_header[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode                                                     \n";
static const char tcp_listen[] =
    "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 "
    "       0 1680 1 00000000bd31e352 100 0 0 10 0                      \n";
static const char tcp_established[] =
    "   5: 0100007F:2504 0100007F:EAA6 01 00000000:00000000 02:000AF9A3 00000000  1000 "
    "       0 4276119 2 0000000090dde47c 20 4 30 10 -1                  \n";
static const char tcp_time_wait[] =
    "   2: 0100007F:2504 0100007F:DE3C 06 00000000:00000000 03:00000B20 00000000     0 "
    "       0 0 3 0000000034df2311                                      \n";
static const char tcp6_header[] =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
static const char tcp6_listen[] =
    "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 23456 1 ffff8881034a1200 100 0 0 "
    "10 0\n";
static const char tcp6_established[] =
    "  12: 0000000000000000FFFF00000100007F:24F4 0000000000000000FFFF00000100007F:C7A2 01 "
    "00000000:00000000 00:00000000 00000000   998        0 987654321 1 ffff8881034a0000 20 4 "
    "28 10 -1\n";

/* The remote address in network order, the port in host order: as the
 * kernel's open events carry it. */
static void test_remote_address(void **state)
{
	static const uint8_t v4[4] = {127, 0, 0, 1};
	static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
	struct sock_entry e;

	(void)state;
	assert_int_equal(proc_parse_tcp_line(tcp_established, &e), 0);
	assert_int_equal(e.remote.family, 2);
	assert_int_equal(e.remote.port, 60070);
	assert_memory_equal(e.remote.addr, v4, sizeof(v4));
	assert_int_equal(proc_parse_tcp_line(tcp6_established, &e), 0);
	assert_int_equal(e.remote.family, 10);
	assert_int_equal(e.remote.port, 0xC7A2);
	assert_memory_equal(e.remote.addr, mapped, sizeof(mapped));
}

/* Each kind of line, every field the parser fills (memset first: none
 * may be left as it was). */
static void test_lines(void **state)
{
	static const struct {
		const char *line;
		uint16_t lport, rport;
		uint8_t state;
		uint64_t inode;
	} cases[] = {
	    {tcp_listen, 2024, 0, 10, 1680},
	    {tcp_established, 9476, 60070, 1, 4276119},
	    {tcp_time_wait, 9476, 56892, 6, 0},
	    {tcp6_listen, 8080, 0, 10, 23456},
	    {tcp6_established, 9460, 51106, 1, 987654321},
	};
	struct sock_entry e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0xff, sizeof(e));
		assert_int_equal(proc_parse_tcp_line(cases[i].line, &e), 0);
		assert_int_equal(e.lport, cases[i].lport);
		assert_int_equal(e.rport, cases[i].rport);
		assert_int_equal(e.state, cases[i].state);
		assert_int_equal(e.inode, cases[i].inode);
	}
}

static void test_line_without_newline(void **state)
{
	struct sock_entry e;

	(void)state;
	assert_int_equal(
	    proc_parse_tcp_line("   0: 0100007F:0050 0100007F:D431 01 00000000:00000000 "
				"00:00000000 00000000     0        0 77 1 0 20 4 30 10 -1",
				&e),
	    0);
	assert_int_equal(e.lport, 80);
	assert_int_equal(e.rport, 54321);
	assert_int_equal(e.inode, 77);
}

static void test_large_inode(void **state)
{
	struct sock_entry e;

	(void)state;
	assert_int_equal(
	    proc_parse_tcp_line("   0: 0100007F:0050 0100007F:D431 01 00000000:00000000 "
				"00:00000000 00000000     0        0 4294967296 1 0\n",
				&e),
	    0);
	assert_true(e.inode == 4294967296ull);
}

static void test_header_lines_rejected(void **state)
{
	struct sock_entry e;

	(void)state;
	assert_int_equal(proc_parse_tcp_line(tcp_header, &e), -1);
	assert_int_equal(proc_parse_tcp_line(tcp6_header, &e), -1);
}

static void test_garbage_rejected(void **state)
{
	static const char *const bad[] = {
	    "",
	    "\n",
	    "garbage",
	    "   0:",
	    "   0: 0100007F:0050",
	    "   0: 0100007F:0050 0100007F:D431",
	    "   0: 0100007F:0050 0100007F:D431 01",
	    "   0: 0100007F:0050 0100007F:D431 01 00000000:00000000 00:00000000 00000000",
	    "   0: 0100007F:0050 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0",
	    "   0: 0100007F 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 1 1 0",
	    "   0: ZZZZZZZZ:0050 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 1",
	    "   x: 0100007F:0050 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 1",
	};
	struct sock_entry e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (proc_parse_tcp_line(bad[i], &e) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
}

static void test_out_of_range_port_rejected(void **state)
{
	struct sock_entry e;

	(void)state;
	assert_int_equal(
	    proc_parse_tcp_line("   0: 0100007F:10000 0100007F:D431 01 00000000:00000000 "
				"00:00000000 00000000     0        0 77 1 0\n",
				&e),
	    -1);
	assert_int_equal(
	    proc_parse_tcp_line("   0: 0100007F:0050 0100007F:1FFFF 01 00000000:00000000 "
				"00:00000000 00000000     0        0 77 1 0\n",
				&e),
	    -1);
}

static void test_out_of_range_state_rejected(void **state)
{
	struct sock_entry e;

	(void)state;
	assert_int_equal(
	    proc_parse_tcp_line("   0: 0100007F:0050 0100007F:D431 100 00000000:00000000 "
				"00:00000000 00000000     0        0 77 1 0\n",
				&e),
	    -1);
}

/* Every data line this machine has right now parses. */
static void test_this_machines_proc_net_tcp(void **state)
{
	const char *files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	char line[512];

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		FILE *fp = fopen(files[k], "r");
		int lineno = 0;
		struct sock_entry e;

		if (!fp)
			continue; /* no IPv6, or no procfs in this sandbox */
		while (fgets(line, sizeof(line), fp)) {
			int rc = proc_parse_tcp_line(line, &e);

			if (lineno++ == 0)
				assert_int_equal(rc, -1);
			else if (rc != 0)
				fail_msg("%s: rejected \"%s\"", files[k], line);
		}
		fclose(fp);
	}
}

/* Lines as unix_seq_show prints them: a listener, what it accepted (its
 * path), the side that connected (none), a datagram socket, an abstract
 * name, a socketpair's end. */
static const char unix_header[] = "Num       RefCount Protocol Flags    Type St Inode Path\n";
static const struct {
	const char *line;
	uint32_t flags;
	uint16_t type;
	uint8_t state;
	uint64_t inode;
	bool named, client;
} unix_lines[] = {
    {"0000000000000000: 00000002 00000000 00010000 0001 01 20611 /run/redis/redis.sock\n", 1u << 16,
     1, 1, 20611, true, false},
    {"0000000000000000: 00000003 00000000 00000000 0001 03 31337 /run/redis/redis.sock\n", 0, 1, 3,
     31337, true, false},
    {"00000000f3a04265: 00000003 00000000 00000000 0001 03  1075\n", 0, 1, 3, 1075, false, true},
    {"0000000000000000: 00000002 00000000 00000000 0002 01 16001 /run/systemd/notify\n", 0, 2, 1,
     16001, true, false},
    {"ffff8881034a1200: 00000003 00000000 00000000 0001 03 4294967296 @/tmp/.X11-unix/X0\n", 0, 1,
     3, 4294967296ull, true, false},
    {"0000000000000000: 00000002 00000000 00000000 0005 03 999", 0, 5, 3, 999, false, false},
};

static void test_unix_lines(void **state)
{
	struct unix_entry e;

	(void)state;
	for (size_t i = 0; i < sizeof(unix_lines) / sizeof(unix_lines[0]); i++) {
		assert_int_equal(proc_parse_unix_line(unix_lines[i].line, &e), 0);
		assert_int_equal(e.flags, unix_lines[i].flags);
		assert_int_equal(e.type, unix_lines[i].type);
		assert_int_equal(e.state, unix_lines[i].state);
		assert_true(e.inode == unix_lines[i].inode);
		assert_int_equal(e.named, unix_lines[i].named);
		assert_int_equal(proc_unix_client(&e), unix_lines[i].client);
	}
	assert_int_equal(proc_parse_unix_line(unix_header, &e), -1);
	assert_int_equal(proc_parse_unix_line("", &e), -1);
	assert_int_equal(proc_parse_unix_line("0000: 00000002 00000000 00000000 0001", &e), -1);
	assert_int_equal(proc_parse_unix_line("0000: 2 0 0 10001 03 5\n", &e), -1); /* type */
	assert_int_equal(proc_parse_unix_line("0000: 2 0 0 0001 103 5\n", &e), -1); /* state */
}

static void test_this_machines_proc_net_unix(void **state)
{
	FILE *fp = fopen("/proc/net/unix", "r");
	char line[512];
	struct unix_entry e;
	int lineno = 0;

	(void)state;
	if (!fp)
		skip(); /* no procfs in this sandbox */
	while (fgets(line, sizeof(line), fp)) {
		int rc = proc_parse_unix_line(line, &e);

		if (lineno++ == 0)
			assert_int_equal(rc, -1);
		else if (rc != 0)
			fail_msg("/proc/net/unix: rejected \"%s\"", line);
	}
	fclose(fp);
}

/* starttime is field 22, counted from the last ')': a name may hold both
 * spaces and parentheses. */
static void test_start_ticks_parse(void **state)
{
	(void)state;
	assert_int_equal(proc_parse_start_ticks("1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 "
						"8 20 0 1 0 17 1000 200"),
			 17);
	assert_int_equal(proc_parse_start_ticks("7 (a) b) (c d) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 "
						"20 0 1 0 123456789 0 0"),
			 123456789);
	assert_int_equal(proc_parse_start_ticks("7 (a) R 1 7"), 0);
	assert_int_equal(proc_parse_start_ticks("garbage"), 0);
	assert_int_equal(proc_parse_start_ticks(""), 0);
}

/* Running unless a zombie or dead; the state follows the last ')'. */
static void test_running_parse(void **state)
{
	(void)state;
	assert_true(proc_parse_running("1 (systemd) S 0 1 1"));
	assert_true(proc_parse_running("7 (a) Z) R 1 7"));
	assert_false(proc_parse_running("7 (a) R) Z 1 7"));
	assert_false(proc_parse_running("7 (a) X 1"));
	assert_false(proc_parse_running("7 (a)"));
	assert_false(proc_parse_running(""));
	assert_true(proc_running(getpid()));
	assert_false(proc_running(0x3fffffff));
}

/* This process started before now on the boot clock, and is not 0. */
static void test_start_ticks_of_self(void **state)
{
	struct timespec now;
	uint64_t start = proc_start_ticks(getpid());

	(void)state;
	clock_gettime(CLOCK_BOOTTIME, &now);
	assert_true(start > 0);
	assert_true(start <= proc_ticks_of_ns(now.tv_sec * 1000000000ull + now.tv_nsec));
	assert_int_equal(proc_start_ticks(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_running_parse),
	    cmocka_unit_test(test_remote_address),
	    cmocka_unit_test(test_line_without_newline),
	    cmocka_unit_test(test_large_inode),
	    cmocka_unit_test(test_header_lines_rejected),
	    cmocka_unit_test(test_garbage_rejected),
	    cmocka_unit_test(test_out_of_range_port_rejected),
	    cmocka_unit_test(test_out_of_range_state_rejected),
	    cmocka_unit_test(test_this_machines_proc_net_tcp),
	    cmocka_unit_test(test_unix_lines),
	    cmocka_unit_test(test_this_machines_proc_net_unix),
	    cmocka_unit_test(test_start_ticks_parse),
	    cmocka_unit_test(test_start_ticks_of_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
