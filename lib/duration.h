/*
 * DOC: durations
 *
 * Operators write durations as an integer and a unit: `250ms`, `2s`, `5m`, `1h`. The unit is
 * mandatory: a bare `30` could mean seconds to one reader and milliseconds to another.
 */
#ifndef ANYLB_LIB_DURATION_H
#define ANYLB_LIB_DURATION_H

#include <stdint.h>

/*
 * Parses into milliseconds: decimal digits without a leading zero (`0s` is fine, `01s` is not),
 * then the unit. Returns 0, or -EINVAL (bad form) / -ERANGE (over ~49 days).
 */
int duration_parse(const char *s, uint64_t *ms);

/* Formats ms the way an operator would write it ("250ms", "2s", "5m"). */
const char *duration_format(uint64_t ms, char *buf, int cap);

#endif
