// SPDX-License-Identifier: MIT
/* Unit tests of the registry, the text exposition 0.0.4 and JSON output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/strbuf.h"
#include "metrics/expo.h"
#include "metrics/registry.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const l_ab[] = {"a", "b"};
static const char *const l_path[] = {"path"};
static const double b_three[] = {0.025, 1, 300};

/* ---- a small strict JSON checker: the output must parse ---- */

struct json_in {
	const char *p;
	const char *end;
};

static bool json_value(struct json_in *in, int depth);

static void json_ws(struct json_in *in)
{
	while (in->p < in->end && strchr(" \t\r\n", *in->p))
		in->p++;
}

static bool json_lit(struct json_in *in, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(in->end - in->p) < n || memcmp(in->p, lit, n))
		return false;
	in->p += n;
	return true;
}

static bool json_str(struct json_in *in)
{
	if (in->p >= in->end || *in->p != '"')
		return false;
	for (in->p++; in->p < in->end; in->p++) {
		unsigned char c = *in->p;

		if (c == '"') {
			in->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (++in->p >= in->end)
			return false;
		if (*in->p == 'u') {
			for (int i = 0; i < 4; i++)
				if (++in->p >= in->end || !strchr("0123456789abcdefABCDEF", *in->p))
					return false;
		} else if (!strchr("\"\\/bfnrt", *in->p)) {
			return false;
		}
	}
	return false;
}

static bool json_num(struct json_in *in)
{
	const char *start = in->p;

	if (in->p < in->end && *in->p == '-')
		in->p++;
	if (in->p >= in->end || *in->p < '0' || *in->p > '9')
		return false;
	if (*in->p == '0')
		in->p++;
	else
		while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
			in->p++;
	if (in->p < in->end && *in->p == '.') {
		in->p++;
		if (in->p >= in->end || *in->p < '0' || *in->p > '9')
			return false;
		while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
			in->p++;
	}
	if (in->p < in->end && (*in->p == 'e' || *in->p == 'E')) {
		in->p++;
		if (in->p < in->end && (*in->p == '+' || *in->p == '-'))
			in->p++;
		if (in->p >= in->end || *in->p < '0' || *in->p > '9')
			return false;
		while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
			in->p++;
	}
	return in->p > start;
}

static bool json_container(struct json_in *in, int depth, char close, bool object)
{
	in->p++;
	json_ws(in);
	if (in->p < in->end && *in->p == close) {
		in->p++;
		return true;
	}
	for (;;) {
		json_ws(in);
		if (object) {
			if (!json_str(in))
				return false;
			json_ws(in);
			if (in->p >= in->end || *in->p++ != ':')
				return false;
		}
		if (!json_value(in, depth + 1))
			return false;
		json_ws(in);
		if (in->p >= in->end)
			return false;
		if (*in->p == close) {
			in->p++;
			return true;
		}
		if (*in->p++ != ',')
			return false;
	}
}

static bool json_value(struct json_in *in, int depth)
{
	if (depth > 32)
		return false;
	json_ws(in);
	if (in->p >= in->end)
		return false;
	switch (*in->p) {
	case '{':
		return json_container(in, depth, '}', true);
	case '[':
		return json_container(in, depth, ']', false);
	case '"':
		return json_str(in);
	case 't':
		return json_lit(in, "true");
	case 'f':
		return json_lit(in, "false");
	case 'n':
		return json_lit(in, "null");
	default:
		return json_num(in);
	}
}

static bool json_valid(const char *s)
{
	struct json_in in = {s, s + strlen(s)};

	if (!json_value(&in, 0))
		return false;
	json_ws(&in);
	return in.p == in.end;
}

/* ---- helpers ---- */

/* The registry of a test and the buffer it renders into. */
static struct registry R;
static struct strbuf B;

static int fresh(void **state)
{
	(void)state;
	registry_init(&R);
	strbuf_init(&B);
	return 0;
}

static int release(void **state)
{
	(void)state;
	strbuf_free(&B);
	registry_free(&R);
	return 0;
}

/* A test of R, fresh for it. */
#define R_TEST(t) cmocka_unit_test_setup_teardown(t, fresh, release)

/* R in b, which holds nothing else. */
static char *render_text(struct strbuf *b)
{
	strbuf_free(b);
	expo_text(&R, b);
	assert_false(b->oom);
	assert_non_null(b->buf);
	return b->buf;
}

static char *render_json(struct strbuf *b)
{
	strbuf_free(b);
	expo_json(&R, b);
	assert_false(b->oom);
	assert_non_null(b->buf);
	return b->buf;
}

static void assert_number(double v, const char *want)
{
	struct strbuf b;

	strbuf_init(&b);
	expo_number(&b, v);
	assert_string_equal(b.buf, want);
	strbuf_free(&b);
}

static void assert_escaped(const char *v, const char *want)
{
	struct strbuf b;

	strbuf_init(&b);
	strbuf_puts(&b, "");
	expo_escape_label(&b, v);
	assert_string_equal(b.buf, want);
	strbuf_free(&b);
}

/* ---- strbuf ---- */

static void test_strbuf_grows_and_terminates(void **state)
{
	struct strbuf b;

	(void)state;
	strbuf_init(&b);
	for (int i = 0; i < 3000; i++)
		strbuf_printf(&b, "%04d", i);
	assert_int_equal(b.len, 12000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.buf[b.len], '\0');
	assert_memory_equal(b.buf + 11996, "2999", 4);
	strbuf_add(&b, "xy", 2);
	strbuf_puts(&b, "z");
	assert_string_equal(b.buf + 12000, "xyz");
	assert_false(b.oom);
	strbuf_free(&b);
	assert_null(b.buf);
	assert_int_equal(b.len, 0);
}

/* ---- numbers and escaping ---- */

static void test_number_integers_without_exponent(void **state)
{
	(void)state;
	assert_number(0, "0");
	assert_number(3, "3");
	assert_number(-1, "-1");
	assert_number(300, "300");
	assert_number(1234567, "1234567");
	assert_number(123456789012, "123456789012");
}

static void test_number_fractions(void **state)
{
	(void)state;
	assert_number(0.025, "0.025");
	assert_number(0.5, "0.5");
	assert_number(2.5, "2.5");
	assert_number(-0.001, "-0.001");
}

static void test_number_specials(void **state)
{
	(void)state;
	assert_number(INFINITY, "+Inf");
	assert_number(-INFINITY, "-Inf");
	assert_number(NAN, "NaN");
}

static void test_escape_label_backslash_quote_newline(void **state)
{
	(void)state;
	assert_escaped("plain", "plain");
	assert_escaped("a\\b", "a\\\\b");
	assert_escaped("say \"hi\"", "say \\\"hi\\\"");
	assert_escaped("l1\nl2", "l1\\nl2");
	assert_escaped("\\\"\n", "\\\\\\\"\\n");
	assert_escaped("", "");
}

/* ---- text exposition ---- */

static void test_counter_without_labels(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "x_total", "Things.", METRIC_COUNTER, NULL, 0, NULL, 0);
	assert_non_null(f);
	metric_add(f, NULL, 2);
	metric_add(f, NULL, 1);
	assert_string_equal(render_text(&B), "# HELP x_total Things.\n"
					     "# TYPE x_total counter\n"
					     "x_total 3\n");
}

