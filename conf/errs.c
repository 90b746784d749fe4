/*
 * DOC: configuration errors
 *
 * The error list a caller hands to conf_load(), and struct conf_report, through which one load
 * adds to it. Messages are collected in the order the checks run, which is mostly but not
 * entirely the order of the file (a missing key is noticed at the end of its mapping, duplicates
 * once a whole list is read), so conf_report_finish() sorts them by position: an operator reads
 * them top to bottom with the file.
 *
 * A broken file can produce a message per line; past CONF_MAX_ERRORS the rest are dropped and
 * one last line says so, which also bounds the work a hostile file can cause.
 */
#include "conf/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void conf_report_init(struct conf_report *r, const char *file, struct conf_errs *errs)
{
	memset(r, 0, sizeof(*r));
	r->file = file;
	r->errs = errs;
	r->first = errs->n;
}

/* Appends one message; takes msg. Returns 0 or -ENOMEM (msg freed). */
static int conf_errs_push(struct conf_errs *errs, const char *file, int line, int col, char *msg)
{
	if (errs->n == errs->cap) {
		size_t cap = errs->cap ? errs->cap * 2 : 8;
		struct conf_err *v = realloc(errs->v, cap * sizeof(*v));
		if (v == NULL) {
			free(msg);
			return -ENOMEM;
		}
		errs->v = v;
		errs->cap = cap;
	}
	char *f = strdup(file);
	if (f == NULL) {
		free(msg);
		return -ENOMEM;
	}
	errs->v[errs->n++] = (struct conf_err){.file = f, .line = line, .col = col, .msg = msg};
	return 0;
}

static void conf_report_va(
	struct conf_report *r, const char *file, int line, int col, const char *fmt, va_list ap)
{
	char *msg;

	if (r->count >= CONF_MAX_ERRORS) {
		r->truncated = 1;
		return;
	}
	int n = vasprintf(&msg, fmt, ap);
	if (n < 0 || conf_errs_push(r->errs, file != NULL ? file : r->file, line, col, msg) < 0) {
		r->nomem = 1;
		return;
	}
	r->count++;
}

void conf_report_at(struct conf_report *r, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_report_va(r, r->file, line, col, fmt, ap);
	va_end(ap);
}

void conf_report_at_node(struct conf_report *r, const struct conf_node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_report_va(r, n->file, n->line, n->col, fmt, ap);
	va_end(ap);
}

void conf_report_pos(struct conf_report *r, struct conf_pos p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_report_va(r, p.file, p.line, p.col, fmt, ap);
	va_end(ap);
}

const char *conf_report_file(struct conf_report *r, const char *name)
{
	for (size_t i = 0; i < r->nfiles; i++)
		if (strcmp(r->files[i], name) == 0)
			return r->files[i];
	char **v = realloc(r->files, (r->nfiles + 1) * sizeof(*v));
	if (v == NULL) {
		r->nomem = 1;
		return NULL;
	}
	r->files = v;
	if ((v[r->nfiles] = strdup(name)) == NULL) {
		r->nomem = 1;
		return NULL;
	}
	return v[r->nfiles++];
}

void conf_report_take_files(struct conf_report *r, char ***files, size_t *n)
{
	*files = r->files;
	*n = r->nfiles;
	r->files = NULL;
	r->nfiles = 0;
}

const char *conf_where(const struct conf_report *r, const char *first, const char *here, int line,
	char *buf, size_t cap)
{
	if (first == NULL)
		first = r->file;
	if (here == NULL)
		here = r->file;
	if (first == here || strcmp(first, here) == 0)
		snprintf(buf, cap, "line %d", line);
	else
		snprintf(buf, cap, "%s:%d", first, line);
	return buf;
}

/* A message's file as an order: the files of the load as they were read, others first. */
static size_t conf_file_order(const struct conf_report *r, const char *file)
{
	for (size_t i = 0; i < r->nfiles; i++)
		if (strcmp(r->files[i], file) == 0)
			return i;
	return 0;
}

static int conf_err_after(
	const struct conf_report *r, const struct conf_err *a, const struct conf_err *b)
{
	size_t fa = conf_file_order(r, a->file), fb = conf_file_order(r, b->file);
	if (fa != fb)
		return fa > fb;
	return a->line > b->line || (a->line == b->line && a->col > b->col);
}

int conf_errs_add(
	struct conf_errs *errs, const char *file, struct conf_pos at, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	/* A place the file does not have (a default) is reported at its start. */
	return conf_errs_push(errs, at.file != NULL ? at.file : file, at.line > 0 ? at.line : 1,
		at.line > 0 ? at.col : 1, msg);
}

void conf_report_finish(struct conf_report *r)
{
	struct conf_err *v = r->errs->v;

	/* Insertion sort: stable, and the list is short (CONF_MAX_ERRORS). */
	for (size_t i = r->first + 1; i < r->errs->n; i++) {
		struct conf_err e = v[i];
		size_t j = i;
		while (j > r->first && conf_err_after(r, &v[j - 1], &e)) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = e;
	}
	/*
	 * The closing lines bypass the cap. Their position is the last message's, so that the
	 * output stays sorted and every line keeps the FILE:LINE:COL form.
	 */
	int line = 1, col = 1;
	const char *file = r->file;
	if (r->errs->n > r->first) {
		line = r->errs->v[r->errs->n - 1].line;
		col = r->errs->v[r->errs->n - 1].col;
		file = r->errs->v[r->errs->n - 1].file;
	}
	char *msg = NULL;
	if (r->truncated &&
		asprintf(&msg, "too many errors, stopped after %d", CONF_MAX_ERRORS) >= 0)
		conf_errs_push(r->errs, file, line, col, msg);
	msg = NULL;
	if (r->nomem && asprintf(&msg, "out of memory while loading the configuration") >= 0)
		conf_errs_push(r->errs, file, line, col, msg);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i]);
	free(r->files);
	r->files = NULL;
	r->nfiles = 0;
}

void conf_errs_free(struct conf_errs *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		free(errs->v[i].file);
		free(errs->v[i].msg);
	}
	free(errs->v);
	errs->v = NULL;
	errs->n = errs->cap = 0;
}

static void conf_write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, s, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

void conf_errs_print(const struct conf_errs *errs, int fd)
{
	for (size_t i = 0; i < errs->n; i++) {
		const struct conf_err *e = &errs->v[i];
		char *line;
		/* One write per line, so that lines from other writers never cut through one. */
		int n = asprintf(&line, "%s:%d:%d: %s\n", e->file, e->line, e->col, e->msg);
		if (n < 0) {
			dprintf(fd, "%s:%d:%d: %s\n", e->file, e->line, e->col, e->msg);
			continue;
		}
		conf_write_all(fd, line, (size_t)n);
		free(line);
	}
}
