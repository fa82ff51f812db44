// SPDX-License-Identifier: MIT
/*
 * The kernel's test for a response head that starts a stream it follows
 * (include/sse_head.h) against user space's head parser: the heads real
 * servers send are followed, and no head, nor any one-byte change of one,
 * is followed in a way user space would not (another framing, length, head
 * end, status or type).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "head_verdict.h"

/* Followed by the kernel: then user space follows it the same way. */
static void agree(const char *in, size_t len, const char *what)
{
	struct verdict k = kernel_verdict(in, len), u = user_verdict(in, len);

	if (!k.framing)
		return;
	if (k.framing != u.framing || k.head_len != u.head_len)
		fail_msg("%s: kernel framing %u head %u, user space %u %u: [%.*s]", what, k.framing,
			 k.head_len, u.framing, u.head_len, (int)len, in);
}

#define BODY "d\r\ndata: hello\n\n\r\n"

static const struct {
	const char *head;
	__u8 framing;
} followed[] = {
    /* uvicorn (Starlette's StreamingResponse) */
    {"HTTP/1.1 200 OK\r\ndate: Thu, 03 Dec 2026 18:00:00 GMT\r\nserver: uvicorn\r\n"
     "cache-control: no-cache\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     SCAN_CHUNKED},
    /* Go net/http */
    {"HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n"
     "Content-Type: text/event-stream\r\nDate: Thu, 03 Dec 2026 18:00:00 GMT\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     SCAN_CHUNKED},
    /* Node's http */
    {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
     "Date: Thu, 03 Dec 2026 18:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     SCAN_CHUNKED},
    /* nginx relaying a stream */
    {"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 18:00:00 GMT\r\n"
     "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
     "X-Accel-Buffering: no\r\n\r\n",
     SCAN_CHUNKED},
    /* Python's http.server: HTTP/1.0, until close */
    {"HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.2\r\n"
     "Date: Thu, 03 Dec 2026 18:00:00 GMT\r\nContent-Type: text/event-stream\r\n\r\n",
     SCAN_CLOSE},
    {"HTTP/1.1 200 OK\nContent-Type: TEXT/Event-Stream\n\n", SCAN_CLOSE},
    {"HTTP/1.1 201 Created\r\nContent-Encoding: identity\r\ncontent-type:text/event-stream\r\n"
     "X-Long: "
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
     "transfer-encoding:  chunked \r\n\r\n",
     SCAN_CHUNKED},
};

static void test_followed(void **state)
{
	char in[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(followed) / sizeof(followed[0]); i++) {
		int n = snprintf(in, sizeof(in), "%s%s", followed[i].head, BODY);
		struct verdict k = kernel_verdict(in, n);

		assert_int_equal(k.framing, followed[i].framing);
		assert_int_equal(k.head_len, strlen(followed[i].head));
		agree(in, n, followed[i].head);
	}
}

static const char *const refused[] = {
    "HTTP/1.1 204 No Content\r\nContent-Type: text/event-stream\r\n\r\n",
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/event-stream\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-streamx\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: gzip, "
    "chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 18\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 5\r\n"
    "Transfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Type: text/plain\r\n\r\n",
    "HTTP/1.1 200 OK\rContent-Type: text/event-stream\r\r",
    "HTTP/2 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", /* the head goes on */
    "GET / HTTP/1.1\r\nContent-Type: text/event-stream\r\n\r\n",
};

static void test_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_int_equal(kernel_verdict(refused[i], strlen(refused[i])).framing, 0);
}

/* Every one-byte change of every followed head, to bytes that matter. */
static void test_mutations(void **state)
{
	static const char subst[] = {'\r', '\n', ' ', '\t', ':',  ';',
				     '0',  '9',	 'x', 'A',  '\0', '\x80'};
	char in[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(followed) / sizeof(followed[0]); i++) {
		int n = snprintf(in, sizeof(in), "%s%s", followed[i].head, BODY);

		for (int at = 0; at < n; at++) {
			char was = in[at];

			for (size_t s = 0; s < sizeof(subst); s++) {
				in[at] = subst[s];
				agree(in, n, "mutated");
			}
			in[at] = was;
		}
		for (int cut = 1; cut < n; cut++) /* a head cut short */
			agree(in, cut, "cut");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_followed),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