static void test_counter_with_labels(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "req_total", "Requests.", METRIC_COUNTER, l_ab, 2, NULL, 0);
	metric_add(f, (const char *const[]){"x", "y"}, 1);
	metric_add(f, (const char *const[]){"x", "z"}, 4);
	metric_add(f, (const char *const[]){"x", "y"}, 1);
	assert_string_equal(render_text(&B), "# HELP req_total Requests.\n"
					     "# TYPE req_total counter\n"
					     "req_total{a=\"x\",b=\"y\"} 2\n"
					     "req_total{a=\"x\",b=\"z\"} 4\n");
}

/* A compound slot: one value carries service, namespace, pod, container;
 * empty parts are left out, the separator never reaches the output. */
static const char *const l_target_path[] = {"service,namespace,pod,container", "path"};

static void test_compound_slot_expands_and_skips_empty_parts(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "c_total", "C.", METRIC_COUNTER, l_target_path, 2, NULL, 0);
	metric_add(f,
		   (const char *const[]){"api\x1f"
					 "shop\x1f"
					 "web-1\x1f"
					 "api",
					 "/a"},
		   1);
	metric_add(f, (const char *const[]){"python3", "/a"}, 2);
	metric_add(f,
		   (const char *const[]){"nginx\x1f\x1f\x1f"
					 "edge",
					 ""},
		   3);
	assert_string_equal(
	    render_text(&B),
	    "# HELP c_total C.\n"
	    "# TYPE c_total counter\n"
	    "c_total{service=\"api\",namespace=\"shop\",pod=\"web-1\",container=\"api\","
	    "path=\"/a\"} 1\n"
	    "c_total{service=\"python3\",path=\"/a\"} 2\n"
	    "c_total{service=\"nginx\",container=\"edge\"} 3\n");
	assert_non_null(strstr(render_json(&B), "{\"labels\":{\"service\":\"nginx\",\"container\":"
						"\"edge\"},\"value\":3}"));
}

