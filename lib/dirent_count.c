#include "lib/dirent_count.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>

int dirent_count(const char *path)
{
	struct dirent *e;
	int n = 0;
	DIR *d = opendir(path);

	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}
