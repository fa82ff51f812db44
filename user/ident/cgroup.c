// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <string.h>

#include "core/ascii.h"
#include "ident/cgroup.h"

#define UUID_LEN 36
#define ID_LEN	 64

struct span {
	const char *p;
	size_t n;
};

static bool starts(struct span s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.n >= n && !memcmp(s.p, prefix, n);
}

static bool ends(struct span s, const char *suffix)
{
	size_t n = strlen(suffix);

	return s.n >= n && !memcmp(s.p + s.n - n, suffix, n);
}

static bool all_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(p[i]) && !(p[i] >= 'a' && p[i] <= 'f'))
			return false;
	return true;
}

/* A pod UID, dashed (cgroupfs) or with underscores (systemd slices).
 * out is written only when the whole of it is one: a UID half read would
 * stand for the pod and keep a later segment from naming it. */
static bool take_uid(const char *p, size_t n, char out[CGROUP_POD_UID_MAX])
{
	char uid[CGROUP_POD_UID_MAX];

	if (n != UUID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i] == '_' ? '-' : p[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? c != '-' : !all_hex(&c, 1))
			return false;
		uid[i] = c;
	}
	uid[n] = '\0';
	memcpy(out, uid, sizeof(uid));
	return true;
}

/* "pod<uid>" (cgroupfs) or "kubepods[-qos]-pod<uid>.slice" (systemd). */
static bool pod_segment(struct span s, char out[CGROUP_POD_UID_MAX])
{
	const char *at;

	if (starts(s, "pod"))
		return take_uid(s.p + 3, s.n - 3, out);
	if (!starts(s, "kubepods") || !ends(s, ".slice"))
		return false;
	at = memmem(s.p, s.n, "-pod", 4);
	return at && take_uid(at + 4, s.p + s.n - strlen(".slice") - (at + 4), out);
}

static const struct {
	const char *prefix;
	enum container_runtime runtime;
} scoped[] = {
    {"cri-containerd-", RUNTIME_CONTAINERD},
    {"crio-", RUNTIME_CRIO},
    {"docker-", RUNTIME_DOCKER},
    {"libpod-", RUNTIME_PODMAN},
};

/* "<runtime>-<id>[.scope]"; conmon's own scopes (crio-conmon-<id>,
 * libpod-conmon-<id>) do not match: their id is not hex. */
static enum container_runtime scoped_id(struct span s, char out[CGROUP_CONTAINER_ID_MAX])
{
	if (ends(s, ".scope"))
		s.n -= strlen(".scope");
	for (size_t i = 0; i < sizeof(scoped) / sizeof(scoped[0]); i++) {
		size_t n = strlen(scoped[i].prefix);

		if (s.n == n + ID_LEN && starts(s, scoped[i].prefix) && all_hex(s.p + n, ID_LEN)) {
			memcpy(out, s.p + n, ID_LEN);
			out[ID_LEN] = '\0';
			return scoped[i].runtime;
		}
	}
	return RUNTIME_NONE;
}

/* A bare id: containerd's under kubepods (cgroupfs driver, k3s), docker's
 * under /docker. */
static enum container_runtime bare_id(struct span s, bool in_pod, bool in_docker,
				      char out[CGROUP_CONTAINER_ID_MAX])
{
	if (s.n != ID_LEN || !all_hex(s.p, ID_LEN) || !(in_pod || in_docker))
		return RUNTIME_NONE;
	memcpy(out, s.p, ID_LEN);
	out[ID_LEN] = '\0';
	return in_pod ? RUNTIME_CONTAINERD : RUNTIME_DOCKER;
}

/* The characters of a systemd unit's name: a process may name cgroups
 * it was delegated anything, and the unit becomes the service label. */
static bool unit_chars(struct span s)
{
	for (size_t i = 0; i < s.n; i++)
		if (!is_alnum(s.p[i]) && !(s.p[i] && strchr(":-_.\\@", s.p[i])))
			return false;
	return true;
}

static void unit_segment(struct span s, struct cgroup_ident *id)
{
	if (s.n > strlen(".service") && ends(s, ".service") && s.n < CGROUP_UNIT_MAX &&
	    !starts(s, "user@") && unit_chars(s)) {
		memcpy(id->unit, s.p, s.n);
		id->unit[s.n] = '\0';
	}
}

static void parse_path(const char *p, size_t n, struct cgroup_ident *id)
{
	const char *end = p + n;
	bool in_docker = false;

	memset(id, 0, sizeof(*id));
	while (p < end) {
		const char *slash = memchr(p, '/', end - p);
		struct span s = {p, (slash ? slash : end) - p};
		enum container_runtime r;

		p = slash ? slash + 1 : end;
		if (s.n == 0 || (s.n == 2 && !memcmp(s.p, "..", 2)))
			continue;
		if (!id->pod_uid[0] && pod_segment(s, id->pod_uid))
			continue;
		r = scoped_id(s, id->container_id);
		if (r == RUNTIME_NONE)
			r = bare_id(s, id->pod_uid[0], in_docker, id->container_id);
		if (r != RUNTIME_NONE) {
			id->runtime = r;
			return; /* what is below a container is the container's own */
		}
		in_docker = s.n == 6 && !memcmp(s.p, "docker", 6);
		unit_segment(s, id);
	}
}

static int rank(const struct cgroup_ident *id)
{
	return (id->container_id[0] ? 4 : 0) + (id->pod_uid[0] ? 2 : 0) + (id->unit[0] ? 1 : 0);
}

void cgroup_ident_parse(const char *text, size_t len, struct cgroup_ident *id)
{
	const char *end = text + len;
	struct cgroup_ident line;

	memset(id, 0, sizeof(*id));
	while (text < end) {
		const char *nl = memchr(text, '\n', end - text);
		const char *stop = nl ? nl : end;
		const char *c1 = memchr(text, ':', stop - text);
		const char *c2 = c1 ? memchr(c1 + 1, ':', stop - c1 - 1) : NULL;

		if (c2) {
			parse_path(c2 + 1, stop - c2 - 1, &line);
			if (rank(&line) > rank(id))
				*id = line;
		}
		text = nl ? nl + 1 : end;
	}
}

const char *container_runtime_name(enum container_runtime r)
{
	static const char *const names[] = {[RUNTIME_NONE] = "",
					    [RUNTIME_CONTAINERD] = "containerd",
					    [RUNTIME_CRIO] = "cri-o",
					    [RUNTIME_DOCKER] = "docker",
					    [RUNTIME_PODMAN] = "podman"};

	return r < sizeof(names) / sizeof(names[0]) ? names[r] : "";
}