static void test_all_labels_empty_writes_no_braces(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "h", "H.", METRIC_HISTOGRAM, l_path, 1, b_three, 1);
	metric_observe(f, (const char *const[]){""}, 0.01);
	assert_non_null(strstr(render_text(&B), "\nh_bucket{le=\"0.025\"} 1\n"));
	assert_non_null(strstr(render_text(&B), "\nh_count 1\n"));
}

/* A gone target's series leave every family that names targets first,
 * and only those; the rest of each family stays in order. */
static void test_registry_drop_by_first_label(void **state)
{
	struct family *f, *g, *other;

	(void)state;
	f = registry_add(&R, "f_total", "F.", METRIC_COUNTER, l_target_path, 2, NULL, 0);
	g = registry_add(&R, "g", "G.", METRIC_HISTOGRAM, l_target_path, 2, b_three, 3);
	other = registry_add(&R, "o", "O.", METRIC_GAUGE, l_path, 1, NULL, 0);
	for (int i = 0; i < 3; i++) {
		metric_add(f, (const char *const[]){"a", i ? "/x" : "/y"}, 1);
		metric_add(f, (const char *const[]){"b", i ? "/x" : "/y"}, 1);
	}
	metric_observe(g, (const char *const[]){"a", "/x"}, 1);
	metric_set(other, (const char *const[]){"a"}, 1);
	assert_int_equal(registry_drop(&R, l_target_path[0], "a"), 3);
	assert_int_equal(f->nseries, 2);
	assert_int_equal(g->nseries, 0);
	assert_int_equal(other->nseries, 1);
	assert_string_equal(render_text(&B), "# HELP f_total F.\n"
					     "# TYPE f_total counter\n"
					     "f_total{service=\"b\",path=\"/y\"} 1\n"
					     "f_total{service=\"b\",path=\"/x\"} 2\n"
					     "# HELP g G.\n"
					     "# TYPE g histogram\n"
					     "# HELP o O.\n"
					     "# TYPE o gauge\n"
					     "o{path=\"a\"} 1\n");
	/* the hash chains were kept: a dropped series starts again at zero */
	metric_add(f, (const char *const[]){"a", "/x"}, 1);
	metric_add(f, (const char *const[]){"b", "/x"}, 1);
	assert_non_null(strstr(render_text(&B), "f_total{service=\"a\",path=\"/x\"} 1\n"));
	assert_non_null(strstr(render_text(&B), "f_total{service=\"b\",path=\"/x\"} 3\n"));
	assert_int_equal(registry_drop(&R, l_target_path[0], "nobody"), 0);
}

