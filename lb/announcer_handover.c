/*
 * DOC: the announcer across a binary upgrade
 *
 * The announcement changes hands without a withdrawal. Old side, in the upgrade's order
 * (lb/upgrade.c):
 *
 *   hand_over   the successor loaded its configuration: the announcer describes itself, the
 *               mechanism's line and every policy (bgp/policy.h anycast_saved), and goes on
 *               deciding and applying: until the successor serves, this process is the one
 *               that must fail closed (a backend that dies now is withdrawn now);
 *   reassert    the upgrade failed: the successor may have applied something before it went,
 *               so every decision is applied again (idempotent: an address that is there, a
 *               protocol that is enabled);
 *   handed_over the successor serves: nothing is applied any more, the mechanism lets go
 *               without withdrawing (interface: its watchdog stops, its queue goes, the
 *               successor's holds the interface), and the shutdown after the drain withdraws
 *               nothing.
 *
 * Between the successor's first evaluation and READY (milliseconds) both apply; they decide from
 * the same health (the snapshot), and the successor's own checks correct it from there.
 *
 * New side, before any thread: announcer_new() reads the mechanism's line (interface mode
 * attaches to the old interface, checked by index), then announcer_adopt() sets each service's
 * policy as the old one had it and marks every decision for re-assertion at the first
 * evaluation (what the old process decided after it described itself is then made true again).
 * Until every listener of a service counts as bound (workers start after the announcer) or
 * ADOPT_GRACE_MS has passed, "a listener is not bound" does not withdraw an adopted service:
 * the sockets were handed over, not bound anew.
 *
 * The text, one line each, tokens separated by one space:
 *
 *   anycast 1 MECHANISM...                     "interface NAME ifindex N" or "bird_protocol"
 *   service NAME STATE OVERRIDE APPLIED HEALTHY WITHDREW HEALTHY_FOR STABLE_FOR WITHDREW_AGO
 *           DELAY FLAPS REASON...              (one line; numbers decimal, times in ms)
 *   ladder NAME STEP AGE WINDOW DRAIN_TIMEOUT  a drain ladder in progress (bgp/ladder.h), after
 *                                              its service's line; none at ANNOUNCED
 *
 * An older successor skips a ladder line as unreadable (logged) and serves announced: the
 * operator drains again. A successor carries the ladder on where it was, its times included.
 *
 * A line that does not parse is skipped with a log line: that service starts withdrawn, as
 * after a cold start, which is the safe side.
 */
#include "lb/announcer_impl.h"

#include "lib/log.h"
#include "lib/strbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HANDOVER_VERSION 1
/* How long a successor's adopted service waits for its listeners to count as bound. */
#define ADOPT_GRACE_MS 5000
#define LINE_MAX_BYTES 512 /* of one line read back */

