// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/array.h"
#include "ident/proc.h"

#define TCP_ESTABLISHED 1
#define TCP_CLOSE_WAIT	8
#define TCP_LISTEN	10
#define PORTS_BITS	65536

/* /proc/PID/NAME into buf (size > 0), "" when the process is gone. */
static void read_proc_file(pid_t tgid, const char *name, char *buf, size_t size)
{
	char path[64];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", tgid, name);
	f = fopen(path, "re");
	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

void proc_service_name(pid_t tgid, char *out, size_t size)
{
	read_proc_file(tgid, "comm", out, size);
	out[strcspn(out, "\n")] = '\0';
	for (char *p = out; *p; p++)
		if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\')
			*p = '_';
	if (!out[0])
		snprintf(out, size, "unknown");
}

uint64_t proc_parse_start_ticks(const char *stat)
{
	/* the name in parentheses may hold spaces and ')': fields count from
	 * the last ')'; starttime is field 22, the 20th after it */
	const char *p = strrchr(stat, ')');
	unsigned long long ticks;
	int field = 2;

	if (!p)
		return 0;
	while (*p && field < 22)
		if (*p++ == ' ')
			field++;
	return sscanf(p, "%llu", &ticks) == 1 ? ticks : 0;
}

bool proc_parse_running(const char *stat)
{
	const char *p = strrchr(stat, ')');

	/* the state is the field after the name */
	return p && p[1] == ' ' && p[2] && !strchr("ZXx", p[2]);
}

uint64_t proc_start_ticks(pid_t tgid)
{
	char buf[1024];

	read_proc_file(tgid, "stat", buf, sizeof(buf));
	return proc_parse_start_ticks(buf);
}

bool proc_running(pid_t tgid)
{
	char buf[1024];

	read_proc_file(tgid, "stat", buf, sizeof(buf));
	return proc_parse_running(buf);
}

uint64_t proc_ticks_of_ns(uint64_t ns)
{
	static uint64_t ns_per_tick;

	if (!ns_per_tick)
		ns_per_tick = 1000000000ull / sysconf(_SC_CLK_TCK);
	return ns / ns_per_tick;
}

uint64_t proc_socket_inode(pid_t tgid, int fd)
{
	char path[64], link[64];
	ssize_t n;
	uint64_t ino;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", tgid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 && (errno == EACCES || errno == EPERM))
		return PROC_INODE_UNKNOWN;
	if (n <= 0)
		return 0;
	link[n] = '\0';
	if (sscanf(link, "socket:[%" SCNu64 "]", &ino) != 1)
		return 0;
	return ino;
}

bool proc_exe_matches(pid_t tgid, const char *const *globs, size_t n)
{
	char path[64], exe[4096];
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/exe", tgid);
	len = readlink(path, exe, sizeof(exe) - 1);
	if (len <= 0)
		return false;
	exe[len] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!fnmatch(globs[i], exe, 0))
			return true;
	return false;
}

static bool path_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	while (n > 1 && prefix[n - 1] == '/')
		n--;
	return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/' || n == 1);
}

bool proc_cgroup_matches(pid_t tgid, const char *const *prefixes, size_t n)
{
	char path[64], line[4096];
	bool match = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", tgid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!match && fgets(line, sizeof(line), f)) {
		/* "hierarchy:controllers:path": the path is after the 2nd colon */
		char *p = strchr(line, ':');

		p = p ? strchr(p + 1, ':') : NULL;
		if (!p)
			continue;
		p++;
		p[strcspn(p, "\n")] = '\0';
		for (size_t i = 0; i < n && !match; i++)
			match = path_under(p, prefixes[i]);
	}
	fclose(f);
	return match;
}

/* The kernel prints an address as 32-bit words in %08X of their value
 * in memory: each word back to its bytes gives network order. */
