/*
 * DOC: the state snapshot
 *
 * What a process knows that its configuration does not: operator drains, maintenance, runtime
 * weights and anycast overrides, the health verdicts with each check's rise/fall position, and the
 * counters that /metrics exposes. A cold restart reads it back from global.state_file
 * (lb/state_file.c: operator state and young verdicts); the binary upgrade hands the whole of it to
 * its successor (counters included, so that none goes backwards).
 *
 * The format, version 7 (versions 1 to 6 are read too: version 1 has no `transient` records,
 * the `counters` records of 1 and 2 end before the fields marked [3], only versions 4 and up
 * have `runtime` records and the state `maint`, only 5 and up `counters more`, only 6 and up
 * `added` and `removed`, only 7 `drained`): text, one record per line, tokens separated by one
 * space, every line ending in '\n' and at most SNAP_MAX_LINE bytes, the whole at most
 * SNAP_MAX_BYTES. Each record is one line, shown folded here:
 *
 *   anylb-state 7
 *   written UNIX_MS
 *   service NAME override none|withdraw|announce|-
 *   drained NAME                                                               [7]
 *   backend SERVICE ADDRESS drain 0|1 state STATE verdict UNIX_MS
 *       live H/RISE/FALL ready H/RISE/FALL
 *   transient SERVICE ADDRESS ready_for MS|- outlier ok|ejected|trial
 *       failures N ejections N left MS
 *   runtime SERVICE ADDRESS maint 0|1 weight N|- file_weight N
 *   added SERVICE ADDRESS weight N zone ZONE|-                                 [6]
 *   removed SERVICE ADDRESS                                                    [6]
 *   counters process accept_pauses N limit_pauses N
 *   counters service NAME accepted N refused_limit N no_backend N retries N results N,...
 *       [3] duration_hist N,... duration_sum_us N
 *   counters more NAME KEY N KEY N ...                                        [5]
 *   counters backend SERVICE ADDRESS sessions N connect_fails N ejections N closed_dead N
 *       bytes_in N bytes_out N connect_hist N,... connect_sum_us N check_ok N,N
 *       check_failed N,N check_duration_us N,N
 *       [3] state_changes N check_hist_live N,... check_hist_ready N,...
 *   end HASH
 *
 * `transient`: what only an upgrade's successor takes (SNAP_TRANSIENT): how long the backend has
 * been ready (its slow-start ramp; `-` when not ready) and its entry in the outlier detector,
 * with the time its ejection still runs; ages at `written`.
 * `counters more` [5]: the service's other counters as KEY N pairs (PROXY header errors, SNI
 * routing, allow/deny and rate_limit refusals, the queue's, a udp service's datagrams and flows),
 * after its `counters service` record; a key this anylb does not know is skipped, so a newer one's
 * file still reads.
 * `runtime` [4]: the operator's maintenance and runtime weight (`-`: none) with the file's
 * weight that runtime weight replaced, written only for a backend that has either; a restart
 * keeps the runtime weight only while the file still says file_weight (as a reload does).
 * `added`, `removed` [6]: the runtime backends (conf/overlay.h) the generation was built with:
 * a start reads them before it builds its first generation, so that the file's configuration
 * plus them is what runs, as before the restart; they name no record of their own.
 * `drained` [7]: the operator started the drain ladder of the service (drain-site, withdraw
 * --graceful: bgp/ladder.h) and has not undrained it; a restart starts it withdrawn, so that a
 * site drained for maintenance stays out of the anycast set until `undrain-site`.
 * `override -`: the service has no anycast. `verdict 0`: no check has run, nothing to restore;
 * else the wall-clock time of the last check run, which is how old the verdict is. live and
 * ready are the liveness and readiness counters (health/risefall.h) with the rise and fall they
 * count against. HASH is 16 hex digits of lib/hash.c's hash_bytes(seed 0) over every byte
 * before the `end` line, and nothing may follow that line: a truncated file never parses.
 * Names and addresses are 1..64 printable ASCII bytes without a space. Records appear after the
 * service or backend they name; each at most once.
 *
 * snapshot_take(), _format() and _parse() are pure (take reads the runtime's state under the
 * service locks); snapshot_apply() feeds what it restores through lb/backend.c, as the other
 * events go. Overrides are the announcer's: they come and go through callbacks, so this file
 * does not need one.
 */
