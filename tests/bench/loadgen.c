// SPDX-License-Identifier: MIT
/*
 * Benchmark load generator (driven by tests/bench/bench.py).
 *
 *   loadgen untracked N   4N write()s of 64 bytes to /dev/null by a process
 *                         with no tracked connection; N write()s of 64
 *                         bytes on an accepted TCP socket whose first bytes
 *                         read were not HTTP (the exporter marks it
 *                         PROTO_OTHER: neither HTTP nor a TLS
 *                         ClientHello); 4N writes to /dev/null again, now
 *                         from a process with a tracked connection
 *   loadgen sse N         an accepted TCP connection that reads a real
 *                         HTTP request, answers with an SSE response, and
 *                         writes N events, one chunk each, one write()
 *                         each
 *   loadgen ssl N CERT KEY
 *                         the same SSE response as sse, over TLS (OpenSSL,
 *                         the system's libssl.so.3, socket BIOs): the
 *                         server end reads the request with SSL_read and
 *                         writes N events with one SSL_write each; the
 *                         client end drains the ciphertext with plain
 *                         read()s, so no library call but the timed
 *                         SSL_write runs in the timed loop or between;
 *                         prints ssl_write_p10, the 10th percentile of
 *                         the batches, beside the usual figures
 *   loadgen client PORT CONNS SECONDS EVENTS
 *                         CONNS keep-alive connections each POSTing
 *                         /v1/chat/completions?events=EVENTS&interval_ms=0
 *                         (after LOADGEN_PREFIX, below)
 *                         to 127.0.0.1:PORT in a loop for SECONDS;
 *                         counts the SSE data events received
 *   loadgen tlsclient PORT CONNS SECONDS EVENTS
 *                         the same over TLS, with GnuTLS, which the
 *                         exporter does not hook (the server's
 *                         certificate is not verified)
 *   loadgen streams PORT REPEAT CONNSxEVENTS[xSTREAMS]...
 *                         for each group, CONNS connections each POSTing
 *                         one request for EVENTS events at full rate
 *                         (events=EVENTS&interval_ms=0&nodelay=1: the Go
 *                         server's back to back, the others' interval 0),
 *                         all opened at once and read to their ends in
 *                         one epoll loop (threads would take the server's
 *                         CPU at ~300k events/s), then STREAMS (1) in all
 *                         one after the other on each keep-alive
 *                         connection; REPEAT times in a row;
 *                         the figures of client
 *   loadgen hold PORT N   N streams (events=2, an hour apart) opened 64 at
 *                         a time; each, once its first event arrived, is
 *                         held open; then prints "mark held", waits for a
 *                         line on stdin and closes them all
 *   loadgen redis PORT N  N GETs of a key that does not exist, as a client
 *                         of the redis-server on 127.0.0.1:PORT, pipelined
 *                         REDIS_PIPELINE at a time (one write, then the
 *                         replies read); redis_get is ns per command,
 *                         redis_commands the number sent between the marks
 *
 * Timed loops are split into BATCHES batches; each figure is printed as
 * "name median_ns_per_op mean_ns_per_op" where the median is over the
 * batches (robust to an odd preemption) and the mean over the whole loop.
 * With LOADGEN_PREFIX=/some/prefix in the environment, the requests of
 * sse, ssl and the client modes go to /some/prefix/v1/chat/completions
 * (the e2e servers serve that path under any prefix): bench.py gives each
 * measurement a path of its own, so that it can tell the series of its
 * traffic from that of other processes on the host.
 * With HOLD=1 in the environment, untracked and sse print
 * "hold PID FD" after the timed loops and wait for a line on stdin
 * before closing, so that the caller can look at the BPF maps. With
 * MARKS=1, untracked, sse, ssl and redis print "mark begin" and "mark end"
 * around their measured writes (warm-up included) and wait for a line
 * after each: the caller reads the BPF programs' run times there.
 * untracked prints the number of those writes (socket_writes).
 *
 * Nothing is pinned. The process accepts its own connections, so the
 * exporter sees them as a server's. Requests go out unobserved
 * (send_unobserved, or tlsclient's GnuTLS): the exporter sees the
 * server's side only, as it would with clients on other hosts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define BATCHES	   50
#define DRAIN_BUF  (256 * 1024)
#define PIPE_CHUNK 32768 /* splice_out's pieces: within an empty pipe's capacity */

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Writes buf to socket fd through a pipe and splice(2): 0, or -1 with
 * errno set. */
static int splice_out(int fd, const char *buf, size_t len)
{
	int p[2], err = 0;

	if (pipe(p))
		return -1;
	while (len && !err) {
		size_t piece = len < PIPE_CHUNK ? len : PIPE_CHUNK;
		size_t left = piece;

		write_all(p[1], buf, piece); /* fits: the pipe is empty */
		while (left && !err) {
			ssize_t n = splice(p[0], NULL, fd, NULL, left, 0);

			if (n < 0 && errno != EINTR)
				err = errno;
			else if (n > 0)
				left -= (size_t)n;
		}
		buf += piece;
		len -= piece;
	}
	close(p[0]);
	close(p[1]);
	errno = err;
	return err ? -1 : 0;
}

