// SPDX-License-Identifier: MIT
/*
 * Unit tests of the --web.config.file parser (exporter-toolkit format):
 * the document walk (web_config_yaml_parse: each key, its types, unknown
 * keys with their line), the keys together (web_config_parse), then
 * loading (files, bcrypt, TLS credentials, MHD options). Not in UNIT_OBJS:
 * built with user/web/web_config*.c -lmicrohttpd -lcrypt -lyaml.
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
#include <microhttpd.h>

#include "web/web_config.h"
#include "web/web_config_yaml.h"

#define HASH_ALICE "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"
#define HASH_BOB   "$2y$10$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m"

static struct web_config *parse_ok(const char *text)
{
	char err[256] = "";
	struct web_config *w = web_config_parse(text, err, sizeof(err));

	if (!w)
		fail_msg("rejected: %s", err);
	assert_string_equal(err, "");
	return w;
}

static void parse_bad(const char *text, const char *err_part)
{
	char err[256] = "";
	struct web_config *w = web_config_parse(text, err, sizeof(err));

	if (w) {
		web_config_free(w);
		fail_msg("accepted:\n%s", text);
	}
	if (!strstr(err, err_part))
		fail_msg("error \"%s\" does not say \"%s\"", err, err_part);
}

static void test_basic_auth_users(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("basic_auth_users:\n"
		     "  alice: " HASH_ALICE "\n"
		     "  bob: " HASH_BOB "\n");
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	assert_string_equal(web_config_user_hash(w, "bob"), HASH_BOB);
	assert_null(web_config_user_hash(w, "carol"));
	assert_null(web_config_user_hash(w, "Alice"));
	assert_null(web_config_user_hash(w, ""));
	web_config_free(w);
}

static void test_tls_server_config(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("tls_server_config:\n"
		     "  cert_file: /etc/ssl/server.crt\n"
		     "  key_file: /etc/ssl/server.key\n"
		     "basic_auth_users:\n"
		     "  alice: " HASH_ALICE "\n");
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	web_config_free(w);
}

static void test_missing_key_file_is_error(void **state)
{
	(void)state;
	parse_bad("tls_server_config:\n"
		  "  cert_file: /etc/ssl/server.crt\n",
		  "key_file");
}

static void test_missing_cert_file_is_error(void **state)
{
	(void)state;
	parse_bad("tls_server_config:\n"
		  "  key_file: /etc/ssl/server.key\n",
		  "cert_file");
}

static void test_quoted_values(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("basic_auth_users:\n"
		     "  alice: \"" HASH_ALICE "\"\n"
		     "  bob: '" HASH_BOB "'\n"
		     "  dave: \"\"\n");
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	assert_string_equal(web_config_user_hash(w, "bob"), HASH_BOB);
	assert_null(web_config_user_hash(w, "carol"));
	assert_string_equal(web_config_user_hash(w, "dave"), "");
	web_config_free(w);
}

static void test_unterminated_quote_is_an_error(void **state)
{
	char err[256] = "";

	(void)state;
	assert_null(
	    web_config_parse("basic_auth_users:\n  carol: \"mismatched'\n", err, sizeof(err)));
	assert_non_null(strstr(err, "line 2: while scanning a quoted scalar"));
}

static void test_whitespace_trimmed(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("basic_auth_users:\n"
		     "  alice:\t  " HASH_ALICE "  \t\n"
		     "  bob:   '" HASH_BOB "'   \n");
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	assert_string_equal(web_config_user_hash(w, "bob"), HASH_BOB);
	web_config_free(w);
}

/* YAML does not indent with tabs (nor does Go's parser): refused with the
 * line, not read as some other nesting. */
static void test_tab_indent_is_an_error(void **state)
{
	(void)state;
	parse_bad("basic_auth_users:\n"
		  "  alice: " HASH_ALICE "\n"
		  "\tbob: " HASH_BOB "\n",
		  "found a tab character that violates indentation (line 3)");
}

static void test_full_line_comments_and_blank_lines(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("# exporter web config\n"
		     "\n"
		     "tls_server_config:\n"
		     "  # certificate and key\n"
		     "  cert_file: a.crt\n"
		     "\n"
		     "  key_file: a.key\n"
		     "# users\n"
		     "basic_auth_users:\n"
		     "    # alice is the admin\n"
		     "  alice: " HASH_ALICE "\n"
		     "#bob: nope\n"
		     "  #carol: nope\n");
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	assert_null(web_config_user_hash(w, "bob"));
	assert_null(web_config_user_hash(w, "#bob"));
	assert_null(web_config_user_hash(w, "carol"));
	assert_null(web_config_user_hash(w, "#carol"));
	web_config_free(w);
}

