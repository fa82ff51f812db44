/* SPDX-License-Identifier: MIT */
/*
 * --web.config.file: the exporter-toolkit web configuration, the subset
 * that matters here: tls_server_config.cert_file/key_file and
 * basic_auth_users with bcrypt hashes.
 */
#ifndef SSE_WEB_CONFIG_H
#define SSE_WEB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;
struct MHD_OptionItem;
struct web_config;

struct web_config *web_config_load(const char *path, char *err, size_t err_size);
void web_config_free(struct web_config *w);

/* Fills MHD options for TLS; returns true when TLS is configured. */
bool web_config_tls_options(struct web_config *w, struct MHD_OptionItem *opts, size_t n);

bool web_config_authorized(struct web_config *w, struct MHD_Connection *conn);
int web_config_deny(struct MHD_Connection *conn);

/* Parses the YAML subset from memory (pure, for tests). */
struct web_config *web_config_parse(const char *text, char *err, size_t err_size);
const char *web_config_user_hash(const struct web_config *w, const char *user);

#endif