static int parse_addr(const char *hex, struct conn_addr *a)
{
	size_t len = strlen(hex);

	if (len != 8 && len != 32)
		return -1;
	a->family = len == 8 ? AF_INET : AF_INET6;
	for (size_t w = 0; w < len / 8; w++) {
		char word[9];
		uint32_t v;

		memcpy(word, hex + w * 8, 8);
		word[8] = '\0';
		v = strtoul(word, NULL, 16);
		memcpy(a->addr + w * 4, &v, sizeof(v));
	}
	return 0;
}

int proc_parse_tcp_line(const char *line, struct sock_entry *e)
{
	unsigned int lport, rport, state;
	unsigned long long inode;
	char laddr[64], raddr[64];
	int n;

	/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
	n = sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %63[0-9A-Fa-f]:%x %x %*s %*s %*s %*u %*u %llu",
		   laddr, &lport, raddr, &rport, &state, &inode);
	if (n != 6 || lport > 65535 || rport > 65535 || state > 255)
		return -1;
	memset(&e->remote, 0, sizeof(e->remote));
	if (parse_addr(raddr, &e->remote))
		return -1;
	e->remote.port = rport;
	e->lport = lport;
	e->rport = rport;
	e->state = state;
	e->inode = inode;
	return 0;
}

#define SO_ACCEPTCON (1u << 16)
#define SS_CONNECTED 3
#define UNIX_STREAM  1

int proc_parse_unix_line(const char *line, struct unix_entry *e)
{
	unsigned int refs, proto, flags, type, state;
	unsigned long long inode;
	const char *rest;
	int n = -1;

	/* Num RefCount Protocol Flags Type St Inode [Path] (unix_seq_show) */
	if (sscanf(line, "%*[0-9A-Fa-f]: %x %x %x %x %x %llu%n", &refs, &proto, &flags, &type,
		   &state, &inode, &n) != 6 ||
	    n < 0 || type > 0xffff || state > 0xff)
		return -1;
	for (rest = line + n; *rest == ' '; rest++)
		;
	e->flags = flags;
	e->type = type;
	e->state = state;
	e->inode = inode;
	e->named = *rest && *rest != '\n';
	return 0;
}

bool proc_unix_client(const struct unix_entry *e)
{
	return e->type == UNIX_STREAM && e->state == SS_CONNECTED && !(e->flags & SO_ACCEPTCON) &&
	       !e->named;
}

void proc_for_each_tgid(void (*cb)(void *ctx, pid_t tgid), void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end == '\0' && pid > 0)
			cb(ctx, pid);
	}
	closedir(d);
}

/* Established connections of one network namespace, by inode. */
struct netns_conns {
	uint8_t listening[PORTS_BITS / 8];
	struct sock_entry *conns;
	size_t n, cap;
};

static void netns_add(struct netns_conns *ns, const struct sock_entry *e)
{
	if (array_reserve((void **)&ns->conns, &ns->cap, ns->n + 1, sizeof(*ns->conns)))
		return;
	ns->conns[ns->n++] = *e;
}

static void netns_read(struct netns_conns *ns, pid_t tgid, const char *file)
{
	char path[64], line[512];
	struct sock_entry e;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", tgid, file);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (proc_parse_tcp_line(line, &e))
			continue;
		if (e.state == TCP_LISTEN)
			ns->listening[e.lport / 8] |= 1 << (e.lport % 8);
		else if (e.state == TCP_ESTABLISHED || e.state == TCP_CLOSE_WAIT)
			netns_add(ns, &e);
	}
	fclose(f);
}

static const struct sock_entry *netns_find(const struct netns_conns *ns, uint64_t ino)
{
	for (size_t i = 0; i < ns->n; i++)
		if (ns->conns[i].inode == ino)
			return &ns->conns[i];
	return NULL;
}

static bool netns_listening(const struct netns_conns *ns, uint16_t port)
{
	return ns->listening[port / 8] & (1 << (port % 8));
}