/* Writes a request the way a client on another host would appear to the
 * exporter: not at all. splice(2) is not among its hooks, so the
 * connection's first hooked call is the client's read of the response,
 * which makes it not HTTP (PROTO_OTHER) and no longer looked at; else the
 * exporter would follow each stream twice, the client's end as an
 * upstream call whose bytes it copies. */
static void send_unobserved(int fd, const void *buf, size_t len)
{
	if (splice_out(fd, buf, len))
		die("splice");
}

/* GnuTLS's push: the TLS client's records go out unobserved too, so its
 * first hooked call is its read of the ServerHello and its connection is
 * PROTO_OTHER to the exporter, as the plain clients' are; else its every
 * read would take a TLS connection's path (the server's side is what the
 * bench measures). */
static ssize_t push_unobserved(gnutls_transport_ptr_t fd, const void *buf, size_t len)
{
	return splice_out((int)(intptr_t)fd, buf, len) ? -1 : (ssize_t)len;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct timing {
	double batch[BATCHES];
	uint64_t total_ns;
	long ops;
};

static void report(const char *name, struct timing *t)
{
	qsort(t->batch, BATCHES, sizeof(double), cmp_double);
	printf("%s %.1f %.1f\n", name, (t->batch[BATCHES / 2 - 1] + t->batch[BATCHES / 2]) / 2,
	       (double)t->total_ns / (double)t->ops);
	fflush(stdout);
}

/* A connected pair on 127.0.0.1: *srv is the accepted end. */
static void tcp_pair(int *srv, int *cli)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int one = 1, l;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		die("listen");
	*cli = socket(AF_INET, SOCK_STREAM, 0);
	if (*cli < 0 || connect(*cli, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	*srv = accept(l, NULL, NULL);
	if (*srv < 0)
		die("accept");
	close(l);
	/* one segment per write, as servers that stream do */
	setsockopt(*srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Reads everything until EOF; returns the byte count. */
static void *drain(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(DRAIN_BUF);
	uint64_t total = 0;
	ssize_t n;

	if (!buf)
		die("malloc");
	while ((n = read(fd, buf, DRAIN_BUF)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("drain read");
		}
		total += (uint64_t)n;
	}
	free(buf);
	return (void *)(uintptr_t)total;
}

/* The time n writes of len bytes of buf to fd take, in ns. */
static uint64_t write_batch(int fd, const char *buf, size_t len, long n)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		if (write(fd, buf, len) != (ssize_t)len)
			die("timed write");
	return now_ns() - t0;
}

/* N writes of len bytes of buf to fd, in BATCHES batches. */
static void timed_writes(int fd, const char *buf, size_t len, long n, struct timing *t)
{
	long per = n / BATCHES;

	t->ops = per * BATCHES;
	t->total_ns = 0;
	for (int b = 0; b < BATCHES; b++) {
		uint64_t dt = write_batch(fd, buf, len, per);

		t->total_ns += dt;
		t->batch[b] = (double)dt / (double)per;
	}
}

/*
 * Inline draining: batches of BATCH_OPS writes, and between two batches,
 * untimed, the same thread reads everything the peer end holds. No other
 * thread runs, so no cross-CPU wakeup lands in the timed loop: what is
 * timed is the writer's syscall alone (with its loopback delivery). A
 * batch fits the socket buffers, so a write never blocks.
 */
#define BATCH_OPS   256
#define MAX_BATCHES 100000

static double batch_ns[MAX_BATCHES];

static void drain_nonblock(int fd)
{
	static char buf[DRAIN_BUF];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		die("drain");
}

static void inline_writes(int fd, int peer, const char *buf, size_t len, long n, struct timing *t)
{
	long nb = n / BATCH_OPS;

	if (nb > MAX_BATCHES)
		nb = MAX_BATCHES;
	if (nb < BATCHES)
		nb = BATCHES;
	if (peer >= 0)
		fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) | O_NONBLOCK);
	t->ops = nb * BATCH_OPS;
	t->total_ns = 0;
	for (long b = 0; b < nb; b++) {
		uint64_t dt = write_batch(fd, buf, len, BATCH_OPS);

		t->total_ns += dt;
		batch_ns[b] = (double)dt / BATCH_OPS;
		if (peer >= 0)
			drain_nonblock(peer);
	}
	qsort(batch_ns, (size_t)nb, sizeof(double), cmp_double);
	/* report() takes the middle of batch[]: give it the middle of all */
	for (int i = 0; i < BATCHES; i++)
		t->batch[i] = batch_ns[nb / 2 - BATCHES / 2 + i];
	if (peer >= 0)
		fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) & ~O_NONBLOCK);
}

static int inline_mode(void)
{
	const char *m = getenv("DRAIN");

	return !m || strcmp(m, "thread");
}

/* Prints line, then waits for a line on stdin: the caller's go-ahead (it
 * looks at the BPF maps, programs or the exporter meanwhile). */
static void handshake(const char *line)
{
	char in[16];

	puts(line);
	fflush(stdout);
	if (!fgets(in, sizeof(in), stdin))
		return;
}

static void hold(int fd)
{
	char line[64];

	if (!getenv("HOLD"))
		return;
	snprintf(line, sizeof(line), "hold %d %d", (int)getpid(), fd);
	handshake(line);
}

