// SPDX-License-Identifier: MIT
/*
 * Unit tests of the --web.config.file parser (exporter-toolkit format).
 * Not in UNIT_OBJS: built with user/web/web_config.c -lmicrohttpd -lcrypt.
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
	assert_non_null(strstr(err, "line 2"));
}

static void test_whitespace_trimmed(void **state)
{
	struct web_config *w;

	(void)state;
	w = parse_ok("basic_auth_users:\n"
		     "\talice:\t  " HASH_ALICE "  \t\n"
		     "    bob:   '" HASH_BOB "'   \n");
	assert_string_equal(web_config_user_hash(w, "alice"), HASH_ALICE);
	assert_string_equal(web_config_user_hash(w, "bob"), HASH_BOB);
	web_config_free(w);
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
		     "  alice: not-a-user\n"
		     "basic_auth_users:\n"
		     "  bob: " HASH_BOB "\n"
		     "tls_server_config:\n"
		     "  cert_file: a.crt\n"
		     "  key_file: a.key\n"
		     "  min_version: TLS12\n"
		     "http_server_config:\n"
		     "  headers:\n"
		     "    carol: not-a-user\n");
	assert_null(web_config_user_hash(w, "alice"));
	assert_null(web_config_user_hash(w, "carol"));
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
		  "line 3");
}

/* A misspelt section must not quietly drop the password or the TLS. */
static void test_unknown_top_level_key_is_error(void **state)
{
	(void)state;
	parse_bad("basic_auth_user:\n"
		  "  alice: " HASH_ALICE "\n",
		  "line 1: unknown or unsupported key \"basic_auth_user\"");
	parse_bad("# TLS\n"
		  "\n"
		  "tls_server_confg:\n"
		  "  cert_file: a.crt\n"
		  "  key_file: a.key\n",
		  "line 3: unknown or unsupported key \"tls_server_confg\"");
	parse_bad("  alice: " HASH_ALICE "\n", "line 1: unknown or unsupported key \"alice\"");
}

static void test_unknown_tls_key_is_error(void **state)
{
	(void)state;
	parse_bad("tls_server_config:\n"
		  "  cert: inline-pem\n"
		  "  key: inline-pem\n",
		  "line 2: unknown or unsupported key \"cert\"");
	parse_bad("tls_server_config:\n"
		  "  cert_file: a.crt\n"
		  "  key_flie: a.key\n",
		  "line 3: unknown or unsupported key \"key_flie\"");
	parse_bad("tls_server_config:\n"
		  "  client_allowed_sans:\n"
		  "    - x\n",
		  "client certificate authentication is not supported");
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
 * both ways YAML allows) that hold cert_pem and key_pem; the files are gone
 * when it returns, as the PEM is read at load. */
static struct web_config *load_tls(const char *cert_pem, const char *key_pem, char *err,
				   size_t size)
{
	char *cert_path = write_temp(cert_pem), *key_path = write_temp(key_pem), *yml_path;
	struct web_config *w;
	char yml[512];

	snprintf(yml, sizeof(yml),
		 "tls_server_config:\n  cert_file: \"%s\"\n  key_file: '%s'\n"
		 "basic_auth_users:\n  alice: " HASH_ALICE "\n",
		 cert_path, key_path);
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
	struct MHD_OptionItem opts[3];
	char err[256] = "";
	struct web_config *w;

	(void)state;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		skip();
	w = load_tls(cert, key, err, sizeof(err));
	if (!w)
		fail_msg("load failed: %s", err);
	assert_true(web_config_tls_options(w, opts, 3));
	assert_int_equal(opts[0].option, MHD_OPTION_HTTPS_MEM_CERT);
	assert_string_equal(opts[0].ptr_value, cert);
	assert_int_equal(opts[1].option, MHD_OPTION_HTTPS_MEM_KEY);
	assert_string_equal(opts[1].ptr_value, key);
	assert_int_equal(opts[2].option, MHD_OPTION_END);
	assert_false(web_config_tls_options(w, opts, 2));
	web_config_free(w);
}

/* A key of another certificate is refused at load, with a line saying so. */
static void test_load_refuses_mismatched_pair(void **state)
{
	char err[256] = "";
	struct web_config *w;

	(void)state;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		skip();
	w = load_tls(cert, other_key, err, sizeof(err));
	web_config_free(w);
	assert_null(w);
	assert_non_null(strstr(err, "not a matching PEM pair"));
}

static void test_load_without_tls_has_no_tls_options(void **state)
{
	struct MHD_OptionItem opts[3];
	char err[256] = "";
	struct web_config *w;
	char *yml_path;

	(void)state;
	yml_path = write_temp("basic_auth_users:\n  alice: " HASH_ALICE "\n");
	w = web_config_load(yml_path, err, sizeof(err));
	if (!w)
		fail_msg("load failed: %s", err);
	assert_false(web_config_tls_options(w, opts, 3));
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
	    cmocka_unit_test(test_load_reads_quoted_cert_and_key_paths),
	    cmocka_unit_test(test_load_refuses_mismatched_pair),
	    cmocka_unit_test(test_load_without_tls_has_no_tls_options),
	    cmocka_unit_test(test_load_rejects_non_bcrypt_hashes),
	    cmocka_unit_test(test_load_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
