// SPDX-License-Identifier: MIT
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics/expo.h"

static const char *type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	case METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

static void escape_label_n(struct strbuf *out, const char *v, size_t n)
{
	for (const char *end = v + n; v < end; v++) {
		if (*v == '\\')
			strbuf_add(out, "\\\\", 2);
		else if (*v == '"')
			strbuf_add(out, "\\\"", 2);
		else if (*v == '\n')
			strbuf_add(out, "\\n", 2);
		else
			strbuf_add(out, v, 1);
	}
}

void expo_escape_label(struct strbuf *out, const char *v)
{
	escape_label_n(out, v, strlen(v));
}

typedef void (*label_writer)(struct strbuf *out, bool first, const struct label_part *p);

/* Writes each label of s that has a value, compound slots split; returns
 * whether any was written. */
static bool write_labels(struct strbuf *out, const struct family *f, const struct series *s,
			 label_writer write)
{
	bool first = true;
	struct label_part p;

	for (size_t i = 0; i < f->nlabels; i++) {
		const char *names = f->label_names[i], *values = s->labels[i];

		while (label_part_next(&names, &values, &p)) {
			if (!p.value_len)
				continue;
			write(out, first, &p);
			first = false;
		}
	}
	return !first;
}

static void escape_help(struct strbuf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			strbuf_add(out, "\\\\", 2);
		else if (*v == '\n')
			strbuf_add(out, "\\n", 2);
		else
			strbuf_add(out, v, 1);
	}
}

void expo_number(struct strbuf *out, double v)
{
	if (isnan(v))
		strbuf_puts(out, "NaN");
	else if (isinf(v))
		strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		strbuf_printf(out, "%.0f", v);
	else
		strbuf_printf(out, "%.15g", v);
}

static void text_label(struct strbuf *out, bool first, const struct label_part *p)
{
	strbuf_add(out, first ? "{" : ",", 1);
	strbuf_add(out, p->name, p->name_len);
	strbuf_add(out, "=\"", 2);
	escape_label_n(out, p->value, p->value_len);
	strbuf_add(out, "\"", 1);
}

/* {a="x",b="y"} with an optional extra le label for histogram buckets. */
static void label_set(struct strbuf *out, const struct family *f, const struct series *s,
		      const char *le)
{
	bool any = write_labels(out, f, s, text_label);

	if (le)
		strbuf_printf(out, "%sle=\"%s\"", any ? "," : "{", le);
	if (any || le)
		strbuf_add(out, "}", 1);
}

static void sample(struct strbuf *out, const struct family *f, const struct series *s,
		   const char *suffix, const char *le, double v)
{
	strbuf_printf(out, "%s%s", f->name, suffix);
	label_set(out, f, s, le);
	strbuf_add(out, " ", 1);
	expo_number(out, v);
	strbuf_add(out, "\n", 1);
}

static void histogram_text(struct strbuf *out, const struct family *f, const struct series *s)
{
	uint64_t cumulative = 0;
	char le[32];

	for (size_t i = 0; i < f->nbounds; i++) {
		cumulative += s->buckets[i];
		snprintf(le, sizeof(le), "%.15g", f->bounds[i]);
		sample(out, f, s, "_bucket", le, cumulative);
	}
	cumulative += s->buckets[f->nbounds];
	sample(out, f, s, "_bucket", "+Inf", cumulative);
	sample(out, f, s, "_sum", NULL, s->sum);
	sample(out, f, s, "_count", NULL, s->count);
}

void expo_text(const struct registry *r, struct strbuf *out)
{
	for (const struct family *f = r->first; f; f = f->next) {
		strbuf_printf(out, "# HELP %s ", f->name);
		escape_help(out, f->help);
		strbuf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
		for (const struct series *s = f->first; s; s = s->list_next) {
			if (f->type == METRIC_HISTOGRAM)
				histogram_text(out, f, s);
			else
				sample(out, f, s, "", NULL, s->value);
		}
	}
}

/* JSON string escaping: our label values are printable ASCII after the
 * parsers' sanitising, but service names come from comm and may not be. */
static void json_string_n(struct strbuf *out, const char *v, size_t n)
{
	strbuf_add(out, "\"", 1);
	for (const char *end = v + n; v < end; v++) {
		unsigned char c = *v;

		if (c == '"' || c == '\\')
			strbuf_printf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			strbuf_printf(out, "\\u%04x", c);
		else
			strbuf_add(out, v, 1);
	}
	strbuf_add(out, "\"", 1);
}

static void json_string(struct strbuf *out, const char *v)
{
	json_string_n(out, v, strlen(v));
}

static void json_number(struct strbuf *out, double v)
{
	if (isfinite(v))
		expo_number(out, v);
	else
		strbuf_puts(out, "null");
}

static void json_histogram(struct strbuf *out, const struct family *f, const struct series *s)
{
	uint64_t cumulative = 0;

	strbuf_puts(out, ",\"buckets\":{");
	for (size_t i = 0; i < f->nbounds; i++) {
		cumulative += s->buckets[i];
		strbuf_printf(out, "%s\"%.15g\":%llu", i ? "," : "", f->bounds[i],
			      (unsigned long long)cumulative);
	}
	cumulative += s->buckets[f->nbounds];
	strbuf_printf(out, "%s\"+Inf\":%llu},\"sum\":", f->nbounds ? "," : "",
		      (unsigned long long)cumulative);
	json_number(out, s->sum);
	strbuf_printf(out, ",\"count\":%llu", (unsigned long long)s->count);
}

static void json_label(struct strbuf *out, bool first, const struct label_part *p)
{
	if (!first)
		strbuf_add(out, ",", 1);
	json_string_n(out, p->name, p->name_len);
	strbuf_add(out, ":", 1);
	json_string_n(out, p->value, p->value_len);
}

static void json_series(struct strbuf *out, const struct family *f, const struct series *s)
{
	strbuf_puts(out, "{\"labels\":{");
	write_labels(out, f, s, json_label);
	strbuf_add(out, "}", 1);
	if (f->type == METRIC_HISTOGRAM) {
		json_histogram(out, f, s);
	} else {
		strbuf_puts(out, ",\"value\":");
		json_number(out, s->value);
	}
	strbuf_add(out, "}", 1);
}

void expo_json(const struct registry *r, struct strbuf *out)
{
	bool first_family = true;

	strbuf_puts(out, "{\"metrics\":[");
	for (const struct family *f = r->first; f; f = f->next) {
		strbuf_puts(out, first_family ? "{\"name\":" : ",{\"name\":");
		first_family = false;
		json_string(out, f->name);
		strbuf_printf(out, ",\"type\":\"%s\",\"help\":", type_name(f->type));
		json_string(out, f->help);
		strbuf_puts(out, ",\"samples\":[");
		for (const struct series *s = f->first; s; s = s->list_next) {
			if (s != f->first)
				strbuf_add(out, ",", 1);
			json_series(out, f, s);
		}
		strbuf_puts(out, "]}");
	}
	strbuf_puts(out, "]}\n");
}