/* With MARKS=1, "mark begin" and "mark end" around the measured writes,
 * each waiting for the go-ahead: the caller reads the BPF programs' run
 * times there, without those of the process's start or of the other
 * measurements of the mode. */
static void mark(const char *where)
{
	char line[32];

	if (!getenv("MARKS"))
		return;
	snprintf(line, sizeof(line), "mark %s", where);
	handshake(line);
}

static void finish_pair(int srv, int cli, pthread_t *reader)
{
	shutdown(srv, SHUT_WR);
	if (reader)
		pthread_join(*reader, NULL);
	else
		drain((void *)(intptr_t)cli);
	close(cli);
	close(srv);
}

static int mode_untracked(long n)
{
	/* a RESP array's first byte (Redis): neither HTTP nor TLS (0x16) */
	char buf[64], first = '*';
	struct timing t;
	pthread_t reader;
	int srv, cli, null, inl = inline_mode();
	long written;

	memset(buf, 'x', sizeof(buf));
	/* First as a process the exporter does not track at all: no
	 * connection in the conns map, no task storage yet. */
	null = open("/dev/null", O_WRONLY);
	if (null < 0)
		die("/dev/null");
	timed_writes(null, buf, sizeof(buf), n / 10, &t);
	timed_writes(null, buf, sizeof(buf), n * 4, &t); /* 4x: each is cheaper */
	report("devnull_unobserved", &t);

	tcp_pair(&srv, &cli);
	/* The first bytes the server reads decide: not HTTP. Unobserved: the
	 * client's side would be a Redis client's to the exporter (a lone '*'
	 * is a command's first byte), and its reads of the drain no replies. */
	send_unobserved(cli, &first, 1);
	if (read(srv, &first, 1) != 1)
		die("first read");
	mark("begin");
	if (inl) {
		inline_writes(srv, cli, buf, sizeof(buf), n / 10, &t); /* warm up */
		written = t.ops;
		inline_writes(srv, cli, buf, sizeof(buf), n, &t);
	} else {
		if (pthread_create(&reader, NULL, drain, (void *)(intptr_t)cli))
			die("pthread_create");
		timed_writes(srv, buf, sizeof(buf), n / 10, &t);
		written = t.ops;
		timed_writes(srv, buf, sizeof(buf), n, &t);
	}
	written += t.ops;
	mark("end");
	report("socket_write", &t);
	printf("socket_writes %ld\n", written);

	/* Then as a process with a tracked connection, the same exit path
	 * as the socket writes, without the socket. */
	timed_writes(null, buf, sizeof(buf), n / 10, &t);
	timed_writes(null, buf, sizeof(buf), n * 4, &t);
	report("devnull_write", &t);
	close(null);

	hold(srv);
	finish_pair(srv, cli, inl ? NULL : &reader);
	return 0;
}

