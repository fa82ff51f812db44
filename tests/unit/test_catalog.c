// SPDX-License-Identifier: MIT
/*
 * docs/metrics.md against the families the code registers, both ways:
 * every registered family has a row with its type, label names (in order)
 * and buckets, and every row is registered. Rows are read from the tables
 * whose header is CATALOG_HEADER; the tables of families not produced have
 * other columns and are left alone, so a family that starts being produced
 * must move into a catalog table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics/metrics.h"

#ifndef METRICS_DOC
#error "METRICS_DOC: the path of docs/metrics.md (the Makefile defines it)"
#endif

#define N(a)	       (sizeof(a) / sizeof((a)[0]))
#define CATALOG_HEADER "| metric | type | labels | buckets | meaning |"
#define ROWS_MAX       96
#define CELL_MAX       512
#define REPORT_MAX     8192

/* One row of a catalog table; labels and buckets as list_of() writes them. */
struct doc_family {
	char name[96];
	enum metric_type type;
	char labels[CELL_MAX];
	char bounds[CELL_MAX];
	unsigned int line;
};

static const char *const type_names[] = {
    [METRIC_COUNTER] = "counter",
    [METRIC_GAUGE] = "gauge",
    [METRIC_HISTOGRAM] = "histogram",
};

/* What the comparison found, one problem a line. */
struct report {
	char text[REPORT_MAX];
	size_t len;
	unsigned int problems;
};

struct doc {
	struct doc_family rows[ROWS_MAX];
	size_t n;
};

static void problem(struct report *rep, const char *fmt, ...)
{
	va_list ap;
	int n;

	rep->problems++;
	va_start(ap, fmt);
	n = vsnprintf(rep->text + rep->len, sizeof(rep->text) - rep->len, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(rep->text) - rep->len)
		rep->len += n; /* else truncated, and the next one writes over it */
}

/* ---- the markdown: pure, from a string ---- */

static void trim(char *s)
{
	size_t len = strlen(s), start = strspn(s, " \t");

	while (len > start && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	memmove(s, s + start, len - start);
	s[len - start] = '\0';
}

/* The cells of a table row `| a | b |` (an escaped `\|` stays in its
 * cell), trimmed, at most max of them; returns how many. */
static size_t split_row(const char *line, size_t len, char cells[][CELL_MAX], size_t max)
{
	size_t n = 0, k = 0;

	for (size_t i = 1; i < len && n < max; i++) {
		if (line[i] == '|' && line[i - 1] != '\\') {
			cells[n][k] = '\0';
			trim(cells[n++]);
			k = 0;
		} else if (k < CELL_MAX - 1) {
			cells[n][k++] = line[i];
		}
	}
	return n;
}

static int parse_type(const char *s, enum metric_type *t)
{
	for (size_t i = 0; i < N(type_names); i++)
		if (!strcmp(s, type_names[i])) {
			*t = i;
			return 0;
		}
	return -1;
}

/* Adds item to the list in buf: "a, b, c". */
static void append(char *buf, size_t size, const char *item)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s", len ? ", " : "", item);
}

/* A bound as both sides write it, to 15 significant digits: a decimal
 * bound of up to 15 digits keeps its text. */
static char *bound_text(double v, char num[32])
{
	snprintf(num, 32, "%.15g", v);
	return num;
}

/* The cell "a,b , c" as "a, b, c"; with numbers, each one as bound_text()
 * writes it. An empty item, or a number that is not one, is an error. */
