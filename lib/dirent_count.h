/*
 * DOC: counting a directory's entries
 *
 * /proc/self/fd and /proc/self/task are read this way: how many fds, how many threads.
 */
#ifndef ANYLB_LIB_DIRENT_COUNT_H
#define ANYLB_LIB_DIRENT_COUNT_H

/* Entries of the directory at path, "." and ".." (and any dot file) not counted, or -errno. */
int dirent_count(const char *path);

#endif
