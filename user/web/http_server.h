/* SPDX-License-Identifier: MIT */
/* The exporter's own endpoints: /metrics, /metrics/json, /health, / (the live page). */
#ifndef SSE_HTTP_SERVER_H
#define SSE_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>

#include "core/config.h"
#include "kernel/loader.h"
#include "metrics/metrics.h"

#define HEALTH_WINDOW 13 /* samples 5 s apart: one minute of rates */

struct health_sample {
	double t;
	double requests;
	double failed;
};

struct http_server {
	struct MHD_Daemon *daemon;
	const struct config *cfg;
	struct metrics *m;
	pthread_mutex_t *lock;
	const struct loader *loader; /* its links are checked at each /health */
	size_t programs_required;
	struct health_sample window[HEALTH_WINDOW];
	size_t nsamples;
	struct web_config *web;
};

int http_server_start(struct http_server *s, char *err, size_t err_size);
void http_server_stop(struct http_server *s);

/* Called every 5 s with the lock held: feeds the /health rates. */
void http_server_sample(struct http_server *s, double now);

#endif