static void test_crlf_line_ends(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("tls_server_config:\r\n"
		     "  cert_file: a.crt\r\n"
		     "  key_file: a.key\r\n"
		     "\r\n"
		     "basic_auth_users:\r\n"
		     "  alice: '" HASH_ALICE "'\r\n");
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	web_config_free(w);
}

static void test_users_only_in_their_section(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("http_server_config:\n"
		     "  http2: true\n"
		     "  headers:\n"
		     "    X-XSS-Protection: '1'\n"
		     "basic_auth_users:\n"
		     "  bob: " HASH_BOB "\n"
		     "tls_server_config:\n"
		     "  cert_file: a.crt\n"
		     "  key_file: a.key\n"
		     "  min_version: TLS12\n");
	assert_null(web_config_user_hash(w, "X-XSS-Protection"));
	assert_null(web_config_user_hash(w, "cert_file"));
	assert_string_equal(web_config_user_hash(w, "bob"), HASH_BOB);
	web_config_free(w);
}

static void test_empty_config(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("");
	assert_null(web_config_user_hash(w, "alice"));
	web_config_free(w);
	w = parse_ok("# nothing here\n\n");
	web_config_free(w);
}

static void test_unparseable_line_reports_its_number(void **state)
{
	(void)state;
	parse_bad("basic_auth_users:\n"
		  "  alice: " HASH_ALICE "\n"
		  "this line has no colon\n",
		  "line 3: while scanning a simple key, could not find expected ':'");
}

/* A misspelt section must not quietly drop the password or the TLS. */
static void test_unknown_top_level_key_is_error(void **state)
{
	(void)state;
	parse_bad("basic_auth_user:\n"
		  "  alice: " HASH_ALICE "\n",
		  "line 1: unknown key \"basic_auth_user\" in the web config");
	parse_bad("# TLS\n"
		  "\n"
		  "tls_server_confg:\n"
		  "  cert_file: a.crt\n"
		  "  key_file: a.key\n",
		  "line 3: unknown key \"tls_server_confg\" in the web config");
	parse_bad("  alice: " HASH_ALICE "\n", "line 1: unknown key \"alice\" in the web config");
}

static void test_unknown_tls_key_is_error(void **state)
{
	(void)state;
	parse_bad("tls_server_config:\n"
		  "  cert_file: a.crt\n"
		  "  key_flie: a.key\n",
		  "line 3: unknown key \"key_flie\" in tls_server_config");
	parse_bad("http_server_config:\n"
		  "  http3: true\n",
		  "line 2: unknown key \"http3\" in http_server_config");
	parse_bad("rate_limit:\n"
		  "  interval: 0s\n"
		  "  bursts: 3\n",
		  "line 3: unknown key \"bursts\" in rate_limit");
}

static void users_text(char *text, size_t size, int users)
{
	size_t n = snprintf(text, size, "basic_auth_users:\n");

	for (int i = 0; i < users; i++)
		n += snprintf(text + n, size - n, "  user%d: hash%d\n", i, i);
}

static void test_many_users(void **state)
{
	char text[8192];
	struct web_config *w;

	(void)state;
	users_text(text, sizeof(text), 32);
	w = parse_ok(text);
	assert_string_equal(web_config_user_hash(w, "user0"), "hash0");
	assert_string_equal(web_config_user_hash(w, "user31"), "hash31");
	web_config_free(w);
}

/* A user beyond the table is refused at start, not silently unable to log in. */
static void test_too_many_users_is_error(void **state)
{
	char text[8192];

	(void)state;
	users_text(text, sizeof(text), 33);
	parse_bad(text, "line 34: more than 32 basic_auth_users");
}

static void test_free_null(void **state)
{
	(void)state;
	web_config_free(NULL);
}

/*
 * YAML ends a plain value at " #" (a comment): in the exporter-toolkit
 * format "alice: <hash> # admin" gives alice the hash alone, or she could
 * never log in.
 */
