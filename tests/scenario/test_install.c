/*
 * DOC: scenario: what `cmake --install` puts where
 *
 * Installs this build into a scratch prefix (cmake --install BUILD --prefix DIR/usr) and checks
 * the layout a packager relies on: both programs, the systemd unit, the examples, the
 * documentation and the man pages; then runs the installed programs: `anylb -V` says this version,
 * `anylb -t` accepts every installed example, `anylbctl --help` answers. Nothing outside the
 * scratch directory is touched; it is removed at the end.
 */
#include "tests/support/harness.h"
#include "tests/support/netns.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(install, .timeout = 120);

static char root[64];

static void scratch_remove(void)
{
	char out[256];

	if (root[0] != '\0')
		sc_cmd(out, sizeof(out), 10000, "rm -rf -- %s", root);
	root[0] = '\0';
}

static void expect_file(const char *rel, mode_t exec)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/usr/%s", root, rel);
	cr_expect_eq(stat(path, &st), 0, "not installed: /usr/%s", rel);
	if (exec)
		cr_expect(st.st_mode & exec, "/usr/%s is not executable", rel);
}

Test(install, the_layout_a_package_relies_on, .fini = scratch_remove)
{
	char out[8192], prog[512], arg[512];

	snprintf(root, sizeof(root), "/tmp/anylb-install-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	int rc = sc_cmd(out, sizeof(out), 60000, "%s --install %s --prefix %s/usr", ANYLB_CMAKE,
		ANYLB_BUILD_DIR, root);
	cr_assert_eq(rc, 0, "cmake --install: %d:\n%s", rc, out);
	expect_file("sbin/anylb", S_IXUSR);
	expect_file("bin/anylbctl", S_IXUSR);
	expect_file("lib/systemd/system/anylb.service", 0);
	expect_file("share/doc/anylb/README.md", 0);
	expect_file("share/doc/anylb/CONFIG.md", 0);
	expect_file("share/doc/anylb/examples/quickstart.yaml", 0);
	expect_file("share/doc/anylb/examples/bird.conf", 0);
	/* The reference passes anylb -t in tests/unit/test_example.c (it names a token file). */
	expect_file("share/doc/anylb/examples/anylb.yaml", 0);
	expect_file("share/doc/anylb/grafana/anylb.json", 0);
	expect_file("share/bash-completion/completions/anylb", 0);
	expect_file("share/bash-completion/completions/anylbctl", 0);
	expect_file("share/doc/anylb/prometheus/anylb-alerts.yaml", 0);
	if (ANYLB_MAN_DIR[0] != '\0') { /* built with scdoc */
		expect_file("share/man/man8/anylb.8", 0);
		expect_file("share/man/man8/anylbctl.8", 0);
		expect_file("share/man/man5/anylb.yaml.5", 0);
	}

	snprintf(prog, sizeof(prog), "%s/usr/sbin/anylb", root);
	cr_assert_eq(sc_cmd(out, sizeof(out), 10000, "%s -V", prog), 0, "%s", out);
	cr_expect(strstr(out, "anylb " ANYLB_VERSION) != NULL, "anylb -V: %s", out);
	static const char *const examples[] = {
		"quickstart.yaml", "site.yaml", "anylb-bird-protocol.yaml"};
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		snprintf(arg, sizeof(arg), "%s/usr/share/doc/anylb/examples/%s", root, examples[i]);
		rc = sc_cmd(out, sizeof(out), 10000, "%s -t -c %s", prog, arg);
		cr_expect_eq(rc, 0, "anylb -t %s: %d: %s", examples[i], rc, out);
	}
	snprintf(prog, sizeof(prog), "%s/usr/bin/anylbctl", root);
	rc = sc_cmd(out, sizeof(out), 10000, "%s --help", prog);
	cr_expect_eq(rc, 0, "anylbctl --help: %d: %s", rc, out);
}
