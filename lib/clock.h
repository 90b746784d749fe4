/*
 * DOC: clocks
 *
 * The one place that reads the time for pure logic: I/O code calls clock_ms() and passes the
 * value down, so outlier ejection, slow start and anycast policy never read a clock themselves
 * and their tests never sleep.
 */
#ifndef ANYLB_LIB_CLOCK_H
#define ANYLB_LIB_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
uint64_t clock_ms(void);

/* Milliseconds since the epoch on CLOCK_REALTIME: for what is shown or stored (unix time). */
uint64_t clock_wall_ms(void);

#endif
