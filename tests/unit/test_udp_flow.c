/*
 * DOC: unit: the udp flow table (lb/udp_flow.c)
 *
 * Keys (a client port, a client address, the local address each make another flow; IPv4 and
 * IPv6 apart), the LRU order a full table evicts from and idle flows expire from, the list of
 * flows awaiting a reply (oldest first, only the first unanswered datagram counts) and removal
 * from the middle of every list. Time is passed in; nothing sleeps.
 */
#include "lb/udp_flow.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

static struct addr v4(const char *ip, int port)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.in.sin_family = AF_INET;
	a.in.sin_port = htons((uint16_t)port);
	cr_assert_eq(inet_pton(AF_INET, ip, &a.in.sin_addr), 1);
	a.len = sizeof(a.in);
	return a;
}

static struct addr v6(const char *ip, int port)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons((uint16_t)port);
	cr_assert_eq(inet_pton(AF_INET6, ip, &a.in6.sin6_addr), 1);
	a.len = sizeof(a.in6);
	return a;
}

static void add(struct udp_flow_table *t, struct udp_flow_node *n, struct addr c, struct addr local,
	uint64_t now)
{
	memset(n, 0, sizeof(*n));
	udp_key_make(&n->key, &c, &local);
	cr_assert_null(udp_flow_find(t, &n->key), "a new key is not in the table yet");
	udp_flow_insert(t, n, now);
}

static struct udp_flow_node *find(struct udp_flow_table *t, struct addr c, struct addr local)
{
	struct udp_key k;

	udp_key_make(&k, &c, &local);
	return udp_flow_find(t, &k);
}

Test(udp_flow, every_part_of_the_key_tells_flows_apart)
{
	struct udp_flow_table t;
	struct udp_flow_node n[5];
	struct addr l1 = v4("192.0.2.53", 53), l2 = v4("192.0.2.54", 53);

	cr_assert_eq(udp_flow_table_init(&t, 100, 42), 0);
	add(&t, &n[0], v4("10.0.0.1", 1000), l1, 1);
	add(&t, &n[1], v4("10.0.0.1", 1001), l1, 1);
	add(&t, &n[2], v4("10.0.0.2", 1000), l1, 1);
	add(&t, &n[3], v4("10.0.0.1", 1000), l2, 1);
	add(&t, &n[4], v6("2001:db8::1", 1000), v6("2001:db8::53", 53), 1);
	cr_assert_eq(t.n, 5);
	cr_expect_eq(find(&t, v4("10.0.0.1", 1000), l1), &n[0]);
	cr_expect_eq(find(&t, v4("10.0.0.1", 1001), l1), &n[1]);
	cr_expect_eq(find(&t, v4("10.0.0.2", 1000), l1), &n[2]);
	cr_expect_eq(find(&t, v4("10.0.0.1", 1000), l2), &n[3]);
	cr_expect_eq(find(&t, v6("2001:db8::1", 1000), v6("2001:db8::53", 53)), &n[4]);
	/* The local port is the listener's, not part of the key. */
	cr_expect_eq(find(&t, v4("10.0.0.1", 1000), v4("192.0.2.53", 5353)), &n[0]);
	cr_expect_null(find(&t, v4("10.0.0.3", 1000), l1));
	cr_expect_null(find(&t, v6("::ffff:10.0.0.1", 1000), l1), "IPv4 and IPv6 stay apart");
	udp_flow_table_destroy(&t);
}

