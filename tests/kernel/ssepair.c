// SPDX-License-Identifier: MIT
/*
 * An SSE server and its client over loopback, for the kernel matrix (make
 * kernel-test). The server answers each of STREAMS requests with EVENTS
 * events, one chunk per write, then the last chunk, and closes; the client
 * reads each stream to its end and counts the streams that ended with the
 * last chunk and the events it got. What it prints is the ground truth the
 * exporter's counts are checked against:
 *
 *   ssepair [--tls CERT KEY | --handoff] PORT PATH STREAMS EVENTS
 *   truth path=PATH streams=S events=E
 *
 * With --tls both sides speak TLS through libssl.so.3 (the client trusts
 * CERT), so that the exporter sees the plaintext through its OpenSSL
 * uprobes only. With --handoff each connection changes hands halfway
 * through its stream (docs/design.md, "Connections that change hands"),
 * stream i the way i % HANDOFF_WAYS (enum handoff). The server is a
 * child process; its socket listens before the fork, so the client needs
 * no wait for it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct conn {
	int fd;
	SSL *ssl;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "ssepair: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* Bytes read, 0 at the end of the stream (a TLS close_notify, or EOF). */
static ssize_t conn_read(struct conn *c, char *buf, size_t len)
{
	int n;

	if (!c->ssl)
		return read(c->fd, buf, len);
	n = SSL_read(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	return SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static void conn_write(struct conn *c, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = c->ssl ? SSL_write(c->ssl, buf, (int)len) : write(c->fd, buf, len);

		if (n <= 0)
			die("write: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* Wraps an accepted or connected socket in TLS when ctx is set. */
static void conn_open(struct conn *c, int fd, SSL_CTX *ctx, int server)
{
	c->fd = fd;
	c->ssl = NULL;
	if (!ctx)
		return;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, fd))
		die("SSL_new");
	if ((server ? SSL_accept(c->ssl) : SSL_connect(c->ssl)) != 1)
		die("TLS handshake (%s)", server ? "server" : "client");
}

static void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
}

/* Events [from, to), one chunk per write. */
static void stream_events(struct conn *c, int from, int to)
{
	char chunk[128];

	for (int i = from; i < to; i++) {
		char ev[64];
		int len = snprintf(ev, sizeof(ev), "data: {\"n\":%d}\n\n", i);
		int clen = snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n", len, ev);

		conn_write(c, chunk, (size_t)clen);
	}
}

/* Reads a request, then answers with the head and the events before half. */
static void stream_start(struct conn *c, int half)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
				   "Connection: close\r\n\r\n";
	char req[4096];
	size_t got = 0;

	while (!memmem(req, got, "\r\n\r\n", 4)) {
		ssize_t n = got < sizeof(req) ? conn_read(c, req + got, sizeof(req) - got) : -1;

		if (n <= 0)
			die("server: no request head");
		got += (size_t)n;
	}
	conn_write(c, head, sizeof(head) - 1);
	stream_events(c, 0, half);
}

static void stream_end(struct conn *c)
{
	conn_write(c, "0\r\n\r\n", 5);
}

/*
 * How a stream changes hands halfway with --handoff, each step waiting for
 * the one before, so that each way takes one path of bpf/handoff.bpf.h:
 * - FORK_CLOSE: a child the server forks (an heir) writes the rest of the
 *   events, closes its fd (the server's copy still open: detached) and
 *   exits; the server writes the last chunk on its fd (taken back from
 *   detached) and closes it;
 * - FORK_EXIT: the child writes the rest of the events and the last
 *   chunk, and exits without a close(); the server closes its copy;
 * - PASS: the server passes the fd to its worker over a unix socket
 *   (SCM_RIGHTS: detached at the sendmsg), which writes the rest of the
 *   events and the last chunk (taken from detached), closes its fd
 *   (detached again) and answers; the server then closes its copy (the
 *   socket's last fd). The worker was forked before any connection:
 *   no heir, a process the server started.
 */
enum handoff { FORK_CLOSE, FORK_EXIT, PASS, HANDOFF_WAYS };

/* A message of one byte with room for one fd passed (SCM_RIGHTS). */
struct fd_msg {
	struct msghdr msg;
	struct iovec iov;
	char byte;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
};

static struct msghdr *fd_msg_init(struct fd_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->iov.iov_base = &m->byte;
	m->iov.iov_len = 1;
	m->msg.msg_iov = &m->iov;
	m->msg.msg_iovlen = 1;
	m->msg.msg_control = m->control.buf;
	m->msg.msg_controllen = sizeof(m->control.buf);
	return &m->msg;
}

static void send_fd(int unix_fd, int fd)
{
	struct fd_msg m;
	struct msghdr *msg = fd_msg_init(&m);
	struct cmsghdr *cm = CMSG_FIRSTHDR(msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(unix_fd, msg, 0) != 1)
		die("sendmsg: %s", strerror(errno));
}

/* The fd passed, -1 once the server closed its end. */
static int recv_fd(int unix_fd)
{
	struct fd_msg m;
	struct msghdr *msg = fd_msg_init(&m);
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(unix_fd, msg, 0) <= 0)
		return -1;
	cm = CMSG_FIRSTHDR(msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		die("worker: no fd passed");
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void wait_ok(pid_t pid, const char *who)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("the %s failed", who);
}

/* The worker of PASS: the rest of each stream passed to it. */
static pid_t worker_start(int *unix_fd, int events)
{
	int pair[2], fd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) || (pid = fork()) < 0)
		die("worker: %s", strerror(errno));
	if (pid) {
		close(pair[1]);
		*unix_fd = pair[0];
		return pid;
	}
	close(pair[0]);
	while ((fd = recv_fd(pair[1])) >= 0) {
		struct conn c = {.fd = fd};

		stream_events(&c, events / 2, events);
		stream_end(&c);
		conn_close(&c);
		if (write(pair[1], "", 1) != 1)
			die("worker: %s", strerror(errno));
	}
	exit(0);
}

