/*
 * DOC: reading an operator's file
 *
 * The configuration is read on the main thread, beside the heartbeat: nothing here may block on
 * what happens to sit at the path. A FIFO would block open(2) until a writer came, a device
 * could block read(2) or never end, so the file is opened with O_NONBLOCK and refused unless
 * fstat(2) says it is a regular file. A file rewritten in place while it is read could hand over
 * a truncated but valid half; the size and times before and after the read, and the bytes read,
 * must agree, or the read is refused (an atomic rename is what makes a new version safe).
 */
#ifndef ANYLB_LIB_READFILE_H
#define ANYLB_LIB_READFILE_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * Reads the whole regular file at path into a malloc'ed buffer the caller frees (*buf NULL and
 * *len 0 on failure; an empty file gives a buffer of 0 bytes). Returns 0, or -errno: that of
 * open/fstat/read, -ENOMEM, -EFBIG (more than max bytes), -EISDIR or -EINVAL (not a regular file:
 * *mode says what it is, for readfile_type()), -EAGAIN (the file changed while it was read).
 */
int readfile_regular(const char *path, size_t max, char **buf, size_t *len, mode_t *mode);

/* "a directory", "a FIFO", "a character device", ... for a message; "a regular file" too. */
const char *readfile_type(mode_t mode);

/*
 * Whether a file changed between two fstat(2) of the same open file with nread bytes read in
 * between: a different size, modification or status-change time, or a size that is not what was
 * read (which /proc files, whose size says 0, also fail: they are not configuration files).
 */
int readfile_changed(const struct stat *before, const struct stat *after, size_t nread);

#endif