#ifndef ANYLB_LB_SNAPSHOT_H
#define ANYLB_LB_SNAPSHOT_H

#include "conf/overlay.h"
#include "lb/runtime.h"

#include <stddef.h>
#include <stdint.h>

#define SNAP_VERSION     7           /* reads 1 to 6 too (see above) */
#define SNAP_NAME_MAX    64          /* bytes of a service name or backend address */
#define SNAP_MAX_LINE    2048        /* bytes of one line, its '\n' included */
#define SNAP_MAX_BYTES   (64u << 20) /* bytes of a whole snapshot */
#define SNAP_NO_OVERRIDE (-1)        /* the service has no anycast */

/* What snapshot_apply() restores. */
#define SNAP_OPERATOR  1u /* drains, maintenance, runtime weights and overrides */
#define SNAP_HEALTH    2u /* verdicts younger than max_age */
#define SNAP_COUNTERS  4u /* counters are added to the runtime's */
#define SNAP_TRANSIENT 8u /* slow-start ramps and outlier entries (the upgrade's) */

/* The `counters more` record's counters [5], by name: snapshot.c's table says which. */
#define SNAP_MORE_N 20

struct snap_service_counters {
	uint64_t accepted, refused_limit, no_backend, retries;
	uint64_t results[LB_RESULT_COUNT];
	uint64_t duration_hist[LB_SESSION_BUCKETS], duration_sum_us; /* 0 from version 2 */
	uint64_t more[SNAP_MORE_N];                                  /* 0 before version 5 */
};

struct snap_backend_counters {
	uint64_t sessions, connect_fails, ejections, closed_dead, bytes_in, bytes_out;
	uint64_t connect_hist[LB_CONNECT_BUCKETS];
	uint64_t connect_sum_us;
	uint64_t check_ok[2], check_failed[2], check_duration_us[2]; /* enum backend_check */
	uint64_t state_changes;                                      /* 0 from version 2 */
	uint64_t check_hist[2][LB_CHECK_BUCKETS];
};

struct snap_service {
	char name[SNAP_NAME_MAX + 1];
	int override; /* enum anycast_override, or SNAP_NO_OVERRIDE */
	int drained;  /* the drain ladder past announced (anycast services only) */
	int have_counters;
	struct snap_service_counters c;
};

struct snap_backend {
	char service[SNAP_NAME_MAX + 1];
	char address[SNAP_NAME_MAX + 1];
	int draining;     /* the operator's drain */
	int have_runtime; /* a `runtime` record: maint or a runtime weight */
	int maint;        /* the operator's maintenance */
	int weight_set;   /* a runtime weight: weight, replacing weight_file */
	unsigned weight, weight_file;
	int state;                       /* enum backend_state when written (informative) */
	uint64_t verdict_ms;             /* unix ms of the last check run; 0: none */
	struct bh_saved_check checks[2]; /* enum backend_check: liveness, readiness */
	int have_counters;
	struct snap_backend_counters c;
	/* What only a successor takes (SNAP_TRANSIENT): the ramp and the outlier entry, as ages
	 * at written_ms; ready_for_ms UINT64_MAX when not ready. */
	int have_transient;
	uint64_t ready_for_ms;
	struct outlier_saved outlier;
};

/* A snapshot; services sorted by name, backends by (service, address). */
struct snapshot {
	uint64_t written_ms; /* unix ms */
	struct snap_service *services;
	size_t nservices;
	struct snap_backend *backends;
	size_t nbackends;
	int have_process;
	uint64_t accept_pauses, limit_pauses;
	struct overlay overlay; /* `added` and `removed`: the runtime backends */
};

/* The override of the named service (enum anycast_override), or SNAP_NO_OVERRIDE; *drained
 * whether its drain ladder is past announced (or asked to be). */
typedef int (*snapshot_override_get)(void *arg, const char *service, int *drained);
/* Sets the named service's override (none: leaves it) and, when drained, starts its drain ladder
 * withdrawn; returns 0 or -errno. */
typedef int (*snapshot_override_set)(void *arg, const char *service, int override, int drained);