static void hand_over(struct conn *c, enum handoff way, int worker_fd, int events)
{
	char done;
	pid_t pid;

	if (way == PASS) {
		send_fd(worker_fd, c->fd);
		if (read(worker_fd, &done, 1) != 1)
			die("server: the worker did not answer");
		return;
	}
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		stream_events(c, events / 2, events);
		if (way == FORK_CLOSE)
			close(c->fd);
		else
			stream_end(c);
		_exit(0);
	}
	wait_ok(pid, "server's child");
	if (way == FORK_CLOSE)
		stream_end(c);
}

static void server(int lfd, SSL_CTX *ctx, int streams, int events, bool handoff)
{
	pid_t worker = 0;
	int worker_fd = -1;

	if (handoff)
		worker = worker_start(&worker_fd, events);
	for (int i = 0; i < streams; i++) {
		struct conn c;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			die("accept: %s", strerror(errno));
		conn_open(&c, fd, ctx, 1);
		stream_start(&c, handoff ? events / 2 : events);
		if (handoff)
			hand_over(&c, i % HANDOFF_WAYS, worker_fd, events);
		else
			stream_end(&c);
		conn_close(&c);
	}
	if (handoff) {
		close(worker_fd);
		wait_ok(worker, "worker");
	}
	exit(0);
}

/* The whole response, NUL-terminated, read until the server's close. */
static char *read_all(struct conn *c, size_t *len)
{
	size_t cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	*len = 0;
	while (buf && (n = conn_read(c, buf + *len, cap - *len - 1)) > 0) {
		*len += (size_t)n;
		if (cap - *len < 1024) {
			char *grown = realloc(buf, cap *= 2);

			if (!grown)
				free(buf);
			buf = grown;
		}
	}
	if (!buf || n < 0)
		die("client: reading the response failed");
	buf[*len] = '\0';
	return buf;
}

/*
 * Decodes the chunked body of a response in place and counts its data
 * lines; -1 unless the status is 200 and the body ends with the last chunk.
 */
static int count_events(char *resp)
{
	char *p = strstr(resp, "\r\n\r\n"), *body, *out, *end;
	int events = 0;

	if (strncmp(resp, "HTTP/1.1 200 ", 13) || !p)
		return -1;
	body = out = p + 4;
	p += 4;
	for (;;) {
		unsigned long size = strtoul(p, &end, 16);

		if (end == p || strncmp(end, "\r\n", 2))
			return -1;
		if (!size)
			break;
		p = end + 2;
		if (strlen(p) < size + 2 || strncmp(p + size, "\r\n", 2))
			return -1;
		memmove(out, p, size);
		out += size;
		p += size + 2;
	}
	*out = '\0';
	for (p = body; (p = strstr(p, "data:")); p += 5)
		events += p == body || p[-1] == '\n';
	return events;
}

static int connect_loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect: %s", strerror(errno));
	return fd;
}

static void client(int port, const char *path, SSL_CTX *ctx, int streams)
{
	int ended = 0, events = 0;

	for (int i = 0; i < streams; i++) {
		char req[512];
		int len = snprintf(req, sizeof(req),
				   "GET %s HTTP/1.1\r\nHost: localhost\r\n"
				   "Accept: text/event-stream\r\n\r\n",
				   path);
		struct conn c;
		size_t got;
		char *resp;
		int n;

		conn_open(&c, connect_loopback(port), ctx, 0);
		conn_write(&c, req, (size_t)len);
		resp = read_all(&c, &got);
		conn_close(&c);
		n = count_events(resp);
		free(resp);
		if (n >= 0) {
			ended++;
			events += n;
		}
	}
	printf("truth path=%s streams=%d events=%d\n", path, ended, events);
}

static int listen_loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16))
		die("listen on port %d: %s", port, strerror(errno));
	return fd;
}

static void tls_contexts(const char *cert, const char *key, SSL_CTX **srv, SSL_CTX **cli)
{
	*srv = SSL_CTX_new(TLS_server_method());
	*cli = SSL_CTX_new(TLS_client_method());
	if (!*srv || !*cli || SSL_CTX_use_certificate_chain_file(*srv, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(*srv, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(*cli, cert, NULL) != 1)
		die("TLS setup with %s and %s", cert, key);
	SSL_CTX_set_verify(*cli, SSL_VERIFY_PEER, NULL);
}

int main(int argc, char **argv)
{
	SSL_CTX *srv_ctx = NULL, *cli_ctx = NULL;
	int lfd, port, streams, events;
	bool handoff = false;
	pid_t pid;

	/* a close_notify sent to a peer that closed first must not kill */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 3 && !strcmp(argv[1], "--tls")) {
		tls_contexts(argv[2], argv[3], &srv_ctx, &cli_ctx);
		argv += 3;
		argc -= 3;
	} else if (argc > 1 && !strcmp(argv[1], "--handoff")) {
		handoff = true;
		argv++;
		argc--;
	}
	if (argc != 5)
		die("usage: ssepair [--tls CERT KEY | --handoff] PORT PATH STREAMS EVENTS");
	port = atoi(argv[1]);
	streams = atoi(argv[3]);
	events = atoi(argv[4]);
	lfd = listen_loopback(port);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid)
		server(lfd, srv_ctx, streams, events, handoff);
	close(lfd);
	client(port, argv[2], cli_ctx, streams);
	wait_ok(pid, "server");
	SSL_CTX_free(srv_ctx);
	SSL_CTX_free(cli_ctx);
	return 0;
}
