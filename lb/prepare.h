/*
 * DOC: what a configuration needs from outside its file, opened before it is used
 *
 * conf/ reads no file but the configuration. The files it names, the CA bundles of tls and https
 * checks and the admin bearer token, are opened here, by the same code in the three places
 * that must agree: `anylb -t`, start-up, and a reload before it commits. A file that cannot
 * serve is refused with the place that names it (FILE:LINE:COL), so a reload cannot commit and
 * then find its health checks unable to run, and `-t` cannot pass what start-up refuses.
 *
 * What is left to start-up alone needs the running process: binding listeners and the admin
 * sockets (a port in use, an address not on this host), privileges (global.user, capabilities),
 * the TUN interface and the BIRD control socket (docs/CONFIG.md, "Checking a file").
 */
#ifndef ANYLB_LB_PREPARE_H
#define ANYLB_LB_PREPARE_H

#include "conf/conf.h"
#include "lb/runtime.h"

/*
 * Opens the TLS context of every tls and https check of rt into svc->check_tls (a CA file is
 * read now: a reload picks up a rotated bundle). Returns 0, or -EINVAL (-ENOMEM) with one
 * message per check that cannot run in errs; contexts already opened stay with rt.
 */
int runtime_prepare(struct lb_runtime *rt, struct conf_errs *errs);

/*
 * What only start-up reads (settings a reload cannot change): the admin token file. Returns 0,
 * or -EINVAL (-ENOMEM) with the reason in errs.
 */
int prepare_process(const struct conf *c, struct conf_errs *errs);

#endif
