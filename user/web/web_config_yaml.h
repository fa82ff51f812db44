/* SPDX-License-Identifier: MIT */
/*
 * The exporter-toolkit web config file as a YAML document (libyaml), walked
 * into the values the exporter uses: pure, text in, struct out. Every key of
 * the format is known; a key it does not have, a value of the wrong type or
 * a setting this exporter cannot honour is refused with its line.
 */
#ifndef SSE_WEB_CONFIG_YAML_H
#define SSE_WEB_CONFIG_YAML_H

#include <stddef.h>

#define WEB_USERS_MAX	    32
#define WEB_HEADERS_MAX	    5 /* the headers exporter-toolkit lets one set */
#define WEB_NOT_APPLIED_MAX 8

/* tls_server_config.client_auth_type, Go's crypto/tls names */
enum client_auth {
	CLIENT_AUTH_NONE,	     /* NoClientCert (the default) */
	CLIENT_AUTH_REQUEST,	     /* RequestClientCert: asked for, not needed, not checked */
	CLIENT_AUTH_REQUIRE_ANY,     /* RequireAnyClientCert: needed, not checked */
	CLIENT_AUTH_VERIFY_IF_GIVEN, /* VerifyClientCertIfGiven: checked if sent */
	CLIENT_AUTH_REQUIRE_VERIFY,  /* RequireAndVerifyClientCert: needed and checked */
};

struct web_config_doc {
	char *cert_file, *key_file, *client_ca_file;
	char *cert, *key, *client_ca; /* the same, inline PEM */
	int client_auth;	      /* enum client_auth */
	int min_version, max_version; /* TLS 1.x as x: 0 to 3 */
	size_t nusers;
	char *users[WEB_USERS_MAX];
	char *hashes[WEB_USERS_MAX];
	size_t nheaders;
	const char *header_names[WEB_HEADERS_MAX]; /* static strings */
	char *header_values[WEB_HEADERS_MAX];
	/* keys given that are accepted but not applied (static strings) */
	size_t nnot_applied;
	const char *not_applied[WEB_NOT_APPLIED_MAX];
};

/* 0, or -1 with err set ("out of memory" left to the caller: err empty). */
int web_config_yaml_parse(const char *text, struct web_config_doc *doc, char *err, size_t err_size);
void web_config_doc_free(struct web_config_doc *doc);

#endif