static const char sse_body[] = "{\"model\":\"m\",\"stream\":true}";
static const char sse_data[] =
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[{\"delta\":{\"content\":\"tok\"}}]}\n\n";

/* LOADGEN_PREFIX, or "" */
static const char *prefix(void)
{
	const char *p = getenv("LOADGEN_PREFIX");

	if (p && strlen(p) > 200) {
		fprintf(stderr, "loadgen: LOADGEN_PREFIX too long\n");
		exit(2);
	}
	return p ? p : "";
}

/* The request of a stream, with "?query" unless query is NULL; its length. */
static size_t request_text(char *req, size_t size, const char *query)
{
	int len;

	len = snprintf(req, size,
		       "POST %s/v1/chat/completions%s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		       "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\n\r\n%s",
		       prefix(), query ? "?" : "", query ? query : "", strlen(sse_body), sse_body);
	if (len < 0 || (size_t)len >= size) {
		fprintf(stderr, "loadgen: request too long\n");
		exit(2);
	}
	return (size_t)len;
}

static void write_request(int fd)
{
	char req[512];

	send_unobserved(fd, req, request_text(req, sizeof(req), NULL));
}

/* The threaded client: writes the request, then reads to EOF. */
static void *sse_client(void *arg)
{
	int fd = (int)(intptr_t)arg;

	write_request(fd);
	return drain(arg);
}

static int mode_sse(long n)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct timing t;
	pthread_t client;
	char req[1024], chunk[256];
	size_t got = 0;
	int srv, cli, len, inl = inline_mode();
	long warm = n / 10, written;

	tcp_pair(&srv, &cli);
	if (inl)
		write_request(cli);
	else if (pthread_create(&client, NULL, sse_client, (void *)(intptr_t)cli))
		die("pthread_create");
	/* Read the whole request, head and body, as a server does. */
	while (got < sizeof(req) - 1) {
		ssize_t r = read(srv, req + got, sizeof(req) - 1 - got);

		if (r <= 0)
			die("request read");
		got += (size_t)r;
		req[got] = '\0';
		char *end = strstr(req, "\r\n\r\n");
		if (end && got >= (size_t)(end + 4 - req) + strlen(sse_body))
			break;
	}
	write_all(srv, head, sizeof(head) - 1);
	len = snprintf(chunk, sizeof(chunk), "%zx\r\n%s\r\n", strlen(sse_data), sse_data);
	mark("begin");
	if (inl) {
		inline_writes(srv, cli, chunk, (size_t)len, warm, &t); /* warm up, same stream */
		written = t.ops;
		inline_writes(srv, cli, chunk, (size_t)len, n, &t);
	} else {
		timed_writes(srv, chunk, (size_t)len, warm, &t);
		written = t.ops;
		timed_writes(srv, chunk, (size_t)len, n, &t);
	}
	written += t.ops;
	mark("end");
	write_all(srv, "0\r\n\r\n", 5);
	report("sse_event", &t);
	printf("sse_events_written %ld\n", written);
	fflush(stdout);

	hold(srv);
	finish_pair(srv, cli, inl ? NULL : &client);
	return 0;
}

/* ---- ssl mode: the same SSE response over TLS ---- */

static void die_ssl(const char *what)
{
	fprintf(stderr, "loadgen: %s failed:\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die_ssl("server context");
	SSL_CTX_set_num_tickets(ctx, 0); /* nothing but the events after the handshake */
	return ctx;
}

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		die_ssl("client context");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* tlsclient's: no certificate of its own, the server's not verified
 * (GnuTLS verifies only when asked to). */
static gnutls_certificate_credentials_t gnutls_client_creds(void)
{
	gnutls_certificate_credentials_t creds;

	if (gnutls_certificate_allocate_credentials(&creds) != GNUTLS_E_SUCCESS) {
		fprintf(stderr, "loadgen: GnuTLS credentials\n");
		exit(1);
	}
	return creds;
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* One step of a non-blocking handshake: 1 done, 0 wants more. */
static int handshake_step(SSL *s, const char *who)
{
	int r = SSL_do_handshake(s), e;

	if (r == 1)
		return 1;
	e = SSL_get_error(s, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		die_ssl(who);
	return 0;
}

/* SSL_write of all of len; the socket is blocking, so it writes all or
 * fails. */
static void ssl_write_all(SSL *s, const void *buf, size_t len)
{
	if (SSL_write(s, buf, (int)len) != (int)len)
		die_ssl("SSL_write");
}

/* As inline_writes, with SSL_write: batches of SSL_BATCH_OPS writes of
 * one TLS record each, and between two batches, untimed, the peer's
 * ciphertext read and thrown away with plain read()s. A warm-up (t->ops
 * 0 on entry) may be shorter than BATCHES batches: a uprobe makes each
 * SSL_write cost tens of microseconds on a nested VM.
 *
 * *low gets the 10th percentile of the batches: on a nested VM the cost
 * of a uprobe's traps swings between about 15 and 28 us in phases of
 * tens of milliseconds (host activity), which moves the median of a run
 * by half; the low quantile is the undisturbed trap, plus whatever the
 * programs add to every call. */
#define SSL_BATCH_OPS 128

static void ssl_inline_writes(SSL *s, int peer, const char *buf, size_t len, long n,
			      struct timing *t, double *low)
{
	long nb = n / SSL_BATCH_OPS;
	int warm = t->ops == 0;

	if (nb > MAX_BATCHES)
		nb = MAX_BATCHES;
	if (nb < (warm ? 1 : BATCHES))
		nb = warm ? 1 : BATCHES;
	t->ops = nb * SSL_BATCH_OPS;
	t->total_ns = 0;
	for (long b = 0; b < nb; b++) {
		uint64_t t0 = now_ns();

		for (int i = 0; i < SSL_BATCH_OPS; i++)
			if (SSL_write(s, buf, (int)len) != (int)len)
				die_ssl("timed SSL_write");
		uint64_t dt = now_ns() - t0;

		t->total_ns += dt;
		batch_ns[b] = (double)dt / SSL_BATCH_OPS;
		drain_nonblock(peer);
	}
	if (warm)
		return;
	qsort(batch_ns, (size_t)nb, sizeof(double), cmp_double);
	*low = batch_ns[nb / 10];
	for (int i = 0; i < BATCHES; i++)
		t->batch[i] = batch_ns[nb / 2 - BATCHES / 2 + i];
}

static int mode_ssl(long n, const char *cert, const char *key)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
	SSL_CTX *sctx = server_ctx(cert, key), *cctx = client_ctx();
	SSL *ss, *cs;
	struct timing t = {.ops = 0};
	double low = 0;
	char req[1024], chunk[256];
	size_t got = 0;
	int srv, cli, len, sdone = 0, cdone = 0;
	long warm = n / 10, written;

	tcp_pair(&srv, &cli);
	ss = SSL_new(sctx);
	cs = SSL_new(cctx);
	if (!ss || !cs || !SSL_set_fd(ss, srv) || !SSL_set_fd(cs, cli))
		die_ssl("SSL_new");
	SSL_set_accept_state(ss);
	SSL_set_connect_state(cs);
	/* Both ends in this thread: non-blocking, turn about. */
	set_nonblock(srv, 1);
	set_nonblock(cli, 1);
	for (int i = 0; !(sdone && cdone); i++) {
		if (i > 1000) {
			fprintf(stderr, "loadgen: TLS handshake does not end\n");
			return 1;
		}
		if (!cdone)
			cdone = handshake_step(cs, "client handshake");
		if (!sdone)
			sdone = handshake_step(ss, "server handshake");
	}
	/* The request, then read by the server as a server does. */
	set_nonblock(cli, 0);
	ssl_write_all(cs, req, request_text(req, sizeof(req), NULL));
	set_nonblock(srv, 0);
	while (got < sizeof(req) - 1) {
		int r = SSL_read(ss, req + got, (int)(sizeof(req) - 1 - got));

		if (r <= 0)
			die_ssl("request SSL_read");
		got += (size_t)r;
		req[got] = '\0';
		char *end = strstr(req, "\r\n\r\n");
		if (end && got >= (size_t)(end + 4 - req) + strlen(sse_body))
			break;
	}
	/* From here the client end is only drained, never decrypted. */
	set_nonblock(cli, 1);
	ssl_write_all(ss, head, sizeof(head) - 1);
	len = snprintf(chunk, sizeof(chunk), "%zx\r\n%s\r\n", strlen(sse_data), sse_data);
	mark("begin");
	ssl_inline_writes(ss, cli, chunk, (size_t)len, warm, &t, &low); /* warm up, same stream */
	written = t.ops;
	ssl_inline_writes(ss, cli, chunk, (size_t)len, n, &t, &low);
	written += t.ops;
	mark("end");
	ssl_write_all(ss, "0\r\n\r\n", 5);
	report("ssl_write", &t);
	printf("ssl_write_p10 %.1f\nssl_events_written %ld\n", low, written);
	fflush(stdout);

	hold(srv);
	drain_nonblock(cli);
	SSL_free(cs);
	SSL_free(ss);
	close(cli);
	close(srv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	return 0;
}

/* ---- an HTTP/1.1 response with a chunked SSE body, fed in pieces ---- */

enum resp_state { R_HEAD, R_SIZE, R_DATA, R_DATA_END, R_TRAILER, R_DONE, R_BAD };

/* What a response has shown so far: a reader feeds it whatever it read,
 * in pieces of any size, so that one parser serves the blocking clients
 * and the many streams of one epoll loop. "data:" at a line start of the
 * body is an event. */
struct resp_parser {
	enum resp_state state;
	int chunked;
	unsigned long left; /* bytes of the current chunk still to come */
	char line[128];	    /* the head, size or trailer line being read (its start) */
	size_t line_len;
	int line_start, matched;
	uint64_t events;
};

static void resp_init(struct resp_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->line_start = 1;
}

static int resp_over(const struct resp_parser *p)
{
	return p->state == R_DONE || p->state == R_BAD;
}

/* A complete line outside chunk data, its line end stripped. */
static void resp_line(struct resp_parser *p)
{
	const char *l = p->line;

	switch (p->state) {
	case R_HEAD:
		if (!p->line_len)
			p->state = p->chunked ? R_SIZE : R_BAD;
		else if (!strncasecmp(l, "transfer-encoding: chunked", 26))
			p->chunked = 1;
		break;
	case R_SIZE:
		p->left = strtoul(l, NULL, 16);
		p->state = p->left ? R_DATA : R_TRAILER;
		break;
	case R_DATA_END:
		p->state = p->line_len ? R_BAD : R_SIZE;
		break;
	case R_TRAILER:
		if (!p->line_len)
			p->state = R_DONE;
		break;
	default:
		break;
	}
}

static void count_events(struct resp_parser *p, const char *s, size_t n)
{
	static const char match[] = "data:";

	for (size_t i = 0; i < n; i++) {
		if (p->line_start || p->matched) {
			if (s[i] != match[p->matched])
				p->matched = 0;
			else if (++p->matched == 5) {
				p->events++;
				p->matched = 0;
			}
		}
		p->line_start = s[i] == '\n';
	}
}

/* Feeds n bytes; returns how many belong to this response (all of them,
 * unless it ended within them). */
static size_t resp_feed(struct resp_parser *p, const char *buf, size_t n)
{
	size_t i = 0;

	while (i < n && !resp_over(p)) {
		if (p->state == R_DATA) {
			size_t k = n - i < p->left ? n - i : p->left;

			count_events(p, buf + i, k);
			i += k;
			p->left -= k;
			if (!p->left)
				p->state = R_DATA_END;
			continue;
		}
		if (buf[i] != '\n') {
			if (p->line_len < sizeof(p->line) - 1)
				p->line[p->line_len++] = buf[i];
			i++;
			continue;
		}
		i++;
		if (p->line_len && p->line[p->line_len - 1] == '\r')
			p->line_len--;
		p->line[p->line_len] = '\0';
		resp_line(p);
		p->line_len = 0;
	}
	return i;
}

/* ---- client mode: drive a real SSE server ---- */

struct driver {
	int port, events;
	gnutls_certificate_credentials_t tls; /* tlsclient: every connection speaks TLS */
	uint64_t deadline;
	uint64_t data_events, requests, errors;
};

/* A blocking connection's bytes read but not yet parsed. */
struct resp {
	char buf[65536];
	size_t have, pos;
	int fd;
	gnutls_session_t tls; /* over TLS, else NULL */
};

/* Pause after each read of the client: data piles up, so a read takes
 * several events and the clients wake, and steal the server's CPU, less. */
static useconds_t client_pause_us;

/* Reads more, once everything read before is parsed; -1 on EOF or error. */
static int fill(struct resp *r)
{
	ssize_t n;

	if (client_pause_us)
		usleep(client_pause_us);
	if (r->tls) /* AGAIN after a post-handshake message (TLS 1.3 tickets) */
		do
			n = gnutls_record_recv(r->tls, r->buf, sizeof(r->buf));
		while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	else
		n = read(r->fd, r->buf, sizeof(r->buf));
	if (n <= 0)
		return -1;
	r->have = (size_t)n;
	r->pos = 0;
	return 0;
}

/* One response, read to its end: 0, or -1 on error or EOF before it. Its
 * events are added to *events either way: a cut response's arrived. */
static int read_response(struct resp *r, uint64_t *events)
{
	struct resp_parser p;

	resp_init(&p);
	while (!resp_over(&p)) {
		if (r->pos == r->have && fill(r))
			break;
		r->pos += resp_feed(&p, r->buf + r->pos, r->have - r->pos);
	}
	*events += p.events;
	return p.state == R_DONE ? 0 : -1;
}

static int connect_port(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void disconnect(struct resp *r)
{
	if (r->tls)
		gnutls_deinit(r->tls);
	r->tls = NULL;
	close(r->fd);
	r->fd = -1;
}

/* A new connection for r, with its TLS handshake in tlsclient mode. */
static int reconnect(struct resp *r, const struct driver *d)
{
	r->fd = connect_port(d->port);
	r->have = r->pos = 0;
	if (r->fd < 0 || !d->tls)
		return r->fd < 0 ? -1 : 0;
	if (gnutls_init(&r->tls, GNUTLS_CLIENT) != GNUTLS_E_SUCCESS) {
		r->tls = NULL;
		disconnect(r);
		return -1;
	}
	gnutls_transport_set_int(r->tls, r->fd);
	gnutls_transport_set_push_function(r->tls, push_unobserved);
	if (gnutls_set_default_priority(r->tls) != GNUTLS_E_SUCCESS ||
	    gnutls_credentials_set(r->tls, GNUTLS_CRD_CERTIFICATE, d->tls) != GNUTLS_E_SUCCESS ||
	    gnutls_handshake(r->tls) != GNUTLS_E_SUCCESS) {
		disconnect(r);
		return -1;
	}
	return 0;
}

static int send_request(struct resp *r, const char *req, size_t len)
{
	if (!r->tls) {
		send_unobserved(r->fd, req, len);
		return 0;
	}
	return gnutls_record_send(r->tls, req, len) == (ssize_t)len ? 0 : -1;
}

static void *drive(void *arg)
{
	struct driver *d = arg;
	struct resp *r = calloc(1, sizeof(*r));
	char req[512], query[64];
	size_t len;

	if (!r)
		die("calloc");
	snprintf(query, sizeof(query), "events=%d&interval_ms=0", d->events);
	len = request_text(req, sizeof(req), query);
	r->fd = -1;
	while (now_ns() < d->deadline) {
		uint64_t ev = 0;

		if (r->fd < 0 && reconnect(r, d)) {
			d->errors++;
			usleep(10000);
			continue;
		}
		if (send_request(r, req, len) || read_response(r, &ev)) {
			d->errors++;
			disconnect(r);
		} else {
			d->requests++;
		}
		/* events of a response cut by an error still arrived */
		d->data_events += ev;
	}
	if (r->fd >= 0)
		disconnect(r);
	free(r);
	return NULL;
}

/* The figures of the client modes, since t0, in one line. */
static void print_totals(uint64_t ev, uint64_t req, uint64_t err, uint64_t t0)
{
	double dt = (double)(now_ns() - t0) / 1e9;

	printf("client_events %llu requests %llu errors %llu seconds %.3f events_per_s %.1f\n",
	       (unsigned long long)ev, (unsigned long long)req, (unsigned long long)err, dt,
	       (double)ev / dt);
	fflush(stdout);
}

static int mode_client(int port, int conns, double seconds, int events, int tls)
{
	gnutls_certificate_credentials_t creds = tls ? gnutls_client_creds() : NULL;
	struct driver *d = calloc((size_t)conns, sizeof(*d));
	pthread_t *tids = calloc((size_t)conns, sizeof(*tids));
	uint64_t t0 = now_ns(), ev = 0, req = 0, err = 0;
	const char *pause = getenv("CLIENT_PAUSE_US");

	client_pause_us = pause ? (useconds_t)atoi(pause) : 0;
	if (!d || !tids)
		die("calloc");
	for (int i = 0; i < conns; i++) {
		d[i].port = port;
		d[i].events = events;
		d[i].tls = creds;
		d[i].deadline = t0 + (uint64_t)(seconds * 1e9);
		if (pthread_create(&tids[i], NULL, drive, &d[i]))
			die("pthread_create");
	}
	for (int i = 0; i < conns; i++) {
		pthread_join(tids[i], NULL);
		ev += d[i].data_events;
		req += d[i].requests;
		err += d[i].errors;
	}
	print_totals(ev, req, err, t0);
	free(d);
	free(tids);
	if (creds)
		gnutls_certificate_free_credentials(creds);
	return 0;
}

/* ---- streams and hold modes: many streams at once, one epoll loop ---- */

#define MAX_GROUPS     8
#define HOLD_WINDOW    64 /* hold: streams opened that have shown no event yet */
#define HOLD_QUERY     "events=2&interval_ms=3600000"
#define FLEET_IDLE_MS  10000 /* no byte on any stream for that long: loadgen fails */
#define FLEET_MAX_WAIT 256

struct stream {
	int fd;
	const char *req;
	size_t req_len;
	int left; /* requests still to send on this connection, the current one included */
	struct resp_parser p;
};

struct fleet {
	int port, ep, hold; /* hold: a stream's goal is its first event, not its end */
	size_t n, opened, waiting, window;
	struct stream *s;
	uint64_t events, requests, errors;
};

/* A new connection with its request sent, watched by the epoll loop. */
static void open_next(struct fleet *f)
{
	struct stream *s = &f->s[f->opened++];
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};

	resp_init(&s->p);
	s->fd = connect_port(f->port);
	if (s->fd < 0) {
		f->errors++;
		return;
	}
	send_unobserved(s->fd, s->req, s->req_len);
	set_nonblock(s->fd, 1);
	if (epoll_ctl(f->ep, EPOLL_CTL_ADD, s->fd, &ev))
		die("epoll_ctl");
	f->waiting++;
}

static void close_stream(struct fleet *f, struct stream *s)
{
	f->events += s->p.events;
	close(s->fd);
	s->fd = -1;
}

/* The next request on a keep-alive connection whose response ended. */
static void stream_again(struct fleet *f, struct stream *s)
{
	f->events += s->p.events;
	f->requests++;
	s->left--;
	resp_init(&s->p);
	send_unobserved(s->fd, s->req, s->req_len);
}

static void stream_readable(struct fleet *f, struct stream *s)
{
	static char buf[DRAIN_BUF];
	ssize_t n = read(s->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* a response's end is the end of the bytes read: the next request
	 * goes out only then */
	if (n > 0 && resp_feed(&s->p, buf, (size_t)n) == (size_t)n && s->p.state == R_DONE &&
	    !f->hold && s->left > 1) {
		stream_again(f, s);
		return;
	}
	if (f->hold && s->p.events && s->p.state != R_BAD) {
		/* held: no longer watched, closed at the end */
		epoll_ctl(f->ep, EPOLL_CTL_DEL, s->fd, NULL);
		f->waiting--;
		f->requests++;
	} else if (n <= 0 || resp_over(&s->p)) {
		if (s->p.state == R_DONE && !f->hold)
			f->requests++;
		else
			f->errors++;
		close_stream(f, s);
		f->waiting--;
	}
}

/* Opens the streams, at most window of them waiting at a time, and reads
 * each to its goal. */
static void fleet_run(struct fleet *f)
{
	struct epoll_event ev[FLEET_MAX_WAIT];

	while (f->opened < f->n || f->waiting) {
		while (f->opened < f->n && f->waiting < f->window)
			open_next(f);
		if (!f->waiting)
			continue;
		int k = epoll_wait(f->ep, ev, FLEET_MAX_WAIT, FLEET_IDLE_MS);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fprintf(stderr, "loadgen: no byte on %zu streams in %d ms\n", f->waiting,
				FLEET_IDLE_MS);
			exit(1);
		}
		for (int i = 0; i < k; i++)
			stream_readable(f, ev[i].data.ptr);
	}
}

static void fleet_init(struct fleet *f, int port, size_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < n + 64) {
		fprintf(stderr, "loadgen: the open file limit (%llu) is too low for %zu streams\n",
			(unsigned long long)rl.rlim_cur, n);
		exit(1);
	}
	memset(f, 0, sizeof(*f));
	f->port = port;
	f->n = f->window = n;
	f->s = calloc(n, sizeof(*f->s));
	f->ep = epoll_create1(0);
	if (!f->s || f->ep < 0)
		die("fleet");
}

/* Connections from..from+count send req, times requests in a row. */
static void fleet_request(struct fleet *f, size_t from, size_t count, const char *req, size_t len,
			  int times)
{
	for (size_t i = from; i < from + count; i++)
		f->s[i] = (struct stream){.fd = -1, .req = req, .req_len = len, .left = times};
}

static void fleet_free(struct fleet *f)
{
	for (size_t i = 0; i < f->opened; i++)
		if (f->s[i].fd >= 0)
			close_stream(f, &f->s[i]);
	close(f->ep);
	free(f->s);
}

/* Groups CONNSxEVENTS[xSTREAMS] of streams at full rate, all connections
 * opened at once, each stream read to its end, STREAMS (1) in a row on
 * each keep-alive connection; repeat times in a row. */
static int mode_streams(int port, int repeat, int ngroups, char **groups)
{
	char req[MAX_GROUPS][512], query[64];
	int conns[MAX_GROUPS], events[MAX_GROUPS], times[MAX_GROUPS];
	size_t n = 0, len[MAX_GROUPS];
	uint64_t t0, ev = 0, nreq = 0, err = 0;

	for (int g = 0; g < ngroups; g++) {
		int k = g < MAX_GROUPS
			    ? sscanf(groups[g], "%dx%dx%d", &conns[g], &events[g], &times[g])
			    : 0;

		if (k == 2)
			times[g] = 1;
		if (k < 2 || conns[g] < 1 || events[g] < 1 || times[g] < 1) {
			fprintf(stderr,
				"loadgen: streams: groups CONNSxEVENTS[xSTREAMS], at most %d\n",
				MAX_GROUPS);
			return 2;
		}
		snprintf(query, sizeof(query), "events=%d&interval_ms=0&nodelay=1", events[g]);
		len[g] = request_text(req[g], sizeof(req[g]), query);
		n += (size_t)conns[g];
	}
	t0 = now_ns();
	for (int r = 0; r < repeat; r++) {
		struct fleet f;
		size_t k = 0;

		fleet_init(&f, port, n);
		for (int g = 0; g < ngroups; g++) {
			fleet_request(&f, k, (size_t)conns[g], req[g], len[g], times[g]);
			k += (size_t)conns[g];
		}
		fleet_run(&f);
		fleet_free(&f);
		ev += f.events;
		nreq += f.requests;
		err += f.errors;
	}
	print_totals(ev, nreq, err, t0);
	return 0;
}

/* ---- redis mode: a Redis client's pipelined GETs ---- */

#define REDIS_PIPELINE 16
#define REDIS_NIL      "$-1\r\n" /* GET's reply for a missing key (RESP2) */

/* One pipeline: its commands in one write, then all their replies. */
static void redis_pipeline(int fd, const char *cmds, size_t len)
{
	char buf[REDIS_PIPELINE * (sizeof(REDIS_NIL) - 1)];
	size_t got = 0;

	write_all(fd, cmds, len);
	while (got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n <= 0)
			die("redis read");
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(buf); i += sizeof(REDIS_NIL) - 1)
		if (memcmp(buf + i, REDIS_NIL, sizeof(REDIS_NIL) - 1))
			die("redis: a reply other than nil");
}

/* n commands (whole pipelines) in BATCHES batches; ns per command. */
static void redis_timed(int fd, const char *cmds, size_t len, long n, struct timing *t)
{
	long per = n / REDIS_PIPELINE / BATCHES;

	t->ops = per * BATCHES * REDIS_PIPELINE;
	t->total_ns = 0;
	for (int b = 0; b < BATCHES; b++) {
		uint64_t t0 = now_ns(), dt;

		for (long i = 0; i < per; i++)
			redis_pipeline(fd, cmds, len);
		dt = now_ns() - t0;
		t->total_ns += dt;
		t->batch[b] = (double)dt / (double)(per * REDIS_PIPELINE);
	}
}

static int mode_redis(int port, long n)
{
	char key[64], cmd[128], cmds[REDIS_PIPELINE * sizeof(cmd)];
	int fd = connect_port(port), klen, clen;
	struct timing t;
	long sent;

	if (fd < 0)
		die("redis connect");
	klen = snprintf(key, sizeof(key), "loadgen:absent:%d", (int)getpid());
	clen = snprintf(cmd, sizeof(cmd), "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", klen, key);
	for (int i = 0; i < REDIS_PIPELINE; i++)
		memcpy(cmds + i * clen, cmd, (size_t)clen);
	mark("begin");
	redis_timed(fd, cmds, (size_t)clen * REDIS_PIPELINE, n / 10, &t); /* warm up */
	sent = t.ops;
	redis_timed(fd, cmds, (size_t)clen * REDIS_PIPELINE, n, &t);
	sent += t.ops;
	mark("end");
	report("redis_get", &t);
	printf("redis_commands %ld\n", sent);
	close(fd);
	return 0;
}

/* N streams opened and held, each once it has shown its first event,
 * until the go-ahead; then closed. */
static int mode_hold(int port, long n)
{
	char req[512];
	size_t len = request_text(req, sizeof(req), HOLD_QUERY);
	struct fleet f;
	uint64_t t0;

	if (n < 1)
		return 2;
	fleet_init(&f, port, (size_t)n);
	f.hold = 1;
	f.window = HOLD_WINDOW;
	fleet_request(&f, 0, (size_t)n, req, len, 1);
	t0 = now_ns();
	fleet_run(&f);
	handshake("mark held");
	fleet_free(&f);
	print_totals(f.events, f.requests, f.errors, t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "untracked"))
		return mode_untracked(atol(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "sse"))
		return mode_sse(atol(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "ssl"))
		return mode_ssl(atol(argv[2]), argv[3], argv[4]);
	if (argc == 6 && (!strcmp(argv[1], "client") || !strcmp(argv[1], "tlsclient")))
		return mode_client(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), atoi(argv[5]),
				   !strcmp(argv[1], "tlsclient"));
	if (argc >= 5 && !strcmp(argv[1], "streams"))
		return mode_streams(atoi(argv[2]), atoi(argv[3]), argc - 4, argv + 4);
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return mode_hold(atoi(argv[2]), atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "redis"))
		return mode_redis(atoi(argv[2]), atol(argv[3]));
	fprintf(stderr,
		"usage: loadgen untracked N | sse N | ssl N CERT KEY |\n"
		"       loadgen client|tlsclient PORT CONNS SECONDS EVENTS |\n"
		"       loadgen streams PORT REPEAT CONNSxEVENTS[xSTREAMS]... | hold PORT N |\n"
		"       loadgen redis PORT N\n");
	return 2;
}
