#include "lb/resolver.h"

#include "lib/log.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
	struct job *next;
	char *host;
	unsigned port;
	enum conf_family family;
	struct resolver_answer a;
};

struct resolver {
	struct ev_loop *loop;
	ev_async posted;
	void (*done)(void *arg, const struct resolver_answer *a);
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock; /* the queues, stop, exited */
	pthread_cond_t wake;
	struct job *todo, *todo_tail; /* asked, in order */
	struct job *answered;         /* done, newest first: taken whole by the main loop */
	int stop, exited;
};

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->host);
	free(j->a.service);
	free(j->a.address);
	free(j);
}

static void jobs_free(struct job *j)
{
	while (j != NULL) {
		struct job *next = j->next;
		job_free(j);
		j = next;
	}
}

void resolver_lookup(
	const char *host, unsigned port, enum conf_family family, struct resolver_answer *out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;

	/* No AI_ADDRCONFIG: a box (or namespace) with loopback only would get no address. */
	hints.ai_family = family == CONF_FAMILY_IPV4   ? AF_INET
			  : family == CONF_FAMILY_IPV6 ? AF_INET6
						       : AF_UNSPEC;
	out->ok = 0;
	out->n = 0;
	out->why[0] = '\0';
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(out->why, sizeof(out->why), "%s",
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return;
	}
	for (const struct addrinfo *ai = res; ai != NULL && out->n < RESOLVED_MAX_ADDRS;
		ai = ai->ai_next) {
		struct addr *a = &out->v[out->n];
		memset(a, 0, sizeof(*a));
		if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(a->in)) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)ai->ai_addr;
			a->in.sin_family = AF_INET;
			a->in.sin_addr = in->sin_addr;
			a->in.sin_port = htons((uint16_t)port);
			a->len = sizeof(a->in);
		} else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(a->in6)) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ai->ai_addr;
			/* A link-local address needs its scope: not one a backend can be. */
			if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) ||
				IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
				continue;
			a->in6.sin6_family = AF_INET6;
			a->in6.sin6_addr = in6->sin6_addr;
			a->in6.sin6_port = htons((uint16_t)port);
			a->len = sizeof(a->in6);
		} else {
			continue;
		}
		out->n++;
	}
	freeaddrinfo(res);
	out->ok = 1;
}

static void *resolver_main(void *arg)
{
	struct resolver *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct job *j = r->todo;
		if (j == NULL) {
			pthread_cond_wait(&r->wake, &r->lock);
			continue;
		}
		r->todo = j->next;
		if (r->todo == NULL)
			r->todo_tail = NULL;
		pthread_mutex_unlock(&r->lock);
		resolver_lookup(j->host, j->port, j->family, &j->a);
		pthread_mutex_lock(&r->lock);
		j->next = r->answered;
		r->answered = j;
		if (!r->stop)
			ev_async_send(r->loop, &r->posted);
	}
	r->exited = 1;
	pthread_cond_broadcast(&r->wake);
	int last = r->loop == NULL; /* resolver_free() gave up waiting: the thread frees */
	pthread_mutex_unlock(&r->lock);
	if (last) {
		jobs_free(r->todo);
		jobs_free(r->answered);
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->wake);
		free(r);
	}
	return NULL;
}

static void posted_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct resolver *r = w->data;
	(void)loop;
	(void)revents;

	pthread_mutex_lock(&r->lock);
	struct job *list = r->answered, *rev = NULL;
	r->answered = NULL;
	pthread_mutex_unlock(&r->lock);
	while (list != NULL) { /* oldest first */
		struct job *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev != NULL) {
		struct job *next = rev->next;
		r->done(r->arg, &rev->a);
		job_free(rev);
		rev = next;
	}
}

struct resolver *resolver_new(
	struct ev_loop *loop, void (*done)(void *arg, const struct resolver_answer *a), void *arg)
{
	struct resolver *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->loop = loop;
	r->done = done;
	r->arg = arg;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	ev_async_init(&r->posted, posted_cb);
	r->posted.data = r;
	ev_async_start(loop, &r->posted);
	ev_unref(loop); /* the resolver alone does not keep the loop running */
	int rc = pthread_create(&r->thread, NULL, resolver_main, r);
	if (rc != 0) {
		log_error("cannot start the resolver thread: %s", strerror(rc));
		ev_ref(loop);
		ev_async_stop(loop, &r->posted);
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->wake);
		free(r);
		return NULL;
	}
	return r;
}

int resolver_ask(struct resolver *r, const char *service, const char *address, const char *host,
	unsigned port, enum conf_family family)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -ENOMEM;
	j->host = strdup(host);
	j->a.service = strdup(service);
	j->a.address = strdup(address);
	j->port = port;
	j->family = family;
	if (j->host == NULL || j->a.service == NULL || j->a.address == NULL) {
		job_free(j);
		return -ENOMEM;
	}
	pthread_mutex_lock(&r->lock);
	if (r->todo_tail != NULL)
		r->todo_tail->next = j;
	else
		r->todo = j;
	r->todo_tail = j;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 200 * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	ev_ref(r->loop);
	ev_async_stop(r->loop, &r->posted);
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_broadcast(&r->wake);
	while (!r->exited)
		if (pthread_cond_timedwait(&r->wake, &r->lock, &until) == ETIMEDOUT)
			break;
	if (!r->exited) {
		/* A lookup blocks in getaddrinfo: the thread frees r when it returns. */
		r->loop = NULL;
		pthread_mutex_unlock(&r->lock);
		pthread_detach(r->thread);
		return;
	}
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	jobs_free(r->todo);
	jobs_free(r->answered);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r);
}
