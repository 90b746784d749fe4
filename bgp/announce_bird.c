/*
 * DOC: the bird_protocol mechanism
 *
 * A service's prefixes live in a BIRD static protocol of bird.conf, `disabled yes` there; the
 * mechanism switches it with `enable NAME` / `disable NAME` over the control socket. BIRD keeps
 * that only until it restarts or runs `configure` (which goes back to bird.conf): the announcer
 * re-sends every decision when the client reconnects (kept_by_bird), and its poll of `show
 * protocols` repairs a protocol whose state differs from the decision (matches).
 */
#include "bgp/announce.h"

#include "bgp/bird_client.h"
#include "bgp/bird_reply.h"
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bird_mech {
	struct announce_mech m;
	struct bird_client *bc;
};

/* One command in flight: for its log line and the caller's done. */
struct bird_cmd {
	const struct announce_target *t;
	const char *suffix; /* "" or ANNOUNCE_DRAIN_SUFFIX: which of the two protocols */
	void (*done)(void *arg);
	void *arg;
};

static void cmd_done(void *arg, const struct bird_reply *r)
{
	struct bird_cmd *bc = arg;

	if (r == NULL)
		log_warn("service %s: BIRD went away before confirming protocol %s%s",
			bc->t->service, bc->t->bird_protocol, bc->suffix);
	else if (r->code >= 8000)
		log_error("service %s: BIRD refused to switch protocol %s%s: %s%s", bc->t->service,
			bc->t->bird_protocol, bc->suffix, r->text,
			bc->suffix[0] != '\0' ? " (the drain ladder needs this twin in bird.conf, "
						"see examples/bird.conf)"
					      : "");
	if (bc->done != NULL)
		bc->done(bc->arg);
	free(bc);
}

/* One enable/disable of t's protocol (drain: of its _drain one); done with the answer. */
static int bird_send(struct bird_mech *bm, const struct announce_target *t, int enable, int drain,
	void (*done)(void *arg), void *arg)
{
	struct bird_cmd *c = malloc(sizeof(*c));
	char cmd[160];

	if (c == NULL) {
		log_error("service %s: out of memory switching protocol %s", t->service,
			t->bird_protocol);
		return -ENOMEM;
	}
	*c = (struct bird_cmd){
		.t = t, .suffix = drain ? ANNOUNCE_DRAIN_SUFFIX : "", .done = done, .arg = arg};
	snprintf(cmd, sizeof(cmd), "%s %s%s", enable ? "enable" : "disable", t->bird_protocol,
		drain ? ANNOUNCE_DRAIN_SUFFIX : "");
	int rc = bird_client_send(bm->bc, cmd, cmd_done, c);
	if (rc < 0) {
		/* Not connected: the reconnect re-asserts every decision. */
		free(c);
		return rc;
	}
	return 1;
}

static int bird_apply(struct announce_mech *m, const struct announce_target *t, int announce,
	void (*done)(void *arg), void *arg)
{
	struct bird_mech *bm = (struct bird_mech *)m;
	int level = announce & ANNOUNCE_LEVEL_MASK, rc;

	switch (level) {
	case ANNOUNCE_DEPREFERRED:
		/* Make before break: the de-preferred source first. */
		rc = bird_send(bm, t, 1, 1, NULL, NULL);
		return rc < 0 ? rc : bird_send(bm, t, 0, 0, done, arg);
	case ANNOUNCE_ON:
		if (!(announce & ANNOUNCE_DRAIN_OFF))
			return bird_send(bm, t, 1, 0, done, arg);
		rc = bird_send(bm, t, 1, 0, NULL, NULL);
		return rc < 0 ? rc : bird_send(bm, t, 0, 1, done, arg);
	default:
		if (!(announce & ANNOUNCE_DRAIN_OFF))
			return bird_send(bm, t, 0, 0, done, arg);
		rc = bird_send(bm, t, 0, 0, NULL, NULL);
		return rc < 0 ? rc : bird_send(bm, t, 0, 1, done, arg);
	}
}

/* v's protocol name, its state copied to seen: 1 up, 0 down, -1 not in the table. */
static int proto_up(
	const struct bird_protocol *v, size_t n, const char *name, char *seen, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) != 0)
			continue;
		snprintf(seen, cap, "%s", v[i].state);
		return strcmp(v[i].state, "down") != 0;
	}
	return -1;
}

static int bird_matches(const struct announce_target *t, int announced,
	const struct bird_protocol *v, size_t n, char *seen, size_t cap)
{
	int level = announced & ANNOUNCE_LEVEL_MASK;
	int up = proto_up(v, n, t->bird_protocol, seen, cap);

	if (up < 0)
		return -1;
	if (up != (level == ANNOUNCE_ON))
		return 0;
	if (level != ANNOUNCE_DEPREFERRED)
		return 1;
	char drain[128], dseen[64];
	snprintf(drain, sizeof(drain), "%s%s", t->bird_protocol, ANNOUNCE_DRAIN_SUFFIX);
	int dup = proto_up(v, n, drain, dseen, sizeof(dseen));
	return dup < 0 ? -1 : dup;
}

static void bird_free(struct announce_mech *m)
{
	free(m);
}

static const struct announce_ops bird_ops = {
	.name = "bird_protocol",
	.apply = bird_apply,
	.kept_by_bird = 1,
	.can_deprefer = 1,
	.matches = bird_matches,
	.watchdog_fd = NULL,
	.rearm = NULL,
	.free = bird_free,
};

struct announce_mech *announce_bird_new(struct bird_client *bc)
{
	struct bird_mech *bm = calloc(1, sizeof(*bm));

	if (bm == NULL)
		return NULL;
	bm->m.ops = &bird_ops;
	bm->bc = bc;
	return &bm->m;
}
