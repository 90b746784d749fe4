/*
 * DOC: the global section
 *
 * `global:` holds what is process-wide: the site's name, worker threads, the connection cap,
 * the drain timeout on shutdown, logging and the admin interface. Every key has a default
 * (conf.h), so the whole section may be left out.
 *
 * `admin` has rules across its keys, checked once the mapping is read so that the order of the
 * keys does not matter: a TCP `listen` needs a `token_file` (writes over TCP are authenticated)
 * and, unless `allow_remote` is true, a loopback address; `token_file` and `allow_remote` without
 * `listen` would do nothing and are refused. The token file is not opened here (conf/ reads no
 * file but the configuration): lb/admin.c reads it at start.
 *
 * `state_file` names where lb/state_file.c keeps drains, overrides and health verdicts across
 * restarts (not opened here either: a missing file is the normal first start), `state_max_age`
 * how old a verdict may be and still be the starting state.
 *
 * `user` and `group` name who anylb runs as once set up (lb/privdrop.c). They are resolved
 * here, through the passwd and group databases, although that reads /etc/passwd (or asks NSS):
 * an unknown user is a mistake in the file and must come out of `anylb -t` with its line and
 * column, not as a failed start after the listeners are bound. `group` alone is refused: the
 * group follows the user (its primary group unless `group` says otherwise).
 */
#include "conf/internal.h"

#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CONF_ID_NAME_MAX 256        /* LOGIN_NAME_MAX; group names have no stricter bound */
#define CONF_ID_BUF_MAX  (1u << 20) /* getpwnam_r room: far above any real entry */

enum conf_global_key {
	CONF_GLOBAL_SITE,
	CONF_GLOBAL_WORKERS,
	CONF_GLOBAL_MAX_CONNECTIONS,
	CONF_GLOBAL_DRAIN_TIMEOUT,
	CONF_GLOBAL_ADMIN,
	CONF_GLOBAL_LOG,
	CONF_GLOBAL_ACCESS_LOG,
	CONF_GLOBAL_USER,
	CONF_GLOBAL_GROUP,
	CONF_GLOBAL_STATE_FILE,
	CONF_GLOBAL_STATE_MAX_AGE,
};

static const struct conf_key conf_global_keys[] = {
	[CONF_GLOBAL_SITE] = {"site", 0},
	[CONF_GLOBAL_WORKERS] = {"workers", 0},
	[CONF_GLOBAL_MAX_CONNECTIONS] = {"max_connections", 0},
	[CONF_GLOBAL_DRAIN_TIMEOUT] = {"drain_timeout", 0},
	[CONF_GLOBAL_ADMIN] = {"admin", 0},
	[CONF_GLOBAL_LOG] = {"log", 0},
	[CONF_GLOBAL_ACCESS_LOG] = {"access_log", 0},
	[CONF_GLOBAL_USER] = {"user", 0},
	[CONF_GLOBAL_GROUP] = {"group", 0},
	[CONF_GLOBAL_STATE_FILE] = {"state_file", 0},
	[CONF_GLOBAL_STATE_MAX_AGE] = {"state_max_age", 0},
};

enum conf_admin_key {
	CONF_ADMIN_ENABLED,
	CONF_ADMIN_SOCKET,
	CONF_ADMIN_LISTEN,
	CONF_ADMIN_ALLOW_REMOTE,
	CONF_ADMIN_TOKEN_FILE,
	CONF_ADMIN_REQUIRE_TOKEN,
};

static const char *const conf_require_token_names[] = {"writes", "all"};

static const struct conf_key conf_admin_keys[] = {
	[CONF_ADMIN_ENABLED] = {"enabled", 0},
	[CONF_ADMIN_SOCKET] = {"socket", 0},
	[CONF_ADMIN_LISTEN] = {"listen", 0},
	[CONF_ADMIN_ALLOW_REMOTE] = {"allow_remote", 0},
	[CONF_ADMIN_TOKEN_FILE] = {"token_file", 0},
	[CONF_ADMIN_REQUIRE_TOKEN] = {"require_token", 0},
};

/* 127.0.0.0/8 or ::1: where an unauthenticated GET may come from without allow_remote. */
static int conf_addr_is_loopback(const struct addr *a)
{
	static const struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;

	if (a->sa.sa_family == AF_INET)
		return (ntohl(a->in.sin_addr.s_addr) >> 24) == 127;
	if (a->sa.sa_family == AF_INET6)
		return memcmp(&a->in6.sin6_addr, &lo6, sizeof(lo6)) == 0;
	return 0;
}