Test(udp_flow, a_full_table_names_its_least_recently_used_flow)
{
	struct udp_flow_table t;
	struct udp_flow_node n[3];
	struct addr l = v4("127.0.0.1", 53);

	cr_assert_eq(udp_flow_table_init(&t, 3, 7), 0);
	add(&t, &n[0], v4("10.0.0.1", 1), l, 10);
	add(&t, &n[1], v4("10.0.0.1", 2), l, 20);
	cr_expect_not(udp_flow_full(&t));
	add(&t, &n[2], v4("10.0.0.1", 3), l, 30);
	cr_expect(udp_flow_full(&t));
	cr_expect_eq(udp_flow_oldest(&t), &n[0]);
	udp_flow_from_client(&t, &n[0], 40); /* used again: now the newest */
	cr_expect_eq(udp_flow_oldest(&t), &n[1]);
	udp_flow_remove(&t, &n[1]);
	cr_expect_eq(t.n, 2);
	cr_expect_null(find(&t, v4("10.0.0.1", 2), l));
	cr_expect_eq(udp_flow_oldest(&t), &n[2]);
	udp_flow_remove(&t, &n[2]);
	cr_expect_eq(udp_flow_oldest(&t), &n[0]);
	udp_flow_remove(&t, &n[0]);
	cr_expect_null(udp_flow_oldest(&t));
	cr_expect_eq(t.n, 0);
	udp_flow_table_destroy(&t);
}

Test(udp_flow, a_reply_missing_is_the_oldest_unanswered_datagram)
{
	struct udp_flow_table t;
	struct udp_flow_node n[3];
	struct addr l = v4("127.0.0.1", 53);

	cr_assert_eq(udp_flow_table_init(&t, 10, 1), 0);
	for (int i = 0; i < 3; i++)
		add(&t, &n[i], v4("10.0.0.1", 100 + i), l, 0);
	cr_expect_null(udp_flow_reply_missing(&t, 1000), "nothing was sent yet");
	udp_flow_from_client(&t, &n[0], 100);
	udp_flow_from_client(&t, &n[1], 200);
	udp_flow_from_client(&t, &n[0], 300); /* still waiting since 100 */
	udp_flow_from_client(&t, &n[2], 400);
	cr_expect_eq(n[0].sent_ms, 100);
	cr_expect_eq(udp_flow_from_backend(&t, &n[1], 250), 50, "n1 waited 50 ms");
	cr_expect_eq(udp_flow_from_backend(&t, &n[1], 260), -1, "nothing awaited any more");
	cr_expect_null(udp_flow_reply_missing(&t, 99));
	cr_expect_eq(udp_flow_reply_missing(&t, 100), &n[0]);
	cr_expect_null(udp_flow_reply_missing(&t, 399), "n1 was answered, n2 is younger");
	cr_expect_eq(udp_flow_reply_missing(&t, 400), &n[2]);
	cr_expect_null(udp_flow_reply_missing(&t, 10000));
	/* Waiting again after a reply counts from the new datagram. */
	udp_flow_from_client(&t, &n[1], 500);
	cr_expect_eq(n[1].sent_ms, 500);
	udp_flow_remove(&t, &n[1]);
	cr_expect_null(udp_flow_reply_missing(&t, 10000), "a removed flow leaves the list");
	udp_flow_table_destroy(&t);
}

Test(udp_flow, thousands_of_ports_of_one_client)
{
	enum { N = 5000 };
	static struct udp_flow_node n[N];
	struct udp_flow_table t;
	struct addr l = v4("127.0.0.1", 53);

	cr_assert_eq(udp_flow_table_init(&t, N, 99), 0);
	cr_expect_geq(t.nbuckets, (size_t)N);
	for (int i = 0; i < N; i++)
		add(&t, &n[i], v4("10.9.9.9", 1024 + i), l, (uint64_t)i);
	for (int i = 0; i < N; i++)
		cr_assert_eq(find(&t, v4("10.9.9.9", 1024 + i), l), &n[i]);
	for (int i = 0; i < N; i += 2)
		udp_flow_remove(&t, &n[i]);
	cr_expect_eq(t.n, (size_t)N / 2);
	for (int i = 0; i < N; i++)
		cr_assert_eq(find(&t, v4("10.9.9.9", 1024 + i), l), i % 2 ? &n[i] : NULL);
	cr_expect_eq(udp_flow_oldest(&t), &n[1]);
	udp_flow_table_destroy(&t);
}