static void test_gauge_set_and_add(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "g", "A gauge.", METRIC_GAUGE, l_path, 1, NULL, 0);
	metric_set(f, (const char *const[]){"/a"}, 7);
	metric_set(f, (const char *const[]){"/a"}, 0.5);
	metric_add(f, (const char *const[]){"/b"}, 1);
	metric_add(f, (const char *const[]){"/b"}, -2);
	assert_string_equal(render_text(&B), "# HELP g A gauge.\n"
					     "# TYPE g gauge\n"
					     "g{path=\"/a\"} 0.5\n"
					     "g{path=\"/b\"} -1\n");
}

static void test_histogram_text_exact(void **state)
{
	struct family *f;
	const char *const v[] = {"/x"};

	(void)state;
	f = registry_add(&R, "d_seconds", "Durations.", METRIC_HISTOGRAM, l_path, 1, b_three, 3);
	metric_observe(f, v, 0.01);  /* le 0.025 */
	metric_observe(f, v, 0.025); /* le 0.025: equal to the bound */
	metric_observe(f, v, 2);     /* le 300 */
	metric_observe(f, v, 300);   /* le 300 */
	metric_observe(f, v, 301);   /* +Inf */
	assert_string_equal(render_text(&B), "# HELP d_seconds Durations.\n"
					     "# TYPE d_seconds histogram\n"
					     "d_seconds_bucket{path=\"/x\",le=\"0.025\"} 2\n"
					     "d_seconds_bucket{path=\"/x\",le=\"1\"} 2\n"
					     "d_seconds_bucket{path=\"/x\",le=\"300\"} 4\n"
					     "d_seconds_bucket{path=\"/x\",le=\"+Inf\"} 5\n"
					     "d_seconds_sum{path=\"/x\"} 603.035\n"
					     "d_seconds_count{path=\"/x\"} 5\n");
}

/* Observations counted elsewhere, added by bucket, are the same as those
 * observations made one at a time; adding none changes nothing. */
static void test_histogram_counts_added(void **state)
{
	static const double v[] = {0.01, 0.025, 2, 300, 301};
	struct family *f;
	struct series *one, *all;

	(void)state;
	f = registry_add(&R, "d_seconds", "Durations.", METRIC_HISTOGRAM, l_path, 1, b_three, 3);
	one = family_series(f, (const char *const[]){"/one"});
	all = family_series(f, (const char *const[]){"/all"});
	assert_non_null(one);
	assert_non_null(all);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		series_observe(f, one, v[i]);
	series_add_counts(f, all, (const uint64_t[]){2, 0, 1, 0}, v[0] + v[1] + v[2]);
	series_add_counts(f, all, (const uint64_t[]){0, 0, 0, 0}, 0);
	series_add_counts(f, all, (const uint64_t[]){0, 0, 1, 1}, v[3] + v[4]);
	assert_int_equal(all->count, 5);
	assert_int_equal(all->count, one->count);
	assert_true(fabs(all->sum - one->sum) < 1e-9);
	assert_memory_equal(all->buckets, one->buckets, 4 * sizeof(all->buckets[0]));
	assert_int_equal(all->buckets[2], 2);
}

static void test_histogram_without_labels(void **state)
{
	static const double bounds[] = {0.1};
	struct family *f;

	(void)state;
	f = registry_add(&R, "h", "H.", METRIC_HISTOGRAM, NULL, 0, bounds, 1);
	metric_observe(f, NULL, 0.05);
	assert_string_equal(render_text(&B), "# HELP h H.\n"
					     "# TYPE h histogram\n"
					     "h_bucket{le=\"0.1\"} 1\n"
					     "h_bucket{le=\"+Inf\"} 1\n"
					     "h_sum 0.05\n"
					     "h_count 1\n");
}