static int normalise(char *cell, bool numbers, char *out, size_t size)
{
	char *save, *tok, *end, num[32];

	out[0] = '\0';
	for (tok = strtok_r(cell, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		trim(tok);
		if (!*tok)
			return -1;
		if (numbers) {
			double v = strtod(tok, &end);

			if (*end)
				return -1;
			tok = bound_text(v, num);
		}
		append(out, size, tok);
	}
	return 0;
}

static int parse_row(char cells[5][CELL_MAX], struct doc_family *f)
{
	size_t len = strlen(cells[0]);

	if (len < 3 || cells[0][0] != '`' || cells[0][len - 1] != '`' || len - 2 >= sizeof(f->name))
		return -1;
	snprintf(f->name, sizeof(f->name), "%.*s", (int)(len - 2), cells[0] + 1);
	if (parse_type(cells[1], &f->type) ||
	    normalise(cells[2], false, f->labels, sizeof(f->labels)) ||
	    normalise(cells[3], true, f->bounds, sizeof(f->bounds)))
		return -1;
	return 0;
}

/* The rows of every catalog table of text; a row that does not parse, or
 * one too many, is a problem. */
static void parse_doc(const char *text, struct doc *d, struct report *rep)
{
	char cells[5][CELL_MAX];
	bool in_table = false;
	unsigned int lineno = 0;

	d->n = 0;
	for (const char *line = text, *eol; *line; line = *eol ? eol + 1 : eol) {
		size_t len;

		eol = line + strcspn(line, "\n");
		len = eol - line;
		lineno++;
		if (len == strlen(CATALOG_HEADER) && !memcmp(line, CATALOG_HEADER, len)) {
			in_table = true;
			continue;
		}
		if (!in_table || !len || line[0] != '|') {
			in_table = false;
			continue;
		}
		if (!strncmp(line, "|---", 4))
			continue;
		if (d->n == ROWS_MAX) {
			problem(rep, "line %u: more than %d rows\n", lineno, ROWS_MAX);
			return;
		}
		d->rows[d->n].line = lineno;
		if (split_row(line, len, cells, N(cells)) < N(cells) ||
		    parse_row(cells, &d->rows[d->n]))
			problem(rep, "line %u: not a catalog row: %.*s\n", lineno, (int)len, line);
		else
			d->n++;
	}
}

/* ---- the comparison ---- */

static const struct doc_family *doc_find(const struct doc *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->rows[i].name, name))
			return &d->rows[i];
	return NULL;
}

