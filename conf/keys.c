/*
 * DOC: every key the loader reads
 *
 * Each section file keeps its own key tables (the one place a key is spelled); this walks them
 * all, for the tests that hold the documentation to the loader (docs/CONFIG.md, the man page).
 */
#include "conf/internal.h"

void conf_keys_table(
	conf_key_cb cb, void *arg, const char *section, const struct conf_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cb(arg, section, keys[i].name, keys[i].later);
}

void conf_keys(conf_key_cb cb, void *arg)
{
	conf_top_keys_each(cb, arg);
	conf_global_keys_each(cb, arg);
	conf_bgp_keys_each(cb, arg);
	conf_service_keys_each(cb, arg);
	conf_health_keys_each(cb, arg);
	conf_edge_keys_each(cb, arg);
}
