// SPDX-License-Identifier: MIT
/*
 * An SSE server and its client over loopback, for the kernel matrix (make
 * kernel-test). The server answers each of STREAMS requests with EVENTS
 * events, one chunk per write, then the last chunk, and closes; the client
 * reads each stream to its end and counts the streams that ended with the
 * last chunk and the events it got. What it prints is the ground truth the
 * exporter's counts are checked against:
 *
 *   ssepair [--tls CERT KEY] PORT PATH STREAMS EVENTS
 *   truth path=PATH streams=S events=E
 *
 * With --tls both sides speak TLS through libssl.so.3 (the client trusts
 * CERT), so that the exporter sees the plaintext through its OpenSSL
 * uprobes only. The server is a child process; its socket listens before
 * the fork, so the client needs no wait for it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
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

static void serve_one(struct conn *c, int events)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
				   "Connection: close\r\n\r\n";
	char req[4096], chunk[128];
	size_t got = 0;

	while (!memmem(req, got, "\r\n\r\n", 4)) {
		ssize_t n = got < sizeof(req) ? conn_read(c, req + got, sizeof(req) - got) : -1;

		if (n <= 0)
			die("server: no request head");
		got += (size_t)n;
	}
	conn_write(c, head, sizeof(head) - 1);
	for (int i = 0; i < events; i++) {
		char ev[64];
		int len = snprintf(ev, sizeof(ev), "data: {\"n\":%d}\n\n", i);
		int clen = snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n", len, ev);

		conn_write(c, chunk, (size_t)clen);
	}
	conn_write(c, "0\r\n\r\n", 5);
}

static void server(int lfd, SSL_CTX *ctx, int streams, int events)
{
	for (int i = 0; i < streams; i++) {
		struct conn c;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			die("accept: %s", strerror(errno));
		conn_open(&c, fd, ctx, 1);
		serve_one(&c, events);
		conn_close(&c);
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
	int lfd, port, streams, events, status;
	pid_t pid;

	/* a close_notify sent to a peer that closed first must not kill */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 3 && !strcmp(argv[1], "--tls")) {
		tls_contexts(argv[2], argv[3], &srv_ctx, &cli_ctx);
		argv += 3;
		argc -= 3;
	}
	if (argc != 5)
		die("usage: ssepair [--tls CERT KEY] PORT PATH STREAMS EVENTS");
	port = atoi(argv[1]);
	streams = atoi(argv[3]);
	events = atoi(argv[4]);
	lfd = listen_loopback(port);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid)
		server(lfd, srv_ctx, streams, events);
	close(lfd);
	client(port, argv[2], cli_ctx, streams);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("the server failed");
	SSL_CTX_free(srv_ctx);
	SSL_CTX_free(cli_ctx);
	return 0;
}