static void test_inline_comment_not_part_of_value(void **state)
{
	struct web_config *w;
	const char *got;
	char hash[128];

	(void)state;
	w = parse_ok("basic_auth_users:\n"
		     "  alice: " HASH_ALICE " # the admin\n");
	got = web_config_user_hash(w, "alice");
	snprintf(hash, sizeof(hash), "%s", got ? got : "(no such user)");
	web_config_free(w);
	assert_string_equal(hash, HASH_ALICE);
}

/*
 * A valid exporter-toolkit file with YAML lists (tls_server_config
 * .cipher_suites, curve_preferences) is accepted: list items have no
 * colon, and keys this parser does not use are skipped.
 */
static void test_unused_list_values_accepted(void **state)
{
	static const char text[] = "tls_server_config:\n"
				   "  cert_file: a.crt\n"
				   "  cipher_suites:\n"
				   "    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
				   "    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
				   "  key_file: a.key\n";
	char err[256] = "";
	struct web_config *w;

	(void)state;
	w = web_config_parse(text, err, sizeof(err));
	assert_string_equal(err, "");
	assert_non_null(w);
	web_config_free(w);
}

/* ---- the document walk: each key, where it goes ---- */

static void doc_ok(const char *text, struct web_config_doc *doc)
{
	char err[256] = "";

	memset(doc, 0, sizeof(*doc));
	if (web_config_yaml_parse(text, doc, err, sizeof(err)))
		fail_msg("rejected: %s", err);
}

static void doc_bad(const char *text, const char *err_part)
{
	struct web_config_doc doc = {0};
	char err[256] = "";
	int rc = web_config_yaml_parse(text, &doc, err, sizeof(err));

	web_config_doc_free(&doc);
	if (!rc)
		fail_msg("accepted:\n%s", text);
	if (!strstr(err, err_part))
		fail_msg("error \"%s\" does not say \"%s\"", err, err_part);
}

static void test_tls_keys_applied(void **state)
{
	struct web_config_doc d;

	(void)state;
	doc_ok("tls_server_config:\n"
	       "  cert_file: /etc/a.crt\n"
	       "  key_file: \"/etc/a.key\"\n"
	       "  client_ca_file: 'ca.pem'\n"
	       "  client_auth_type: RequireAndVerifyClientCert\n"
	       "  min_version: TLS13\n"
	       "  max_version: TLS13\n",
	       &d);
	assert_string_equal(d.cert_file, "/etc/a.crt");
	assert_string_equal(d.key_file, "/etc/a.key");
	assert_string_equal(d.client_ca_file, "ca.pem");
	assert_int_equal(d.client_auth, CLIENT_AUTH_REQUIRE_VERIFY);
	assert_int_equal(d.min_version, 3);
	assert_int_equal(d.max_version, 3);
	assert_int_equal(d.nnot_applied, 0);
	web_config_doc_free(&d);
}

/* exporter-toolkit's defaults: TLS 1.2 to 1.3, no client certificate */
static void test_tls_defaults(void **state)
{
	struct web_config_doc d;

	(void)state;
	doc_ok("tls_server_config:\n  cert_file: a\n  key_file: b\n"
	       "  client_auth_type:\n  min_version: ~\n",
	       &d);
	assert_int_equal(d.min_version, 2);
	assert_int_equal(d.max_version, 3);
	assert_int_equal(d.client_auth, CLIENT_AUTH_NONE);
	assert_null(d.client_ca_file);
	web_config_doc_free(&d);
}

static void test_client_auth_types(void **state)
{
	static const struct {
		const char *name;
		int want;
	} types[] = {
	    {"NoClientCert", CLIENT_AUTH_NONE},
	    {"RequestClientCert", CLIENT_AUTH_REQUEST},
	    {"RequireAnyClientCert", CLIENT_AUTH_REQUIRE_ANY},
	    {"RequireClientCert", CLIENT_AUTH_REQUIRE_ANY}, /* the old name */
	    {"VerifyClientCertIfGiven", CLIENT_AUTH_VERIFY_IF_GIVEN},
	    {"RequireAndVerifyClientCert", CLIENT_AUTH_REQUIRE_VERIFY},
	};
	struct web_config_doc d;
	char text[128];

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		snprintf(text, sizeof(text), "tls_server_config:\n  client_auth_type: %s\n",
			 types[i].name);
		doc_ok(text, &d);
		assert_int_equal(d.client_auth, types[i].want);
		web_config_doc_free(&d);
	}
	doc_bad("tls_server_config:\n  client_auth_type: requireandverifyclientcert\n",
		"line 2: client_auth_type \"requireandverifyclientcert\" is none of NoClientCert, "
		"RequestClientCert");
}