/* A reason on one line: no newline can come from the policy, but never trust a format. */
static void one_line(char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

char *announcer_hand_over(struct announcer *a, size_t *len)
{
	struct strbuf t = {0};
	char mech[128];

	*len = 0;
	if (a == NULL)
		return NULL;
	/* bird_protocol: the protocols are BIRD's, nothing to describe but the mode. */
	if (a->mech == NULL || a->mech->ops->describe == NULL ||
		a->mech->ops->describe(a->mech, mech, sizeof(mech)) < 0)
		snprintf(mech, sizeof(mech), "%s",
			a->bgp->announce == CONF_ANNOUNCE_BIRD_PROTOCOL ? "bird_protocol" : "none");
	strbuf_printf(&t, "anycast %d %s\n", HANDOVER_VERSION, mech);
	pthread_mutex_lock(&a->lock);
	/* The ages were taken at the last publish: older by now. */
	uint64_t now = a->now_ms(a->now_arg);
	uint64_t late = now > a->published_ms ? now - a->published_ms : 0;
	for (size_t i = 0; i < a->nsvcs; i++) {
		struct anycast_saved s = a->svcs[i].saved;
		one_line(s.reason);
		strbuf_printf(&t,
			"service %s %d %d %d %d %d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			" %u %s\n",
			a->svcs[i].name, (int)s.state, (int)s.override, (int)s.applied, s.healthy,
			s.withdrew, s.healthy_for_ms + late, s.stable_for_ms + late,
			s.withdrew ? s.withdrew_ago_ms + late : 0, s.delay_ms, s.flaps, s.reason);
		const struct ladder *l = &a->svcs[i].lad_saved;
		if (l->step != LADDER_ANNOUNCED)
			strbuf_printf(&t, "ladder %s %d %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
				a->svcs[i].name, (int)l->step,
				(now > l->since_ms ? now - l->since_ms : 0), l->window_ms,
				l->drain_timeout_ms);
	}
	pthread_mutex_unlock(&a->lock);
	return strbuf_take(&t, len);
}

void announcer_reassert(struct announcer *a)
{
	if (a == NULL || a->loop == NULL || atomic_load(&a->handed_over))
		return;
	pthread_mutex_lock(&a->lock);
	a->failed_upgrade = 1;
	pthread_mutex_unlock(&a->lock);
	ev_async_send(a->loop, &a->wake);
}

void announcer_handed_over(struct announcer *a)
{
	if (a == NULL)
		return;
	atomic_store(&a->handed_over, 1);
	if (a->mech != NULL && a->mech->ops->handed_over != NULL)
		a->mech->ops->handed_over(a->mech);
	log_info("bgp: the announcement is the successor's now: this process withdraws nothing");
}

int announcer_handover_ifindex(const char *text, const char *interface)
{
	char name[64];
	int version, ifindex;

	if (text == NULL || interface == NULL ||
		sscanf(text, "anycast %d interface %63s ifindex %d", &version, name, &ifindex) !=
			3 ||
		version != HANDOVER_VERSION || strcmp(name, interface) != 0 || ifindex <= 0)
		return 0;
	return ifindex;
}

/* One `service` line (up to its '\n') into name and s; 0 or -1. */
static int parse_service(const char *text, char *name, struct anycast_saved *s)
{
	int state, override, applied, off = 0;
	char line[LINE_MAX_BYTES];
	const char *eol = strchr(text, '\n');
	size_t n = eol != NULL ? (size_t)(eol - text) : strlen(text);

	memset(s, 0, sizeof(*s));
	if (n >= sizeof(line))
		return -1;
	memcpy(line, text, n);
	line[n] = '\0'; /* sscanf would read on across lines */
	if (sscanf(line,
		    "service %64s %d %d %d %d %d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		    " %u %n",
		    name, &state, &override, &applied, &s->healthy, &s->withdrew,
		    &s->healthy_for_ms, &s->stable_for_ms, &s->withdrew_ago_ms, &s->delay_ms,
		    &s->flaps, &off) != 11 ||
		off == 0)
		return -1;
	s->state = (enum anycast_state)state; /* anycast_adopt clamps */
	s->override = (enum anycast_override) override;
	s->applied = (enum anycast_override)applied;
	snprintf(s->reason, sizeof(s->reason), "%s", line + off);
	return 0;
}

/* One `ladder` line: its service's ladder goes on where the old process had it. */
static void adopt_ladder(struct announcer *a, const char *text, uint64_t now)
{
	char name[CONF_NAME_MAX + 1];
	int step;
	uint64_t age, window, timeout;

	if (sscanf(text, "ladder %64s %d %" SCNu64 " %" SCNu64 " %" SCNu64, name, &step, &age,
		    &window, &timeout) != 5) {
		log_warn("bgp: a drain ladder of the announcement handed over is unreadable: "
			 "its service is announced");
		return;
	}
	struct ann_svc *as = ann_find_svc(a, name);
	if (as == NULL)
		return;
	if (ladder_restore(&as->lad, step, age, window, timeout, now) < 0) {
		log_warn("service %s: the drain ladder handed over has an unknown step %d: "
			 "announced",
			name, step);
		return;
	}
	/* The old process may have turned the de-preferred source on: off with the next change. */
	as->drain_used = step != LADDER_ANNOUNCED;
	int level = ladder_level(&as->lad, anycast_announced(&as->pol));
	as->applied = level == ANNOUNCE_DEPREFERRED && !announcer_can_deprefer(a) ? 0 : level;
	log_info("service %s: drain ladder %s taken over from the old process", name,
		ladder_step_name(as->lad.step));
}

size_t announcer_adopt(struct announcer *a, const char *text)
{
	int version = 0;
	char mech[32] = "";
	size_t adopted = 0;
	uint64_t now;

	if (a == NULL || text == NULL)
		return 0;
	if (sscanf(text, "anycast %d %31s", &version, mech) != 2 || version != HANDOVER_VERSION) {
		log_warn("bgp: the announcement handed over is unreadable: every service starts "
			 "withdrawn");
		return 0;
	}
	const char *want =
		a->bgp->announce == CONF_ANNOUNCE_INTERFACE ? "interface" : "bird_protocol";
	if (strcmp(mech, want) != 0) {
		log_warn("bgp: the old process announced through %s, this one through %s: every "
			 "service starts withdrawn",
			mech, want);
		return 0;
	}
	now = a->now_ms(a->now_arg);
	for (const char *p = strchr(text, '\n'); p != NULL && p[1] != '\0';
		p = strchr(p + 1, '\n')) {
		char name[CONF_NAME_MAX + 1];
		struct anycast_saved s;
		if (strncmp(p + 1, "ladder ", 7) == 0) {
			adopt_ladder(a, p + 1, now);
			continue;
		}
		if (parse_service(p + 1, name, &s) < 0) {
			const char *eol = strchr(p + 1, '\n');
			int n = eol != NULL ? (int)(eol - p - 1) : (int)strlen(p + 1);
			log_warn("bgp: a service of the announcement handed over is unreadable "
				 "(%.*s): it starts withdrawn",
				n < 60 ? n : 60, p + 1);
			continue;
		}
		struct ann_svc *as = ann_find_svc(a, name);
		if (as == NULL)
			continue; /* not in this configuration */
		anycast_adopt(&as->pol, &s, now);
		as->applied = anycast_announced(&as->pol);
		adopted++;
	}
	if (adopted > 0) {
		a->reassert = 1;
		a->adopt_until_ms = now + ADOPT_GRACE_MS;
	}
	ann_publish(a);
	log_info("bgp: %zu of %zu services' announcement taken over", adopted, a->nsvcs);
	return adopted;
}