/*
 * Takes rt's state into *out (zeroed first; free with snapshot_free), at now_unix_ms (written) and
 * now_ms (the state machine's monotonic clock, for the transient ages). get (may be NULL: no
 * overrides) is asked for each service with anycast. Takes each service's lock while it copies
 * its backends; any thread. A service or backend whose name cannot be written (too long, a
 * space or a control byte) is left out. Returns 0 or -ENOMEM (*out then empty).
 */
int snapshot_take(const struct lb_runtime *rt, snapshot_override_get get, void *arg,
	uint64_t now_unix_ms, uint64_t now_ms, struct snapshot *out);

/*
 * Writes s in the format above into a new buffer (*buf, malloc'd, the caller frees; *len
 * bytes, NUL-terminated). Returns 0, or -ENOMEM, or -EINVAL when s has a name that cannot be
 * written or more than SNAP_MAX_BYTES.
 */
int snapshot_format(const struct snapshot *s, char **buf, size_t *len);

/*
 * Parses len bytes of buf (no NUL needed) into *out (zeroed first; free with snapshot_free).
 * Returns 0, or -EINVAL with the first problem in err ("line N: what"), or -ENOMEM. Refuses a
 * file over SNAP_MAX_BYTES or a line over SNAP_MAX_LINE, another format or version, a missing
 * or wrong `end`, bytes after it, unknown or missing fields, numbers that are not canonical
 * decimals of 64 bits, names that are empty, too long or hold a space or control byte,
 * duplicate records and records naming a service or backend not declared before.
 */
int snapshot_parse(const char *buf, size_t len, struct snapshot *out, char *err, size_t errcap);

void snapshot_free(struct snapshot *s);

/* The record of the named service or backend in s, or NULL. O(log n). */
const struct snap_service *snapshot_service(const struct snapshot *s, const char *name);
const struct snap_backend *snapshot_backend(
	const struct snapshot *s, const char *service, const char *address);

/*
 * Turns later's counters into what was counted since earlier (both taken from the same process,
 * matched by name; a counter never goes below 0). The binary upgrade sends the counting between
 * its first snapshot and the moment the old process stopped accepting, so that the successor's
 * counters never fall behind what the old one showed.
 */
void snapshot_counters_since(struct snapshot *later, const struct snapshot *earlier);

/* What snapshot_apply() did, for its log line. */
struct snapshot_applied {
	size_t drains;          /* backends drained again */
	size_t maints;          /* backends in maintenance again */
	size_t weights;         /* runtime weights restored */
	size_t weights_dropped; /* runtime weights not restored: the file changed that weight */
	size_t overrides;       /* services given their override again */
	size_t ladders;         /* services drained again (their ladder withdrawn) */
	size_t verdicts;        /* backends starting from their saved verdict */
	size_t stale;           /* saved verdicts refused: older than max_age, or from the future */
	size_t dropped;         /* services and backends of s that rt has not */
	size_t counters;        /* services and backends whose counters were added */
};

/*
 * Restores into generation rt (before its checks run) what `what` asks for, for the services
 * and backends s and rt both have (matched by name and by (service, address text)); the rest of
 * s is dropped. SNAP_OPERATOR: drains through backend_set_draining(), maintenance through
 * backend_set_maint(), runtime weights through backend_set_weight() (only while the file's
 * weight is still the one they replaced; each dropped one is logged), overrides other than none
 * and drained ladders through set (NULL: none restored) for services with anycast. SNAP_HEALTH: a
 * verdict no older than max_age_ms at now_unix_ms (and not more than a second in the future)
 * becomes the backend's state through backend_restore_health(), at now_ms (monotonic, the state
 * machine's clock). SNAP_TRANSIENT: its slow-start ramp and outlier entry go on from where they
 * were (the ages moved on by the time since written_ms), verdict or not. SNAP_COUNTERS: counters
 * are added to rt's (the upgrade's: a new process counts from zero). *res (may be NULL) says what
 * was done. Main thread, before the monitor runs.
 */
void snapshot_apply(struct lb_runtime *rt, const struct snapshot *s, unsigned what,
	uint64_t now_unix_ms, uint64_t now_ms, uint64_t max_age_ms, snapshot_override_set set,
	void *arg, struct snapshot_applied *res);

#endif