static void test_tls_versions(void **state)
{
	static const char *const names[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
	struct web_config_doc d;
	char text[128];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "tls_server_config:\n  min_version: %s\n", names[i]);
		doc_ok(text, &d);
		assert_int_equal(d.min_version, i);
		web_config_doc_free(&d);
	}
	doc_bad("tls_server_config:\n  max_version: TLS14\n",
		"line 2: max_version \"TLS14\" is none of TLS10, TLS11, TLS12, TLS13");
	doc_bad("tls_server_config:\n  min_version: 1.2\n", "line 2: min_version \"1.2\"");
}

/* cert, key and client_ca inline: PEM as a YAML block scalar */
static void test_inline_pem(void **state)
{
	struct web_config_doc d;

	(void)state;
	doc_ok(
	    "tls_server_config:\n"
	    "  cert: |\n    -----BEGIN CERTIFICATE-----\n    AAAA\n    -----END CERTIFICATE-----\n"
	    "  key: \"k\"\n"
	    "  client_ca: c\n",
	    &d);
	assert_string_equal(d.cert,
			    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	assert_string_equal(d.key, "k");
	assert_string_equal(d.client_ca, "c");
	assert_null(d.cert_file);
	web_config_doc_free(&d);
}

/* Taken and type-checked, not applied: said so in not_applied. */
static void test_not_applied_keys(void **state)
{
	struct web_config_doc d;

	(void)state;
	doc_ok("tls_server_config:\n"
	       "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"
	       "  curve_preferences:\n    - X25519\n    - CurveP256\n"
	       "  prefer_server_cipher_suites: false\n"
	       "http_server_config:\n  http2: true\n",
	       &d);
	assert_int_equal(d.nnot_applied, 4);
	assert_string_equal(d.not_applied[0], "cipher_suites");
	assert_string_equal(d.not_applied[1], "curve_preferences");
	assert_string_equal(d.not_applied[2], "prefer_server_cipher_suites");
	assert_string_equal(d.not_applied[3], "http2");
	web_config_doc_free(&d);
	doc_ok("tls_server_config:\n  cipher_suites:\n  curve_preferences: []\n", &d);
	assert_int_equal(d.nnot_applied, 1); /* an empty list is still given */
	web_config_doc_free(&d);
	doc_bad("tls_server_config:\n  curve_preferences:\n    - X25519\n    - P-256\n",
		"line 4: curve_preferences \"P-256\" is none of CurveP256");
	doc_bad("http_server_config:\n  http2: yes please\n",
		"line 2: http2 must be true or false");
	doc_bad("http_server_config:\n  http2: 'true'\n", "line 2: http2 must be true or false");
}

static void test_headers(void **state)
{
	struct web_config_doc d;

	(void)state;
	doc_ok("http_server_config:\n"
	       "  headers:\n"
	       "    Content-Security-Policy: \"default-src 'none'\"\n"
	       "    X-Frame-Options: deny\n"
	       "    X-Content-Type-Options: nosniff\n"
	       "    X-XSS-Protection: 1; mode=block\n"
	       "    Strict-Transport-Security: ''\n",
	       &d);
	assert_int_equal(d.nheaders, 4); /* a blank one stays unset */
	assert_string_equal(d.header_names[0], "Content-Security-Policy");
	assert_string_equal(d.header_values[0], "default-src 'none'");
	assert_string_equal(d.header_names[1], "X-Frame-Options");
	assert_string_equal(d.header_values[1], "deny");
	assert_string_equal(d.header_names[3], "X-XSS-Protection");
	assert_string_equal(d.header_values[3], "1; mode=block");
	web_config_doc_free(&d);
}

/* Only the headers exporter-toolkit lets one set, with its values. */
static void test_headers_refused(void **state)
{
	(void)state;
	doc_bad("http_server_config:\n  headers:\n    Authorization: Basic eA==\n",
		"line 3: unknown key \"Authorization\" in headers");
	doc_bad("http_server_config:\n  headers:\n    Content-Type: text/html\n",
		"line 3: unknown key \"Content-Type\" in headers");
	doc_bad("http_server_config:\n  headers:\n    x-frame-options: deny\n",
		"line 3: unknown key \"x-frame-options\" in headers");
	doc_bad("http_server_config:\n  headers:\n    X-Frame-Options: allow-from x\n",
		"line 3: X-Frame-Options \"allow-from x\" is none of deny, sameorigin");
	doc_bad("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
		"line 3: X-Content-Type-Options \"sniff\" is none of nosniff");
	doc_bad(
	    "http_server_config:\n  headers:\n    X-XSS-Protection: \"0\\r\\nSet-Cookie: a=b\"\n",
	    "line 3: header X-XSS-Protection has a control character");
}

static void test_wrong_types(void **state)
{
	(void)state;
	doc_bad("basic_auth_users:\n  - alice\n",
		"line 2: basic_auth_users must be a mapping, not a list");
	doc_bad("basic_auth_users: alice\n",
		"line 1: basic_auth_users must be a mapping, not a single value");
	doc_bad("basic_auth_users:\n  alice:\n    - " HASH_ALICE "\n",
		"line 3: basic_auth_users: the hash of alice must be a single value, not a list");
	doc_bad("tls_server_config:\n  cert_file:\n    - a.crt\n",
		"line 3: cert_file must be a single value, not a list");
	doc_bad("tls_server_config:\n  key_file: {a: b}\n",
		"line 2: key_file must be a single value, not a mapping");
	doc_bad("tls_server_config: yes\n",
		"line 1: tls_server_config must be a mapping, not a single value");
	doc_bad("tls_server_config:\n  cipher_suites: TLS_AES_128_GCM_SHA256\n",
		"line 2: cipher_suites must be a list, not a single value");
	doc_bad("tls_server_config:\n  cipher_suites:\n    - [a]\n",
		"line 3: cipher_suites must be a single value, not a list");
	doc_bad("http_server_config:\n  headers: [X-Frame-Options]\n",
		"line 2: headers must be a mapping, not a list");
	doc_bad("rate_limit:\n  burst: many\n", "line 2: burst must be an integer");
	doc_bad("- basic_auth_users\n", "line 1: the web config must be a mapping, not a list");
	doc_bad("tls_server_config:\n  cert_file: \"a\\0b\"\n",
		"line 2: cert_file has a NUL character");
	doc_bad("? [a, b]\n: c\n", "line 1: a key of the web config is a list");
}

/* A key twice is refused, not settled by which one wins. */
static void test_duplicate_keys(void **state)
{
	(void)state;
	doc_bad("basic_auth_users:\n  alice: " HASH_ALICE "\n  alice: " HASH_BOB "\n",
		"line 3: \"alice\" is given twice in basic_auth_users");
	doc_bad("tls_server_config:\n  cert_file: a\ntls_server_config:\n  key_file: b\n",
		"line 3: \"tls_server_config\" is given twice in the web config");
}

static void test_refused_unless_off(void **state)
{
	struct web_config_doc d;

	(void)state;
	doc_ok("tls_server_config:\n  client_allowed_sans: []\nrate_limit:\n  interval: 0s\n"
	       "  burst: 10\n",
	       &d);
	web_config_doc_free(&d);
	doc_ok("rate_limit:\n  interval: 0\n", &d);
	web_config_doc_free(&d);
	doc_bad("tls_server_config:\n  client_allowed_sans:\n    - host.example\n",
		"line 3: client_allowed_sans is not supported");
	doc_bad("rate_limit:\n  interval: 1s\n  burst: 5\n",
		"line 2: rate_limit is not supported: its interval must be 0");
	doc_bad("rate_limit:\n  interval: 0.5s\n", "line 2: rate_limit is not supported");
}

/* YAML's other spellings of the same mapping, and a single document. */
static void test_yaml_forms(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("---\nbasic_auth_users: {alice: \"" HASH_ALICE "\", bob: " HASH_BOB
		     "}\n...\n");
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	assert_string_equal(web_config_user_hash(w, "bob"), HASH_BOB);
	web_config_free(w);
	w = parse_ok("basic_auth_users:\n  alice: &h " HASH_ALICE "\n  bob: *h\n");
	assert_string_equal(web_config_user_hash(w, "bob"), HASH_ALICE);
	web_config_free(w);
	w = parse_ok("~\n");
	web_config_free(w);
	parse_bad("basic_auth_users:\n  alice: " HASH_ALICE "\n---\nbasic_auth_users:\n"
		  "  bob: " HASH_BOB "\n",
		  "line 4: a second YAML document");
}

/* ---- the keys together ---- */

static void test_tls_semantics(void **state)
{
	(void)state;
	parse_bad("tls_server_config:\n  cert_file: a\n  cert: b\n  key_file: c\n", "not both");
	parse_bad("tls_server_config:\n  cert: a\n", "needs key_file (or key)");
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
		  "client_ca_file without a client_auth_type");
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n"
		  "  client_auth_type: RequireAnyClientCert\n",
		  "client_auth_type needs client_ca_file");
	parse_bad("tls_server_config:\n  client_ca_file: c\n"
		  "  client_auth_type: RequireAndVerifyClientCert\n",
		  "client certificates need cert_file and key_file");
	parse_bad("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
		  "  max_version: TLS12\n",
		  "min_version is above max_version");
}