/* The unix clients' sockets of one network namespace, sorted by inode.
 * Its /proc/net/unix lists every unix socket of the namespace, thousands
 * on a desktop, so it is read once per namespace, not once per process
 * as the TCP files are. */
struct netns_unix {
	uint64_t netns; /* the namespace's inode */
	uint64_t *inodes;
	size_t n, cap;
};

struct scan_ctx {
	proc_conn_cb cb;
	void *ctx;
	struct netns_unix *unix_ns; /* the namespaces read so far */
	size_t nunix_ns, unix_ns_cap;
};

static int inode_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void unix_read(struct netns_unix *u, pid_t tgid)
{
	char path[64], line[512];
	struct unix_entry e;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/unix", tgid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (proc_parse_unix_line(line, &e) || !proc_unix_client(&e))
			continue;
		if (array_reserve((void **)&u->inodes, &u->cap, u->n + 1, sizeof(*u->inodes)))
			break;
		u->inodes[u->n++] = e.inode;
	}
	fclose(f);
	qsort(u->inodes, u->n, sizeof(*u->inodes), inode_cmp);
}

/* tgid's namespace's unix clients, read at its first process; NULL when
 * its namespace cannot be told or memory ran out. */
static const struct netns_unix *unix_of(struct scan_ctx *s, pid_t tgid)
{
	char path[64];
	struct stat st;
	struct netns_unix *u;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", tgid);
	if (stat(path, &st))
		return NULL;
	for (size_t i = 0; i < s->nunix_ns; i++)
		if (s->unix_ns[i].netns == st.st_ino)
			return &s->unix_ns[i];
	if (array_reserve((void **)&s->unix_ns, &s->unix_ns_cap, s->nunix_ns + 1,
			  sizeof(*s->unix_ns)))
		return NULL;
	u = &s->unix_ns[s->nunix_ns++];
	*u = (struct netns_unix){.netns = st.st_ino};
	unix_read(u, tgid);
	return u;
}

static bool unix_client(const struct netns_unix *u, uint64_t ino)
{
	return u && bsearch(&ino, u->inodes, u->n, sizeof(*u->inodes), inode_cmp);
}

static void scan_fds(struct netns_conns *ns, const struct netns_unix *u, pid_t tgid,
		     const struct scan_ctx *s)
{
	struct sock_entry unix_conn = {.state = TCP_ESTABLISHED, .remote.family = AF_UNIX};
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", tgid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		uint64_t ino = de->d_name[0] != '.' ? proc_socket_inode(tgid, fd) : 0;
		const struct sock_entry *e = ino ? netns_find(ns, ino) : NULL;

		if (e) {
			s->cb(s->ctx, tgid, fd, e, netns_listening(ns, e->lport));
		} else if (ino && unix_client(u, ino)) {
			unix_conn.inode = ino;
			s->cb(s->ctx, tgid, fd, &unix_conn, false);
		}
	}
	closedir(d);
}

static void scan_process(void *ctx, pid_t tgid)
{
	struct scan_ctx *s = ctx;
	struct netns_conns *ns = calloc(1, sizeof(*ns));
	const struct netns_unix *u;

	/* Each process is read in its own network namespace: containers
	 * have theirs. TCP connections are few, so this stays cheap. */
	if (!ns)
		return;
	netns_read(ns, tgid, "tcp");
	netns_read(ns, tgid, "tcp6");
	u = unix_of(s, tgid);
	if (ns->n || (u && u->n))
		scan_fds(ns, u, tgid, s);
	free(ns->conns);
	free(ns);
}

void proc_scan_established(proc_conn_cb cb, void *ctx)
{
	struct scan_ctx s = {.cb = cb, .ctx = ctx};

	proc_for_each_tgid(scan_process, &s);
	for (size_t i = 0; i < s.nunix_ns; i++)
		free(s.unix_ns[i].inodes);
	free(s.unix_ns);
}
