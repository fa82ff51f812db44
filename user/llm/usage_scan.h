/* SPDX-License-Identifier: MIT */
/*
 * Incremental scanner of an HTTP response body for LLM token usage, for
 * llm_tokens_used_total. Bounded memory, any split of the input, never
 * reads past what it is given. Pure.
 *
 * What counts: a number that is a direct member of an object which is the
 * value of a key "usage" (OpenAI, Anthropic, at any depth) or
 * "usageMetadata" (Gemini):
 *   prompt:     prompt_tokens, input_tokens, promptTokenCount
 *   completion: completion_tokens, output_tokens, candidatesTokenCount
 *   total:      total_tokens, totalTokenCount
 * Only plain non-negative integers up to USAGE_TOKENS_MAX; members of
 * objects nested in a usage object (prompt_tokens_details, billed_units)
 * do not count, nor keys written with escapes ("usag\u0065"). A number
 * counts once it is followed by a delimiter, even if the document breaks
 * later.
 *
 * Over the whole body each field is the largest value seen: OpenAI sends
 * usage once, Anthropic sends input tokens in message_start and the
 * running output count in each message_delta, some servers repeat the
 * running usage on every chunk. The largest is right for all of them.
 *
 * An event-stream body is split into events by proto/sse.h (the WHATWG
 * rules); the data lines of one event, joined with "\n", are one JSON
 * text, and each event starts the JSON scan afresh, so that "[DONE]" or a
 * broken event cannot affect the next. Any other body is one JSON text.
 * Several top-level values in a row (NDJSON) are accepted.
 */
#ifndef SSE_USAGE_SCAN_H
#define SSE_USAGE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/json_skip.h"
#include "proto/sse.h"

/* Larger values are not token counts: treated as not seen. */
#define USAGE_TOKENS_MAX (1ULL << 40)
/* Containers nested deeper than this are skipped unread. */
#define USAGE_DEPTH_MAX 32
/* Longest key we look for: "candidatesTokenCount". */
#define USAGE_KEY_MAX 20

struct usage {
	int64_t prompt, completion, total; /* -1: not seen */
};

/* JSON scanner of one text (internal). */
struct usage_json {
	uint8_t state;
	uint8_t depth;	       /* open containers, at most USAGE_DEPTH_MAX */
	uint32_t obj_bits;     /* bit d-1: the container at depth d is an object */
	uint32_t usage_bits;   /* bit d-1: ... and the value of a usage key */
	struct json_skip skip; /* a value nested too deep, being skipped */
	uint8_t want;	       /* what the value of the current member is for */
	bool escape;	       /* previous string byte was a backslash */
	uint8_t key_len;
	bool key_other; /* the key cannot be one we look for */
	char key[USAGE_KEY_MAX];
	uint8_t lit_len;    /* bytes of the literal so far (saturating) */
	char lit[5];	    /* its first bytes: true, false and null are checked */
	bool lit_number;    /* the literal so far is digits only */
	uint64_t lit_value; /* its value, saturated above USAGE_TOKENS_MAX */
	bool failed;	    /* not JSON: nothing more until the next text */
};

struct usage_scan {
	bool sse;
	struct sse_splitter events; /* an event-stream body's (internal) */
	struct usage_json json;

	/* results so far: the largest value of each field */
	struct usage max;
};

void usage_scan_init(struct usage_scan *s, bool sse);
void usage_scan_feed(struct usage_scan *s, const char *buf, size_t len);

/*
 * The usage of the body so far. total is the largest total seen, else
 * prompt + completion when both were seen, else -1.
 */
void usage_scan_result(const struct usage_scan *s, struct usage *u);

#endif