/* Every spec bucket bound renders as written in the spec. */
static void test_le_formatting_of_spec_bounds(void **state)
{
	static const double bounds[] = {0.001, 0.005, 0.01, 0.02, 0.025, 0.04, 0.06, 0.075,
					0.08,  0.15,  0.2,  0.3,  0.4,	 0.75, 2.5,  7.5,
					10,    30,    60,   120,  300,	 1000, 5000};
	static const char *const want[] = {"0.001", "0.005", "0.01", "0.02", "0.025", "0.04",
					   "0.06",  "0.075", "0.08", "0.15", "0.2",   "0.3",
					   "0.4",   "0.75",  "2.5",  "7.5",  "10",    "30",
					   "60",    "120",   "300",  "1000", "5000"};
	struct family *f;
	char line[64];

	(void)state;
	f = registry_add(&R, "h", "H.", METRIC_HISTOGRAM, NULL, 0, bounds, N(bounds));
	metric_observe(f, NULL, 0);
	render_text(&B);
	for (size_t i = 0; i < N(want); i++) {
		snprintf(line, sizeof(line), "h_bucket{le=\"%s\"} 1\n", want[i]);
		assert_non_null(strstr(B.buf, line));
	}
	assert_null(strstr(B.buf, "e+"));
	assert_null(strstr(B.buf, "e-"));
}

static void test_label_values_escaped_in_output(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "c_total", "C.", METRIC_COUNTER, l_path, 1, NULL, 0);
	metric_add(f, (const char *const[]){"a\\b\"c\nd"}, 1);
	render_text(&B);
	assert_non_null(strstr(B.buf, "c_total{path=\"a\\\\b\\\"c\\nd\"} 1\n"));
}

static void test_help_escaped(void **state)
{
	(void)state;
	registry_add(&R, "c_total", "Back\\slash, \"quotes\"\nand a newline.", METRIC_COUNTER, NULL,
		     0, NULL, 0);
	render_text(&B);
	/* HELP escapes backslash and newline only; quotes stay */
	assert_string_equal(B.buf, "# HELP c_total Back\\\\slash, \"quotes\"\\nand a newline.\n"
				   "# TYPE c_total counter\n");
}

static void test_families_in_registration_order(void **state)
{
	char *p1, *p2, *p3;

	(void)state;
	metric_add(registry_add(&R, "zz_total", "Z.", METRIC_COUNTER, NULL, 0, NULL, 0), NULL, 1);
	metric_set(registry_add(&R, "aa", "A.", METRIC_GAUGE, NULL, 0, NULL, 0), NULL, 1);
	metric_add(registry_add(&R, "mm_total", "M.", METRIC_COUNTER, NULL, 0, NULL, 0), NULL, 1);
	render_text(&B);
	p1 = strstr(B.buf, "# HELP zz_total");
	p2 = strstr(B.buf, "# HELP aa");
	p3 = strstr(B.buf, "# HELP mm_total");
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_true(p1 < p2 && p2 < p3);
}

static void test_series_creation_order_stable(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "c_total", "C.", METRIC_COUNTER, l_path, 1, NULL, 0);
	metric_add(f, (const char *const[]){"/b"}, 1);
	metric_add(f, (const char *const[]){"/a"}, 1);
	metric_add(f, (const char *const[]){"/c"}, 1);
	metric_add(f, (const char *const[]){"/a"}, 1); /* an update does not move it */
	assert_string_equal(render_text(&B), "# HELP c_total C.\n"
					     "# TYPE c_total counter\n"
					     "c_total{path=\"/b\"} 1\n"
					     "c_total{path=\"/a\"} 2\n"
					     "c_total{path=\"/c\"} 1\n");
}

/* More series than hash slots: all distinct, all found again, in order. */
static void test_many_series_found_again(void **state)
{
	struct family *f;
	struct series *first[1000];
	char name[32];
	size_t i = 0;

	(void)state;
	f = registry_add(&R, "c_total", "C.", METRIC_COUNTER, l_ab, 2, NULL, 0);
	for (i = 0; i < N(first); i++) {
		snprintf(name, sizeof(name), "v%zu", i);
		first[i] = family_series(f, (const char *const[]){name, "k"});
		assert_non_null(first[i]);
	}
	assert_int_equal(f->nseries, N(first));
	for (i = 0; i < N(first); i++) {
		snprintf(name, sizeof(name), "v%zu", i);
		assert_ptr_equal(family_series(f, (const char *const[]){name, "k"}), first[i]);
	}
	assert_int_equal(f->nseries, N(first));
	i = 0;
	for (const struct series *s = f->first; s; s = s->list_next, i++)
		assert_ptr_equal(s, first[i]);
	assert_int_equal(i, N(first));
}