static void conf_map_admin(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_admin *ad)
{
	const struct conf_node *key, *val, *listen_k = NULL, *listen_v = NULL;
	const struct conf_node *remote_k = NULL, *token_k = NULL, *require_k = NULL;
	char show[CONF_SHOW_MAX];
	int listen_bad = 0;

	ad->pos = conf_node_pos(k);
	if (conf_get_section(r, k, v) <= 0)
		return;
	for (key = conf_map_next(v, NULL, &val); key != NULL; key = conf_map_next(v, key, &val)) {
		int i = conf_key_find(
			r, key, "in 'global.admin'", conf_admin_keys, CONF_NKEYS(conf_admin_keys));
		if (i < 0)
			continue;
		switch ((enum conf_admin_key)i) {
		case CONF_ADMIN_ENABLED:
			conf_get_bool(r, key, val, &ad->enabled);
			break;
		case CONF_ADMIN_SOCKET:
			conf_get_socket_path(r, key, val, &ad->socket);
			break;
		case CONF_ADMIN_LISTEN:
			listen_k = key;
			listen_v = val;
			listen_bad = conf_get_addr(r, key, val, &ad->listen, &ad->listen_addr) < 0;
			break;
		case CONF_ADMIN_ALLOW_REMOTE:
			remote_k = key;
			conf_get_bool(r, key, val, &ad->allow_remote);
			break;
		case CONF_ADMIN_TOKEN_FILE:
			token_k = key;
			if (conf_get_string(r, key, val, CONF_PATH_TEXT_MAX, &ad->token_file) == 0)
				ad->token_file_pos = conf_node_pos(val);
			break;
		case CONF_ADMIN_REQUIRE_TOKEN:
			require_k = key;
			conf_get_enum(r, key, val, conf_require_token_names,
				CONF_NKEYS(conf_require_token_names), &ad->token_for_reads);
			break;
		}
	}
	if (listen_k == NULL) {
		/* Without a TCP listener these two would do nothing: say so rather than ignore. */
		if (token_k != NULL)
			conf_report_at_node(r, token_k,
				"'token_file' applies only with 'listen' (writes over TCP)");
		if (remote_k != NULL)
			conf_report_at_node(
				r, remote_k, "'allow_remote' applies only with 'listen'");
		if (require_k != NULL)
			conf_report_at_node(r, require_k,
				"'require_token' applies only with 'listen' (the unix socket needs "
				"none)");
		return;
	}
	if (listen_bad)
		return;
	if (!ad->allow_remote && !conf_addr_is_loopback(&ad->listen_addr))
		conf_report_node(r, listen_k, listen_v,
			"'listen' %s is not a loopback address (127.0.0.0/8 or ::1); set "
			"'allow_remote: true' to accept admin connections from elsewhere",
			conf_show(ad->listen, show, sizeof(show)));
	if (token_k == NULL)
		conf_report_at_node(r, listen_k,
			"'listen' needs a 'token_file': writes over TCP need its bearer token");
}

/* `auto` (0: one per online CPU) or 1..CONF_MAX_WORKERS. */
static void conf_map_workers(struct conf_report *r, const struct conf_node *k,
	const struct conf_node *v, struct conf_global *g)
{
	char desc[CONF_SHOW_MAX];
	const char *s;
	uint64_t n;

	g->workers_pos = conf_node_pos(k);
	if (conf_get_word(r, k, v, "'auto' or an integer", &s) < 0)
		return;
	if (strcmp(s, "auto") == 0) {
		g->workers = 0;
		return;
	}
	if (conf_parse_u64(s, &n) < 0) {
		conf_report_node(r, k, v, "'%s': expected 'auto' or an integer, got %s", k->str,
			conf_node_desc(v, desc, sizeof(desc)));
		return;
	}
	if (n < 1 || n > CONF_MAX_WORKERS) {
		conf_report_node(r, k, v, "'%s' must be 'auto' or between 1 and %d, got %llu",
			k->str, CONF_MAX_WORKERS, (unsigned long long)n);
		return;
	}
	g->workers = (unsigned)n;
}

/*
 * Looks name up in the passwd (is_user) or group database: 1 found (*id, and *gid the user's
 * primary group), 0 not there, -errno when the lookup itself failed.
 */
static int conf_lookup_id(const char *name, int is_user, unsigned *id, gid_t *gid)
{
	size_t cap = 1024;

	for (;;) {
		char *buf = malloc(cap);
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		int rc;

		if (buf == NULL)
			return -ENOMEM;
		if (is_user)
			rc = getpwnam_r(name, &pw, buf, cap, &pwp);
		else
			rc = getgrnam_r(name, &gr, buf, cap, &grp);
		if (rc == 0 && pwp != NULL) {
			*id = pw.pw_uid;
			*gid = pw.pw_gid;
		} else if (rc == 0 && grp != NULL) {
			*id = gr.gr_gid;
		}
		free(buf);
		if (rc == ERANGE && cap < CONF_ID_BUF_MAX) {
			cap *= 2;
			continue;
		}
		/* Not found is 0 with a NULL result; glibc also says ENOENT when a source is
		 * missing. */
		if (rc == 0 || rc == ENOENT || rc == ESRCH)
			return pwp != NULL || grp != NULL;
		return -rc;
	}
}

