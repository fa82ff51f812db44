// SPDX-License-Identifier: MIT
/*
 * Unit tests of the targets: one resolution per process, a reused pid is
 * another process, a target's info series lives as long as its process,
 * and a target gone for the grace period loses its series. The process
 * observed is this one, so that /proc answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/clock.h"
#include "ident/proc.h"
#include "track/targets.h"

#define S 1000000000ull

struct fixture {
	struct config cfg;
	struct metrics m;
	struct targets t;
};

static int setup(void **state)
{
	struct metrics_config mc = {.max_paths = 10, .max_models = 10, .idle_ns = 30 * S};
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	/* the name alone: this test may run in a systemd unit or a container */
	f->cfg.service_from[0] = SERVICE_FROM_COMM;
	f->cfg.nservice_from = 1;
	f->cfg.host_root = "/";
	if (metrics_init(&f->m, &mc) || targets_init(&f->t, &f->m, &f->cfg, NULL)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	targets_free(&f->t);
	metrics_free(&f->m);
	free(f);
	return 0;
}

static size_t info_series(const struct fixture *f)
{
	return f->m.target_info->nseries;
}

static void test_one_resolution_per_process(void **state)
{
	struct fixture *f = *state;
	uint64_t start = proc_start_ticks(getpid());
	struct target *a = target_get(&f->t, getpid(), start, NULL);
	struct target *b = target_get(&f->t, getpid(), 0, NULL);

	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_string_equal(a->key, a->comm); /* a plain process is its name */
	assert_int_equal(a->start_ticks, start);
	assert_int_equal(f->t.n, 1);
	assert_int_equal(info_series(f), 1);
	target_put(&f->t, a);
	target_put(&f->t, b);
	assert_int_equal(info_series(f), 1); /* listed: the process lives */
}

/* The same pid with another start is another process: resolved anew; the
 * old one's info leaves with its last holder. */
static void test_reused_pid_is_another_process(void **state)
{
	struct fixture *f = *state;
	uint64_t start = proc_start_ticks(getpid());
	struct target *old = target_get(&f->t, getpid(), start - 1, "old");
	struct target *cur = target_get(&f->t, getpid(), start, NULL);

	assert_ptr_not_equal(old, cur);
	assert_false(old->listed);
	assert_true(cur->listed);
	assert_int_equal(f->t.n, 1);
	/* both are this process to /proc: one info series, kept by the new */
	assert_int_equal(info_series(f), 1);
	target_put(&f->t, old);
	assert_int_equal(info_series(f), 1);
	target_put(&f->t, cur);
	targets_exit(&f->t, getpid());
	assert_int_equal(info_series(f), 0);
}

/* An exit unlists; the series stay for the grace period, then go, and
 * the drop is counted. A clock read before the exit is within it. */
static void test_gone_target_expires_after_grace(void **state)
{
	struct fixture *f = *state;
	struct target *tg = target_get(&f->t, getpid(), 0, NULL);
	const char *const labels[] = {tg->key, "/p"};
	struct family *bytes = f->m.sse_bytes;
	uint64_t before = mono_ns(), gone;

	metric_add(bytes, labels, 5);
	metric_add(f->m.sse_active, labels, 1);
	target_put(&f->t, tg);
	targets_exit(&f->t, getpid());
	assert_int_equal(f->t.n, 0);
	assert_int_equal(info_series(f), 0);
	targets_expire(&f->t, before, 300 * S);
	assert_int_equal(bytes->nseries, 1);
	gone = mono_ns();
	targets_expire(&f->t, gone + 299 * S, 300 * S);
	assert_int_equal(bytes->nseries, 1);
	targets_expire(&f->t, gone + 301 * S, 300 * S);
	assert_int_equal(bytes->nseries, 0);
	assert_int_equal(f->m.sse_active->nseries, 0);
	assert_int_equal(f->m.series_expired->first->value, 2);
}

/* A process back before the grace ends keeps its target's series. */
static void test_target_back_in_time_is_kept(void **state)
{
	struct fixture *f = *state;
	struct target *tg = target_get(&f->t, getpid(), 0, NULL);
	const char *const labels[] = {tg->key, "/p"};

	metric_add(f->m.sse_bytes, labels, 5);
	target_put(&f->t, tg);
	targets_exit(&f->t, getpid());
	tg = target_get(&f->t, getpid(), 0, NULL);
	targets_expire(&f->t, mono_ns() + 1000 * S, 300 * S);
	assert_int_equal(f->m.sse_bytes->nseries, 1);
	target_put(&f->t, tg);
}

/* An exit record lost: the check against /proc unlists what is gone. */
static void test_check_alive_unlists_the_gone(void **state)
{
	struct fixture *f = *state;
	struct target *live = target_get(&f->t, getpid(), 0, NULL);
	struct target *gone = target_get(&f->t, 0x3fffff, 12345, "ghost");

	assert_string_equal(gone->key, "ghost"); /* named by the record */
	target_put(&f->t, live);
	target_put(&f->t, gone);
	assert_int_equal(f->t.n, 2);
	targets_check_alive(&f->t);
	assert_int_equal(f->t.n, 1);
	assert_true(live->listed);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_one_resolution_per_process),	     T(test_reused_pid_is_another_process),
	    T(test_gone_target_expires_after_grace), T(test_target_back_in_time_is_kept),
	    T(test_check_alive_unlists_the_gone),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
