/* SPDX-License-Identifier: MIT */
/*
 * --web.config.file: the exporter-toolkit web configuration (the keys and
 * what becomes of each: web_config_yaml.c): TLS, client certificates,
 * basic auth with bcrypt hashes, extra response headers.
 */
#ifndef SSE_WEB_CONFIG_H
#define SSE_WEB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;
struct MHD_OptionItem;
struct MHD_Response;
struct web_config;

/* Room web_config_tls_options needs: cert, key, priorities, CA, end. */
#define WEB_TLS_OPTIONS_MAX 5

struct web_config *web_config_load(const char *path, char *err, size_t err_size);
void web_config_free(struct web_config *w);

/* Fills MHD options for TLS (n >= WEB_TLS_OPTIONS_MAX); returns how many
 * before the MHD_OPTION_END, 0 when TLS is not configured. */
size_t web_config_tls_options(const struct web_config *w, struct MHD_OptionItem *opts, size_t n);

/* The client certificate, then the password: both as the file asks. */
bool web_config_client_ok(const struct web_config *w, struct MHD_Connection *conn);
bool web_config_authorized(const struct web_config *w, struct MHD_Connection *conn);
/* Queues 403 (forbidden: the certificate) or 401 (the password). */
int web_config_refuse(const struct web_config *w, struct MHD_Connection *conn, bool forbidden);
void web_config_add_headers(const struct web_config *w, struct MHD_Response *r);

/* Parses the file's text (pure, for tests and fuzzing). */
struct web_config *web_config_parse(const char *text, char *err, size_t err_size);
const char *web_config_user_hash(const struct web_config *w, const char *user);

#endif