/* ("ab","c") and ("a","bc") are different series. */
static void test_label_boundaries_distinguish_series(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "c_total", "C.", METRIC_COUNTER, l_ab, 2, NULL, 0);
	metric_add(f, (const char *const[]){"ab", "c"}, 1);
	metric_add(f, (const char *const[]){"a", "bc"}, 5);
	assert_int_equal(f->nseries, 2);
	assert_true(family_series(f, (const char *const[]){"ab", "c"})->value == 1);
	assert_true(family_series(f, (const char *const[]){"a", "bc"})->value == 5);
}

static void test_family_clear(void **state)
{
	struct family *f;

	(void)state;
	f = registry_add(&R, "g", "G.", METRIC_GAUGE, l_path, 1, NULL, 0);
	metric_set(f, (const char *const[]){"/a"}, 1);
	metric_set(f, (const char *const[]){"/b"}, 2);
	family_clear(f);
	assert_int_equal(f->nseries, 0);
	assert_null(f->first);
	assert_string_equal(render_text(&B), "# HELP g G.\n# TYPE g gauge\n");
	/* usable again, and the old series are gone from the hash table too */
	metric_set(f, (const char *const[]){"/b"}, 5);
	assert_int_equal(f->nseries, 1);
	assert_true(family_series(f, (const char *const[]){"/b"})->value == 5);
	assert_string_equal(render_text(&B), "# HELP g G.\n# TYPE g gauge\ng{path=\"/b\"} 5\n");
}

static void test_too_many_labels_fails(void **state)
{
	static const char *const seven[] = {"a", "b", "c", "d", "e", "f", "g"};

	(void)state;
	assert_false(R.failed);
	assert_null(registry_add(&R, "x", "X.", METRIC_COUNTER, seven, 7, NULL, 0));
	assert_true(R.failed);
	assert_null(R.first);
}

static void test_empty_registry_renders_nothing(void **state)
{
	(void)state;
	expo_text(&R, &B);
	assert_int_equal(B.len, 0);
	assert_string_equal(render_json(&B), "{\"metrics\":[]}\n");
	assert_true(json_valid(B.buf));
}

/* ---- JSON ---- */

static void fill_sample_registry(void)
{
	struct family *c, *g, *h, *e;

	c = registry_add(&R, "req_total", "Requests \"all\".", METRIC_COUNTER, l_ab, 2, NULL, 0);
	g = registry_add(&R, "active", "Active.", METRIC_GAUGE, NULL, 0, NULL, 0);
	h = registry_add(&R, "d_seconds", "D.", METRIC_HISTOGRAM, l_path, 1, b_three, 3);
	e = registry_add(&R, "empty_total", "Nothing yet.", METRIC_COUNTER, l_path, 1, NULL, 0);
	assert_non_null(e);
	metric_add(c, (const char *const[]){"x", "q\"uo\\te\n"}, 3);
	metric_add(c, (const char *const[]){"y", "\x01"}, 1);
	metric_set(g, NULL, NAN);
	metric_observe(h, (const char *const[]){"/p"}, 0.02);
	metric_observe(h, (const char *const[]){"/p"}, 500);
}

static void test_json_parses(void **state)
{
	(void)state;
	fill_sample_registry();
	render_json(&B);
	assert_true(json_valid(B.buf));
}