static const struct family *reg_find(const struct registry *r, const char *name)
{
	for (const struct family *f = r->first; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

/* The registered labels (a compound slot's one by one) or buckets, as a
 * row gives them. */
static const char *list_of(const struct family *f, bool bounds, char *buf, size_t size)
{
	char num[32], name[CELL_MAX];

	buf[0] = '\0';
	for (size_t i = 0; i < (bounds ? f->nbounds : f->nlabels); i++) {
		const char *names = bounds ? "" : f->label_names[i], *values = "";
		struct label_part p;

		if (bounds)
			append(buf, size, bound_text(f->bounds[i], num));
		while (label_part_next(&names, &values, &p)) {
			snprintf(name, sizeof(name), "%.*s", (int)p.name_len, p.name);
			append(buf, size, name);
		}
	}
	return buf;
}

static void compare_family(const struct family *f, const struct doc_family *d, struct report *rep)
{
	char buf[CELL_MAX];

	if (!d) {
		problem(rep, "%s: registered but has no row\n", f->name);
		return;
	}
	if (f->type != d->type)
		problem(rep, "%s: documented type differs (line %u); registered: %s\n", f->name,
			d->line, type_names[f->type]);
	if (strcmp(list_of(f, false, buf, sizeof(buf)), d->labels))
		problem(rep, "%s: documented labels differ (line %u); registered: %s\n", f->name,
			d->line, buf);
	if (strcmp(list_of(f, true, buf, sizeof(buf)), d->bounds))
		problem(rep, "%s: documented buckets differ (line %u); registered: %s\n", f->name,
			d->line, buf);
}

static void compare(const struct registry *r, const struct doc *d, struct report *rep)
{
	for (const struct family *f = r->first; f; f = f->next)
		compare_family(f, doc_find(d, f->name), rep);
	for (size_t i = 0; i < d->n; i++) {
		if (doc_find(d, d->rows[i].name) != &d->rows[i])
			problem(rep, "%s: documented twice (line %u)\n", d->rows[i].name,
				d->rows[i].line);
		else if (!reg_find(r, d->rows[i].name))
			problem(rep, "%s: documented but not registered (line %u)\n",
				d->rows[i].name, d->rows[i].line);
	}
}

/* ---- fixture: the registered families and the document ---- */

struct fixture {
	struct metrics m;
	char *text;
};

/* The whole file: a text file has no NUL to stop at. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t size = 0;

	if (!f)
		return NULL;
	if (getdelim(&text, &size, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

static int setup(void **state)
{
	struct metrics_config cfg = {.max_paths = 100, .max_models = 50};
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->text = read_file(METRICS_DOC);
	if (!f->text || metrics_init(&f->m, &cfg)) {
		print_error("cannot read %s or initialise the metrics\n", METRICS_DOC);
		free(f->text);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	metrics_free(&f->m);
	free(f->text);
	free(f);
	return 0;
}

/* Parses text and compares it with the registry, into rep. */
static void check(const struct fixture *f, const char *text, struct report *rep)
{
	struct doc *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	rep->len = 0;
	rep->problems = 0;
	rep->text[0] = '\0';
	parse_doc(text, d, rep);
	compare(&f->m.reg, d, rep);
	free(d);
}

static void test_doc_matches_registry(void **state)
{
	struct fixture *f = *state;
	struct report rep;

	check(f, f->text, &rep);
	if (rep.problems)
		fail_msg("%s and the code disagree:\n%s", METRICS_DOC, rep.text);
}

/* ---- the check itself fails when the two drift apart ---- */

/* text with the row of family name replaced by row ("": removed). */
static char *with_row(const char *text, const char *name, const char *row)
{
	char prefix[128], *out;
	const char *start, *end;
	size_t head, tail;

	snprintf(prefix, sizeof(prefix), "\n| `%s` |", name);
	start = strstr(text, prefix);
	if (!start)
		fail_msg("no row of %s in %s", name, METRICS_DOC);
	start++;
	end = start + strcspn(start, "\n");
	end += *end == '\n' && !*row;
	head = start - text;
	tail = strlen(end);
	out = malloc(head + strlen(row) + tail + 1);
	assert_non_null(out);
	memcpy(out, text, head);
	strcpy(out + head, row);
	strcat(out + head, end);
	return out;
}

static const struct drift {
	const char *family, *row; /* the row of family replaced by row */
	const char *blamed;	  /* what the one problem says */
} drifts[] = {
    {"sse_heartbeats_total", "", "sse_heartbeats_total: registered but has no row"},
    {"sse_heartbeats_total",
     "| `sse_heartbeats_total` | counter | service, namespace, pod, container, path, stage | | x |",
     "sse_heartbeats_total: documented labels differ"},
    {"sse_heartbeats_total",
     "| `sse_heartbeats_total` | counter | path, service, namespace, pod, container | | x |",
     "sse_heartbeats_total: documented labels differ"},
    {"sse_heartbeats_total",
     "| `sse_heartbeats_total` | gauge | service, namespace, pod, container, path | | x |",
     "sse_heartbeats_total: documented type differs"},
    {"sse_chunk_size_bytes",
     "| `sse_chunk_size_bytes` | histogram | service, namespace, pod, container, path | 10, 50, "
     "100, 500, 1000 | x |",
     "sse_chunk_size_bytes: documented buckets differ"},
    {"sse_heartbeats_total",
     "| `sse_heartbeats_total` | counter | service, namespace, pod, container, path | | x |\n"
     "| `sse_pings_total` | counter | service, namespace, pod, container, path | | x |",
     "sse_pings_total: documented but not registered"},
    {"sse_heartbeats_total",
     "| `sse_heartbeats_total` | counter | service, namespace, pod, container, path | | x |\n"
     "| `sse_heartbeats_total` | counter | service, namespace, pod, container, path | | x |",
     "sse_heartbeats_total: documented twice"},
    {"sse_heartbeats_total",
     "| `sse_heartbeats_total` | counter | service, namespace, pod, container, path | | x |\n"
     "| `sse_pings_total` | count | service, namespace, pod, container, path | | x |",
     "not a catalog row: | `sse_pings_total` | count"},
};

static void test_each_drift_is_one_problem(void **state)
{
	struct fixture *f = *state;
	struct report rep;

	for (size_t i = 0; i < N(drifts); i++) {
		char *text = with_row(f->text, drifts[i].family, drifts[i].row);

		check(f, text, &rep);
		free(text);
		if (rep.problems != 1 || !strstr(rep.text, drifts[i].blamed))
			fail_msg("drift %zu: want one problem naming \"%s\", got %u:\n%s", i,
				 drifts[i].blamed, rep.problems, rep.text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_doc_matches_registry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_each_drift_is_one_problem, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