static void test_tls_semantics_ok(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("tls_server_config:\n  cert: a\n  key: b\n  client_ca: c\n"
		     "  client_auth_type: VerifyClientCertIfGiven\n");
	web_config_free(w);
	/* an empty tls_server_config is no TLS, as in exporter-toolkit */
	w = parse_ok("tls_server_config:\nhttp_server_config: {}\n");
	web_config_free(w);
}

/* ---- through web_config_load: the file names are the ones written ---- */

static char *write_temp(const char *content)
{
	char *path = strdup("/tmp/test_web_config_XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

/* A matching pair (self-signed P-256, CN sse-exporter-unit): loading checks
 * that the key belongs to the certificate before anything listens. */
static const char cert[] = "-----BEGIN CERTIFICATE-----\n"
			   "MIIBjzCCATWgAwIBAgIUTOeaOtVbzC1rNqggGU++zM1EAIAwCgYIKoZIzj0EAwIw\n"
			   "HDEaMBgGA1UEAwwRc3NlLWV4cG9ydGVyLXVuaXQwIBcNMjYxMjAzMDkzNDQ0WhgP\n"
			   "MjEyNjExMDkwOTM0NDRaMBwxGjAYBgNVBAMMEXNzZS1leHBvcnRlci11bml0MFkw\n"
			   "EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBbhVu4dpmm5dNrgzlGtddZ+OV1mVdEYD\n"
			   "4DX/h0zB4Ms0mqrmWvIXeVQe/S5eOZQ1+8L222PV5Yng6sy9Gn9ZcKNTMFEwHQYD\n"
			   "VR0OBBYEFByZtg8asow4wzOD3WqreKwYcoWYMB8GA1UdIwQYMBaAFByZtg8asow4\n"
			   "wzOD3WqreKwYcoWYMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIg\n"
			   "Zu3BKrkGcS3Jp85GiUykTvABk5rMp553nxspiIEYeVUCIQCj3Q4iOXf54J0I0Iqz\n"
			   "f8ACpFbrOzywoJ7e8HPy4FAgUQ==\n"
			   "-----END CERTIFICATE-----\n";
static const char key[] = "-----BEGIN PRIVATE KEY-----\n"
			  "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqn75rLiXcaplPJsM\n"
			  "gVXeMZ2FQTJwTi58J/U5bQZHD2WhRANCAAQFuFW7h2mabl02uDOUa111n45XWZV0\n"
			  "RgPgNf+HTMHgyzSaquZa8hd5VB79Ll45lDX7wvbbY9XlieDqzL0af1lw\n"
			  "-----END PRIVATE KEY-----\n";

static const char other_key[] = "-----BEGIN PRIVATE KEY-----\n"
				"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXLvUdR3uiJLo3OQI\n"
				"NeLAyCrSKqPJR/uLG2VeGhADRMihRANCAASM0yPNPkJ9094KzlrUZNegTGbHMQ2+\n"
				"us1rKsRR9liuXQyYlFRKTET5e0K1YqiqxKwD15mve0QkK9+EliLuqewr\n"
				"-----END PRIVATE KEY-----\n";

/* web_config_load of a file naming a cert and a key file (paths quoted
 * both ways YAML allows) that hold cert_pem and key_pem, with tls_keys more
 * lines of tls_server_config; the files are gone when it returns, as the
 * PEM is read at load. */
static struct web_config *load_tls(const char *cert_pem, const char *key_pem, const char *tls_keys,
				   char *err, size_t size)
{
	char *cert_path = write_temp(cert_pem), *key_path = write_temp(key_pem), *yml_path;
	struct web_config *w;
	char yml[512];

	snprintf(yml, sizeof(yml),
		 "tls_server_config:\n  cert_file: \"%s\"\n  key_file: '%s'\n%s"
		 "basic_auth_users:\n  alice: " HASH_ALICE "\n",
		 cert_path, key_path, tls_keys);
	yml_path = write_temp(yml);
	w = web_config_load(yml_path, err, size);
	unlink(cert_path);
	unlink(key_path);
	unlink(yml_path);
	free(cert_path);
	free(key_path);
	free(yml_path);
	return w;
}

static void test_load_reads_quoted_cert_and_key_paths(void **state)
{
	struct MHD_OptionItem opts[WEB_TLS_OPTIONS_MAX];
	char err[256] = "";
	struct web_config *w;

	(void)state;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		skip();
	w = load_tls(cert, key, "", err, sizeof(err));
	if (!w)
		fail_msg("load failed: %s", err);
	assert_int_equal(web_config_tls_options(w, opts, WEB_TLS_OPTIONS_MAX), 3);
	assert_int_equal(opts[0].option, MHD_OPTION_HTTPS_MEM_CERT);
	assert_string_equal(opts[0].ptr_value, cert);
	assert_int_equal(opts[1].option, MHD_OPTION_HTTPS_MEM_KEY);
	assert_string_equal(opts[1].ptr_value, key);
	/* exporter-toolkit's default versions */
	assert_int_equal(opts[2].option, MHD_OPTION_HTTPS_PRIORITIES);
	assert_string_equal(opts[2].ptr_value, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3");
	assert_int_equal(opts[3].option, MHD_OPTION_END);
	assert_int_equal(web_config_tls_options(w, opts, WEB_TLS_OPTIONS_MAX - 1), 0);
	web_config_free(w);
}

/* A file in dir, named name: its path (to free). */
static char *write_in(const char *dir, const char *name, const char *content)
{
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	fclose(f);
	return path;
}

/*
 * cert_file, key_file and client_ca_file relative to the web config's
 * directory (as exporter-toolkit takes them), the client CA and the
 * versions asked for in the MHD options.
 */
static void test_load_client_ca_relative_paths(void **state)
{
	struct MHD_OptionItem opts[WEB_TLS_OPTIONS_MAX];
	char dir[] = "/tmp/test_web_config_dir_XXXXXX";
	char *paths[4], err[256] = "";
	struct web_config *w;

	(void)state;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		skip();
	assert_non_null(mkdtemp(dir));
	paths[0] = write_in(dir, "server.crt", cert);
	paths[1] = write_in(dir, "server.key", key);
	paths[2] = write_in(dir, "ca.pem", cert); /* self-signed: its own CA */
	paths[3] = write_in(dir, "web.yml",
			    "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
			    "  client_ca_file: ca.pem\n"
			    "  client_auth_type: RequireAndVerifyClientCert\n"
			    "  min_version: TLS13\n");
	w = web_config_load(paths[3], err, sizeof(err));
	for (int i = 0; i < 4; i++) {
		unlink(paths[i]);
		free(paths[i]);
	}
	rmdir(dir);
	if (!w)
		fail_msg("load failed: %s", err);
	assert_int_equal(web_config_tls_options(w, opts, WEB_TLS_OPTIONS_MAX), 4);
	assert_string_equal(opts[2].ptr_value, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
	assert_int_equal(opts[3].option, MHD_OPTION_HTTPS_MEM_TRUST);
	assert_string_equal(opts[3].ptr_value, cert);
	assert_int_equal(opts[4].option, MHD_OPTION_END);
	web_config_free(w);
}

/* A client CA file without a certificate is refused at load. */
static void test_load_refuses_empty_client_ca(void **state)
{
	char *ca = write_temp("not a certificate\n"), tls_keys[256], err[256] = "";
	struct web_config *w;

	(void)state;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		skip();
	snprintf(tls_keys, sizeof(tls_keys),
		 "  client_ca_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n", ca);
	w = load_tls(cert, key, tls_keys, err, sizeof(err));
	unlink(ca);
	free(ca);
	web_config_free(w);
	assert_null(w);
	if (!strstr(err, "client_ca_file") || !strstr(err, "no PEM certificate"))
		fail_msg("error \"%s\"", err);
}

/* A key of another certificate is refused at load, with a line saying so. */
static void test_load_refuses_mismatched_pair(void **state)
{
	char err[256] = "";
	struct web_config *w;

	(void)state;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		skip();
	w = load_tls(cert, other_key, "", err, sizeof(err));
	web_config_free(w);
	assert_null(w);
	assert_non_null(strstr(err, "not a matching PEM pair"));
}

static void test_load_without_tls_has_no_tls_options(void **state)
{
	struct MHD_OptionItem opts[WEB_TLS_OPTIONS_MAX];
	char err[256] = "";
	struct web_config *w;
	char *yml_path;

	(void)state;
	yml_path = write_temp("basic_auth_users:\n  alice: " HASH_ALICE "\n");
	w = web_config_load(yml_path, err, sizeof(err));
	if (!w)
		fail_msg("load failed: %s", err);
	assert_int_equal(web_config_tls_options(w, opts, WEB_TLS_OPTIONS_MAX), 0);
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	web_config_free(w);
	unlink(yml_path);
	free(yml_path);
}

static void load_bad_hash(const char *hash)
{
	char yml[256], err[256] = "";
	char *yml_path;

	snprintf(yml, sizeof(yml), "basic_auth_users:\n  bob: %s\n", hash);
	yml_path = write_temp(yml);
	assert_null(web_config_load(yml_path, err, sizeof(err)));
	if (!strstr(err, "bob is not a bcrypt hash"))
		fail_msg("%s: error \"%s\"", hash, err);
	unlink(yml_path);
	free(yml_path);
}

static void test_load_rejects_non_bcrypt_hashes(void **state)
{
	(void)state;
	load_bad_hash("s3cret");
	load_bad_hash("\"\"");
	/* SHA-512 crypt: libcrypt would verify it, the format does not allow it */
	load_bad_hash(
	    "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc."
	    "eoxqOmSuNp2xS0ktL3nh/");
	load_bad_hash("$2y$03$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze");
	load_bad_hash("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz");
	load_bad_hash("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJP!e");
}

static void test_load_missing_file(void **state)
{
	char err[256] = "";

	(void)state;
	assert_null(web_config_load("/nonexistent/web.yml", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/web.yml"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_auth_users),
	    cmocka_unit_test(test_tls_server_config),
	    cmocka_unit_test(test_missing_key_file_is_error),
	    cmocka_unit_test(test_missing_cert_file_is_error),
	    cmocka_unit_test(test_quoted_values),
	    cmocka_unit_test(test_unterminated_quote_is_an_error),
	    cmocka_unit_test(test_whitespace_trimmed),
	    cmocka_unit_test(test_tab_indent_is_an_error),
	    cmocka_unit_test(test_full_line_comments_and_blank_lines),
	    cmocka_unit_test(test_crlf_line_ends),
	    cmocka_unit_test(test_users_only_in_their_section),
	    cmocka_unit_test(test_empty_config),
	    cmocka_unit_test(test_unparseable_line_reports_its_number),
	    cmocka_unit_test(test_unknown_top_level_key_is_error),
	    cmocka_unit_test(test_unknown_tls_key_is_error),
	    cmocka_unit_test(test_many_users),
	    cmocka_unit_test(test_too_many_users_is_error),
	    cmocka_unit_test(test_free_null),
	    cmocka_unit_test(test_inline_comment_not_part_of_value),
	    cmocka_unit_test(test_unused_list_values_accepted),
	    cmocka_unit_test(test_tls_keys_applied),
	    cmocka_unit_test(test_tls_defaults),
	    cmocka_unit_test(test_client_auth_types),
	    cmocka_unit_test(test_tls_versions),
	    cmocka_unit_test(test_inline_pem),
	    cmocka_unit_test(test_not_applied_keys),
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_headers_refused),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_duplicate_keys),
	    cmocka_unit_test(test_refused_unless_off),
	    cmocka_unit_test(test_yaml_forms),
	    cmocka_unit_test(test_tls_semantics),
	    cmocka_unit_test(test_tls_semantics_ok),
	    cmocka_unit_test(test_load_reads_quoted_cert_and_key_paths),
	    cmocka_unit_test(test_load_client_ca_relative_paths),
	    cmocka_unit_test(test_load_refuses_empty_client_ca),
	    cmocka_unit_test(test_load_refuses_mismatched_pair),
	    cmocka_unit_test(test_load_without_tls_has_no_tls_options),
	    cmocka_unit_test(test_load_rejects_non_bcrypt_hashes),
	    cmocka_unit_test(test_load_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