/* Resolves `user` and `group` once the section is read, whatever the order of the keys. */
static void conf_resolve_ids(struct conf_report *r, const struct conf_node *user_k,
	const struct conf_node *user_v, const struct conf_node *group_k,
	const struct conf_node *group_v, struct conf_global *g)
{
	char show[CONF_SHOW_MAX];
	unsigned id;
	gid_t gid;
	int rc;

	if (group_k != NULL && user_k == NULL) {
		conf_report_at_node(r, group_k, "'group' applies only with 'user'");
		return;
	}
	if (g->user == NULL)
		return; /* absent, or bad and reported */
	rc = conf_lookup_id(g->user, 1, &id, &gid);
	if (rc == 0)
		conf_report_node(r, user_k, user_v, "'user' %s is not a user on this system",
			conf_show(g->user, show, sizeof(show)));
	else if (rc < 0)
		conf_report_node(r, user_k, user_v, "'user' %s: cannot look it up: %s",
			conf_show(g->user, show, sizeof(show)), strerror(-rc));
	if (rc <= 0)
		return;
	g->uid = (uid_t)id;
	g->gid = gid;
	if (g->group == NULL)
		return;
	rc = conf_lookup_id(g->group, 0, &id, &gid);
	if (rc == 0)
		conf_report_node(r, group_k, group_v, "'group' %s is not a group on this system",
			conf_show(g->group, show, sizeof(show)));
	else if (rc < 0)
		conf_report_node(r, group_k, group_v, "'group' %s: cannot look it up: %s",
			conf_show(g->group, show, sizeof(show)), strerror(-rc));
	else
		g->gid = (gid_t)id;
}

void conf_map_global(struct conf_report *r, const struct conf_node *k, const struct conf_node *v,
	struct conf_global *g)
{
	const struct conf_node *val, *user_k = NULL, *user_v = NULL, *group_k = NULL;
	const struct conf_node *group_v = NULL;

	if (conf_get_section(r, k, v) <= 0)
		return;
	for (k = conf_map_next(v, NULL, &val); k != NULL; k = conf_map_next(v, k, &val)) {
		int key = conf_key_find(r, k, "in 'global'", conf_global_keys,
			sizeof(conf_global_keys) / sizeof(conf_global_keys[0]));
		if (key < 0)
			continue;
		switch ((enum conf_global_key)key) {
		case CONF_GLOBAL_SITE:
			free(g->site);
			g->site = NULL;
			conf_get_string(r, k, val, CONF_NAME_MAX, &g->site);
			break;
		case CONF_GLOBAL_WORKERS:
			conf_map_workers(r, k, val, g);
			break;
		case CONF_GLOBAL_MAX_CONNECTIONS:
			conf_get_uint(r, k, val, 1, CONF_MAX_CONNECTIONS, &g->max_connections);
			break;
		case CONF_GLOBAL_DRAIN_TIMEOUT:
			conf_get_duration(r, k, val, 0, &g->drain_timeout_ms);
			break;
		case CONF_GLOBAL_LOG:
			conf_map_log(r, k, val, g);
			break;
		case CONF_GLOBAL_ACCESS_LOG:
			conf_map_access_log(r, k, val, g);
			break;
		case CONF_GLOBAL_ADMIN:
			conf_map_admin(r, k, val, &g->admin);
			break;
		case CONF_GLOBAL_USER:
			user_k = k;
			user_v = val;
			g->user_pos = conf_node_pos(k);
			conf_get_string(r, k, val, CONF_ID_NAME_MAX, &g->user);
			break;
		case CONF_GLOBAL_GROUP:
			group_k = k;
			group_v = val;
			if (g->user_pos.line == 0)
				g->user_pos = conf_node_pos(k);
			conf_get_string(r, k, val, CONF_ID_NAME_MAX, &g->group);
			break;
		case CONF_GLOBAL_STATE_FILE:
			free(g->state_file);
			g->state_file = NULL;
			conf_get_string(r, k, val, CONF_PATH_TEXT_MAX, &g->state_file);
			break;
		case CONF_GLOBAL_STATE_MAX_AGE:
			conf_get_duration(r, k, val, 0, &g->state_max_age_ms);
			break;
		}
	}
	conf_resolve_ids(r, user_k, user_v, group_k, group_v, g);
	conf_log_finish(r, g);
}

void conf_global_keys_each(conf_key_cb cb, void *arg)
{
	conf_keys_table(cb, arg, "global", conf_global_keys, CONF_NKEYS(conf_global_keys));
	conf_log_keys_each(cb, arg);
	conf_keys_table(cb, arg, "global.admin", conf_admin_keys, CONF_NKEYS(conf_admin_keys));
}