static void test_json_keys_and_values(void **state)
{
	(void)state;
	fill_sample_registry();
	render_json(&B);
	assert_true(strncmp(B.buf, "{\"metrics\":[", 12) == 0);
	assert_non_null(strstr(B.buf, "{\"name\":\"req_total\",\"type\":\"counter\","
				      "\"help\":\"Requests \\\"all\\\".\",\"samples\":["));
	assert_non_null(strstr(B.buf, "{\"labels\":{\"a\":\"x\",\"b\":\"q\\\"uo\\\\te\\u000a\"},"
				      "\"value\":3}"));
	assert_non_null(strstr(B.buf, "{\"labels\":{\"a\":\"y\",\"b\":\"\\u0001\"},\"value\":1}"));
	/* NaN is not JSON */
	assert_non_null(strstr(B.buf, "{\"labels\":{},\"value\":null}"));
	assert_non_null(strstr(B.buf, "\"type\":\"histogram\""));
	assert_non_null(strstr(B.buf, "{\"labels\":{\"path\":\"/p\"},\"buckets\":{\"0.025\":1,"
				      "\"1\":1,\"300\":1,\"+Inf\":2},\"sum\":500.02,\"count\":2}"));
	assert_non_null(strstr(B.buf, "{\"name\":\"empty_total\",\"type\":\"counter\","
				      "\"help\":\"Nothing yet.\",\"samples\":[]}"));
	assert_true(B.len > 2 && strcmp(B.buf + B.len - 3, "]}\n") == 0);
}

static void test_json_same_series_order_as_text(void **state)
{
	struct strbuf j;

	(void)state;
	strbuf_init(&j);
	fill_sample_registry();
	render_text(&B);
	render_json(&j);
	assert_true(strstr(B.buf, "req_total{a=\"x\"") < strstr(B.buf, "req_total{a=\"y\""));
	assert_true(strstr(j.buf, "{\"a\":\"x\"") < strstr(j.buf, "{\"a\":\"y\""));
	assert_true(strstr(j.buf, "\"req_total\"") < strstr(j.buf, "\"active\""));
	assert_true(strstr(j.buf, "\"active\"") < strstr(j.buf, "\"d_seconds\""));
	strbuf_free(&j);
}

static void test_json_checker_rejects_broken_json(void **state)
{
	(void)state;
	/* the checker itself must be able to fail */
	assert_true(json_valid("{\"a\":[1,2.5,-3e2,null,true,\"x\\u00e9\"]}"));
	assert_false(json_valid("{\"a\":1,}"));
	assert_false(json_valid("{\"a\":NaN}"));
	assert_false(json_valid("{\"a\":\"x\ny\"}"));
	assert_false(json_valid("{\"a\":1}}"));
	assert_false(json_valid("[1 2]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strbuf_grows_and_terminates),
	    cmocka_unit_test(test_number_integers_without_exponent),
	    cmocka_unit_test(test_number_fractions),
	    cmocka_unit_test(test_number_specials),
	    cmocka_unit_test(test_escape_label_backslash_quote_newline),
	    R_TEST(test_counter_without_labels),
	    R_TEST(test_counter_with_labels),
	    R_TEST(test_gauge_set_and_add),
	    R_TEST(test_histogram_text_exact),
	    R_TEST(test_histogram_counts_added),
	    R_TEST(test_histogram_without_labels),
	    R_TEST(test_le_formatting_of_spec_bounds),
	    R_TEST(test_label_values_escaped_in_output),
	    R_TEST(test_help_escaped),
	    R_TEST(test_families_in_registration_order),
	    R_TEST(test_series_creation_order_stable),
	    R_TEST(test_many_series_found_again),
	    R_TEST(test_label_boundaries_distinguish_series),
	    R_TEST(test_family_clear),
	    R_TEST(test_too_many_labels_fails),
	    R_TEST(test_empty_registry_renders_nothing),
	    R_TEST(test_compound_slot_expands_and_skips_empty_parts),
	    R_TEST(test_all_labels_empty_writes_no_braces),
	    R_TEST(test_registry_drop_by_first_label),
	    R_TEST(test_json_parses),
	    R_TEST(test_json_keys_and_values),
	    R_TEST(test_json_same_series_order_as_text),
	    cmocka_unit_test(test_json_checker_rejects_broken_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
