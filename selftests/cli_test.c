// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf cli_test: the bar-dmabuf command (tools/bar-dmabuf.c), run as
 * a user would, for every command and every bad input.
 *
 * Each command's output is checked against what the test set up through
 * the ioctls (a buffer, an importer attachment, a revoke left waiting or
 * timed out) and against debugfs; each bad input must end with one line
 * on stderr that names the problem and the fix, its documented exit
 * status, and no change: the test's own buffer keeps its debugfs block,
 * the device keeps its buffer count, an export's COMMAND never runs.
 *
 * The command is $BAR_DMABUF_CLI, else ../tools/bar-dmabuf next to this
 * binary (make kselftest builds it), else bar-dmabuf in PATH (the test VM
 * has it in /usr/bin).
 * Environment: BAR_DMABUF_BDF (required), BAR_DMABUF_BDF2,
 * BAR_DMABUF_IMPORTER_BDF, BAR_DMABUF_IOBAR_BDF (tests needing them skip).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

/* The exit statuses of bar-dmabuf(8). */
#define CLI_OK		0
#define CLI_FAIL	1
#define CLI_USAGE	2
#define CLI_NODEV	3
#define CLI_PERM	4
#define CLI_TIMEDOUT	5
#define CLI_NOEXEC	127

#define NOBODY		65534
#define RAN_FILE	"/tmp/cli_test.ran"

static char cli_path[PATH_MAX];

/*
 * Put the path @fmt names in cli_path: true if it fit (a truncated path
 * would name another file) and is an executable.
 */
static __printf(1, 2) bool cli_try(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cli_path, sizeof(cli_path), fmt, ap);
	va_end(ap);
	return n >= 0 && n < (int)sizeof(cli_path) && !access(cli_path, X_OK);
}

/* Find the command once; false if there is none. */
static bool cli_find(void)
{
	const char *env = bd_env("BAR_DMABUF_CLI");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (cli_path[0])
		return true;
	if (env)
		return cli_try("%s", env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if (cli_try("%s/../tools/bar-dmabuf", self))
				return true;
		}
	}
	/* else the first in PATH (the test VM has it in /usr/bin) */
	env = getenv("PATH");
	while (env && *env) {
		size_t len = strcspn(env, ":");

		if (len && cli_try("%.*s/bar-dmabuf", (int)len, env))
			return true;
		env += len + !!env[len];
	}
	snprintf(cli_path, sizeof(cli_path), "bar-dmabuf (not in PATH)");
	return false;
}

/* How to run it. */
struct cli_opts {
	uid_t uid;		/* 0: as we are; else drop to this uid/gid */
	int keep_fd;		/* an fd the child keeps across exec, or -1 */
	bool no_debugfs;	/* in a mount namespace without debugfs */
};

static const struct cli_opts as_root = { 0, -1, false };

struct cli_res {
	int status;		/* exit status, or 128 + signal */
	char out[32768];
	char err[4096];
};

static void slurp(FILE *f, char *buf, size_t len)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Run the command with the NULL-terminated arguments after @o. */
static int cli(struct cli_res *r, const struct cli_opts *o, ...)
{
	char *argv[32];
	FILE *out, *err;
	unsigned int n = 0;
	va_list ap;
	int status;
	pid_t pid;

	argv[n++] = cli_path;
	va_start(ap, o);
	while (n < ARRAY_SIZE(argv) - 1) {
		argv[n] = va_arg(ap, char *);
		if (!argv[n])
			break;
		n++;
	}
	va_end(ap);
	argv[n] = NULL;

	out = tmpfile();
	err = tmpfile();
	if (!out || !err)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		int null = open("/dev/null", O_RDONLY);

		if (null > 0) {
			dup2(null, 0);
			close(null);
		}
		dup2(fileno(out), 1);
		dup2(fileno(err), 2);
		if (o->keep_fd >= 0)
			fcntl(o->keep_fd, F_SETFD, 0);
		if (o->no_debugfs &&
		    (unshare(CLONE_NEWNS) ||
		     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		     umount2("/sys/kernel/debug", MNT_DETACH)))
			_exit(120);
		if (o->uid && (setgroups(0, NULL) || setgid(o->uid) ||
			       setuid(o->uid)))
			_exit(121);
		setenv("CLI", cli_path, 1);
		execv(cli_path, argv);
		_exit(122);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status);
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
	return 0;
}

/* stderr is one line, starting with the program's name. */
static bool one_line(const struct cli_res *r)
{
	size_t len = strlen(r->err);

	return len && r->err[len - 1] == '\n' &&
	       strchr(r->err, '\n') == r->err + len - 1 &&
	       !strncmp(r->err, "bar-dmabuf: ", 12);
}

/* Number of "buffer N:" blocks in the device's debugfs file, or -errno. */
static int nr_buffers(const char *bdf)
{
	char path[256], *text, *p;
	int n = 0;
	long len;

	text = malloc(65536);
	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof(path), BD_DEBUGFS "/%s/buffers", bdf);
	len = bd_read_file(path, text, 65536);
	if (len < 0) {
		free(text);
		return len;
	}
	for (p = text; (p = strstr(p, "\nbuffer ")); p++)
		n++;
	free(text);
	return n;
}

FIXTURE(cli) {
	struct bd_env e;
	bool skipped;
	int buf;		/* a buffer of two pages, held by the test */
	char before[4096];	/* its debugfs block after the setup */
	int nr_before;
	char bar[8], page[16], bar_end[32];
	mode_t root_mode;	/* of "/", when a test widened it */
	bool root_widened;
	struct cli_res r;
};

FIXTURE_SETUP(cli)
{
	unsigned long long size;

	self->buf = -1;
	if (!cli_find()) {
		self->skipped = true;
		SKIP(return, "no bar-dmabuf command (%.200s); build tools/ or set BAR_DMABUF_CLI",
		     cli_path);
	}
	if (!bd_fixture_open(_metadata, &self->e, 4 * BD_PAGE,
			     &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, 2);
	ASSERT_LE(0, self->buf);
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, self->before,
				       sizeof(self->before)));
	self->nr_before = nr_buffers(self->e.bdf);
	ASSERT_LE(1, self->nr_before);
	size = self->e.info.out_bars[self->e.bar].size;
	snprintf(self->bar, sizeof(self->bar), "%d", self->e.bar);
	snprintf(self->page, sizeof(self->page), "%llu", BD_PAGE);
	snprintf(self->bar_end, sizeof(self->bar_end), "%#llx:%#llx",
		 size - BD_PAGE, 2 * BD_PAGE);
}

FIXTURE_TEARDOWN(cli)
{
	if (!self->skipped)
		bd_fixture_check_kmsg(_metadata, self->e.kfd);
	if (self->buf >= 0)
		close(self->buf);
	if (self->root_widened)
		chmod("/", self->root_mode);
	unlink(RAN_FILE);
	bd_env_close(&self->e);
}

/* The test's buffer and the device's buffer count are as the setup left them. */
#define EXPECT_UNCHANGED() do {						\
	char now_[4096];						\
									\
	EXPECT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, now_,	\
				       sizeof(now_)));			\
	EXPECT_STREQ(self->before, now_);				\
	EXPECT_EQ(self->nr_before, nr_buffers(self->e.bdf));		\
} while (0)

/* A bad input: its status, one line naming @needle, nothing changed. */
#define EXPECT_REFUSED(st, needle) do {					\
	const char *n_ = (needle);					\
									\
	EXPECT_EQ(st, self->r.status)					\
		TH_LOG("stdout: %s stderr: %s", self->r.out, self->r.err); \
	EXPECT_TRUE(one_line(&self->r)) TH_LOG("stderr: %s", self->r.err); \
	EXPECT_NE(NULL, strstr(self->r.err, n_))			\
		TH_LOG("no '%s' in: %s", n_, self->r.err);		\
	EXPECT_UNCHANGED();						\
} while (0)

#define EXPECT_OUT(needle) do {						\
	const char *n_ = (needle);					\
									\
	EXPECT_NE(NULL, strstr(self->r.out, n_))			\
		TH_LOG("no '%s' in stdout: %s (stderr: %s)", n_,	\
		       self->r.out, self->r.err);			\
} while (0)

TEST_F(cli, help_for_every_command)
{
	static const char * const cmds[] = {
		"list", "info", "status", "export", "revoke", "restore",
		"timeline",
	};
	char want[64];
	unsigned int i;

	if (self->skipped)
		return;
	ASSERT_EQ(0, cli(&self->r, &as_root, "--help", NULL));
	EXPECT_EQ(CLI_OK, self->r.status);
	EXPECT_OUT("Exit status:");
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		snprintf(want, sizeof(want), "bar-dmabuf %s", cmds[i]);
		EXPECT_OUT(want);
	}
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		ASSERT_EQ(0, cli(&self->r, &as_root, cmds[i], "--help", NULL));
		EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s --help", cmds[i]);
		snprintf(want, sizeof(want), "usage: bar-dmabuf %s", cmds[i]);
		EXPECT_EQ(0, strncmp(self->r.out, want, strlen(want)))
			TH_LOG("%s --help: %s", cmds[i], self->r.out);
		EXPECT_OUT("Exit status:");
	}
	ASSERT_EQ(0, cli(&self->r, &as_root, NULL));
	EXPECT_EQ(CLI_USAGE, self->r.status);
	ASSERT_EQ(0, cli(&self->r, &as_root, "frobnicate", NULL));
	EXPECT_REFUSED(CLI_USAGE, "unknown command 'frobnicate'");
	ASSERT_EQ(0, cli(&self->r, &as_root, "info", "--frob", NULL));
	EXPECT_REFUSED(CLI_USAGE, "unknown option '--frob'");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf, "--json",
			 NULL));
	EXPECT_REFUSED(CLI_USAGE, "--json is for list, info and status");
}

TEST_F(cli, list_shows_the_bound_devices)
{
	const char *imp = bd_env("BAR_DMABUF_IMPORTER_BDF");
	char want[128];

	if (self->skipped)
		return;
	ASSERT_EQ(0, cli(&self->r, &as_root, "list", NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	snprintf(want, sizeof(want), "%s ", self->e.bdf);
	EXPECT_OUT(want);
	snprintf(want, sizeof(want), BD_DEV_DIR "/%s\n", self->e.bdf);
	EXPECT_OUT(want);
	if (imp)
		EXPECT_EQ(NULL, strstr(self->r.out, imp)) TH_LOG("%s", self->r.out);

	ASSERT_EQ(0, cli(&self->r, &as_root, "list", "--json", NULL));
	EXPECT_EQ(CLI_OK, self->r.status);
	EXPECT_EQ('{', self->r.out[0]);
	EXPECT_OUT("}\n");
	snprintf(want, sizeof(want), "{\"bdf\": \"%s\", \"vendor\": ",
		 self->e.bdf);
	EXPECT_OUT(want);
	EXPECT_OUT("\"not_bound\": [");
	ASSERT_EQ(0, cli(&self->r, &as_root, "list", "extra", NULL));
	EXPECT_REFUSED(CLI_USAGE, "list takes no argument");
}

TEST_F(cli, info_lists_the_bars)
{
	char want[128];

	if (self->skipped)
		return;
	ASSERT_EQ(0, cli(&self->r, &as_root, "info", self->e.bdf, NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	snprintf(want, sizeof(want), "%s  vendor %04x  device %04x  revoke timeout %u ms\n",
		 self->e.bdf, self->e.info.out_vendor, self->e.info.out_device,
		 self->e.info.out_default_timeout_ms);
	EXPECT_OUT(want);
	snprintf(want, sizeof(want), "  BAR%d ", self->e.bar);
	EXPECT_OUT(want);
	EXPECT_UNCHANGED();

	/* the short form of the address is the same device */
	ASSERT_EQ(0, cli(&self->r, &as_root, "--json", "info",
			 self->e.bdf + 5, NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	snprintf(want, sizeof(want), "{\"bdf\": \"%s\", \"vendor\": \"%04x\"",
		 self->e.bdf, self->e.info.out_vendor);
	EXPECT_OUT(want);
	snprintf(want, sizeof(want), "{\"index\": %d, \"size\": %llu, \"memory\": true",
		 self->e.bar,
		 (unsigned long long)self->e.info.out_bars[self->e.bar].size);
	EXPECT_OUT(want);
	EXPECT_UNCHANGED();
}

TEST_F(cli, status_shows_buffers_attachments_and_mappings)
{
	char want[128];
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);
	ASSERT_EQ(0, cli(&self->r, &as_root, "status", self->e.bdf, NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	snprintf(want, sizeof(want), "BAR%d  8 KiB in 1 range(s)  live  %s\n",
		 self->e.bar, "live mappings 1  attachments 1");
	EXPECT_OUT(want);
	EXPECT_OUT("    attachment ");
	EXPECT_OUT("  1 mapping(s)  ");
	EXPECT_OUT(" pin(s)  route ");
	EXPECT_OUT("    range 0  phys 0x");

	ASSERT_EQ(0, cli(&self->r, &as_root, "status", "--json", NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	snprintf(want, sizeof(want), "{\"devices\": [{\"bdf\": \"%s\"",
		 self->e.bdf);
	EXPECT_OUT(want);
	EXPECT_OUT("\"state\": \"live\", \"revoked_by_reset\": false, \"live_mappings\": 1");
	EXPECT_OUT("\"mappings\": 1, \"pins\": ");
	EXPECT_OUT("\"revoke\": null");
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
}

struct bg_revoke {
	int devfd, buf, ret;
};

static void *bg_revoke_fn(void *arg)
{
	struct bg_revoke *b = arg;

	b->ret = bd_revoke(b->devfd, b->buf, 0, 30000, NULL);
	return NULL;
}

TEST_F(cli, status_shows_a_pending_and_a_timed_out_revoke)
{
	struct cli_opts keep = { 0, self->buf, false };
	struct bg_revoke b = { self->e.devfd, self->buf, -1 };
	char fdnum[16];
	pthread_t th;
	__u32 h;

	if (self->skipped)
		return;
	snprintf(fdnum, sizeof(fdnum), "%d", self->buf);
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);
	ASSERT_EQ(0, pthread_create(&th, NULL, bg_revoke_fn, &b));
	ASSERT_EQ(0, bd_debugfs_wait(self->e.bdf, self->buf, "revoke waiting",
				     10000));
	ASSERT_EQ(0, cli(&self->r, &as_root, "status", self->e.bdf, NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_OUT("  revoked  live mappings 1  attachments 1\n");
	EXPECT_OUT("    revoke waiting for ");
	EXPECT_OUT(" ms (1 waiter(s))\n");
	EXPECT_OUT("  1 mapping(s)  ");
	EXPECT_OUT("STUCK\n");
	EXPECT_OUT("    waits for: mapping: attachment of ");
	ASSERT_EQ(0, cli(&self->r, &as_root, "status", "--json", self->e.bdf,
			 NULL));
	EXPECT_OUT("\"revoke\": {\"state\": \"waiting\", \"waiters\": 1, \"waited_ms\": ");
	EXPECT_OUT("\"stuck\": true");

	/* restore while it waits: refused, the revoke goes on */
	ASSERT_EQ(0, cli(&self->r, &keep, "restore", self->e.bdf, "--fd",
			 fdnum, NULL));
	EXPECT_EQ(CLI_FAIL, self->r.status);
	EXPECT_TRUE(one_line(&self->r)) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "still waiting"))
		TH_LOG("%s", self->r.err);

	EXPECT_EQ(0, imp_unmap(self->e.impfd, h));
	pthread_join(th, NULL);
	EXPECT_EQ(0, b.ret);

	/* a revoke of the CLI that times out: exit 5, status says so */
	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	ASSERT_EQ(0, imp_map(self->e.impfd, h, NULL));
	ASSERT_EQ(0, cli(&self->r, &keep, "revoke", self->e.bdf, "--fd", fdnum,
			 "--timeout", "200", NULL));
	EXPECT_EQ(CLI_TIMEDOUT, self->r.status);
	EXPECT_TRUE(one_line(&self->r)) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "timed out"))
		TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, cli(&self->r, &as_root, "status", self->e.bdf, NULL));
	EXPECT_OUT("    revoke timed out for ");
	EXPECT_EQ(0, imp_unmap(self->e.impfd, h));
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf, "--all",
			 "--timeout", "10000", NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_OUT("revoked 1 buffer(s) of ");
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
}

TEST_F(cli, revoke_and_restore_one_buffer_or_all)
{
	struct cli_opts keep = { 0, self->buf, false };
	char fdnum[16], pidfd[32], block[4096];

	if (self->skipped)
		return;
	snprintf(fdnum, sizeof(fdnum), "%d", self->buf);
	snprintf(pidfd, sizeof(pidfd), "%d:%d", getpid(), self->buf);

	ASSERT_EQ(0, cli(&self->r, &keep, "revoke", self->e.bdf, "--fd", fdnum,
			 NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_OUT("revoked 1 buffer(s) of ");
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, block,
				       sizeof(block)));
	EXPECT_NE(NULL, strstr(block, " revoked\n")) TH_LOG("%s", block);

	ASSERT_EQ(0, cli(&self->r, &keep, "restore", self->e.bdf, "--fd",
			 fdnum, NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_OUT("restored 1 buffer(s) of ");
	EXPECT_UNCHANGED();

	/* fd N of process PID, as root */
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf, "--fd",
			 pidfd, NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, cli(&self->r, &as_root, "restore", self->e.bdf, "--fd",
			 pidfd, NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_UNCHANGED();

	/* every buffer, the default */
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf,
			 "--timeout", "5000", NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, block,
				       sizeof(block)));
	EXPECT_NE(NULL, strstr(block, " revoked\n")) TH_LOG("%s", block);
	ASSERT_EQ(0, cli(&self->r, &as_root, "restore", self->e.bdf, "--all",
			 NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_UNCHANGED();
}

TEST_F(cli, export_hands_the_buffer_to_a_command)
{
	char range2[64], script[512], bdf[32];

	if (self->skipped)
		return;
	snprintf(bdf, sizeof(bdf), "%s", self->e.bdf);
	snprintf(range2, sizeof(range2), "%#llx:4K,%#llx:%llu", 0ULL,
		 2 * BD_PAGE, BD_PAGE);
	/* COMMAND's status is export's */
	ASSERT_EQ(0, cli(&self->r, &as_root, "export", bdf, "--bar", self->bar,
			 "--range", "0:4096", "--quiet", "--", "sh", "-c",
			 "exit 7", NULL));
	EXPECT_EQ(7, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_EQ(0, self->r.err[0]) TH_LOG("--quiet: %s", self->r.err);

	/* the fd is there, its size in the environment, status sees it */
	snprintf(script, sizeof(script),
		 "[ -e /proc/self/fd/$BAR_DMABUF_FD ] && [ \"$BAR_DMABUF_SIZE\" = %llu ] && [ \"$BAR_DMABUF_BDF\" = %s ] && \"$CLI\" status %s | grep -q ' 12 KiB in 3 range(s)  live'",
		 3 * BD_PAGE, bdf, bdf);
	ASSERT_EQ(0, cli(&self->r, &as_root, "export", bdf, "--bar", self->bar,
			 "--range", range2, "--range", "0x3000:0x1000", "--",
			 "sh", "-c", script, NULL));
	EXPECT_EQ(0, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "as fd ")) TH_LOG("%s", self->r.err);

	/* COMMAND revokes and restores its own buffer */
	ASSERT_EQ(0, cli(&self->r, &as_root, "export", bdf, "--bar", self->bar,
			 "--range", "0:4096", "--", "sh", "-c",
			 "\"$CLI\" revoke $BAR_DMABUF_BDF --fd $BAR_DMABUF_FD && \"$CLI\" restore $BAR_DMABUF_BDF --fd $BAR_DMABUF_FD",
			 NULL));
	EXPECT_EQ(0, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_OUT("revoked 1 buffer(s)");
	EXPECT_OUT("restored 1 buffer(s)");

	/* gone with COMMAND */
	EXPECT_UNCHANGED();

	ASSERT_EQ(0, cli(&self->r, &as_root, "export", bdf, "--bar", self->bar,
			 "--range", "0:4096", "--", "/nonexistent/cmd", NULL));
	EXPECT_REFUSED(CLI_NOEXEC, "cannot run /nonexistent/cmd");
	ASSERT_EQ(0, cli(&self->r, &as_root, "export", bdf, "--bar", self->bar,
			 "--range", "0:4096", NULL));
	EXPECT_REFUSED(CLI_USAGE, "give the COMMAND");
}

TEST_F(cli, timeline_draws_one_revoke)
{
	char *row;

	if (self->skipped)
		return;
	ASSERT_EQ(0, cli(&self->r, &as_root, "timeline", self->e.bdf,
			 "--window", "200", NULL));
	ASSERT_EQ(CLI_OK, self->r.status) TH_LOG("%s%s", self->r.out, self->r.err);
	row = strstr(self->r.out, "\n  revoke ioctl ");
	ASSERT_NE(NULL, row) TH_LOG("%s", self->r.out);
	row += strspn(row + 15, " ") + 15;
	EXPECT_EQ('S', *row) TH_LOG("%s", self->r.out);
	row = strstr(self->r.out, "\n  att 1 (holds fence) ");
	ASSERT_NE(NULL, row) TH_LOG("%s", self->r.out);
	row += 22;
	*strchrnul(row, '\n') = '\0';
	/*
	 * The invalidate, late reads, then the fence signal; the unmap is
	 * drawn too unless its stamp came after the return (lib.h,
	 * BD_UNMAP_STAMP_SLACK_NS), when the held line runs to the end.
	 */
	EXPECT_NE(NULL, strchr(row, 'I')) TH_LOG("%s", row);
	EXPECT_NE(NULL, strchr(row, 'L')) TH_LOG("%s", row);
	EXPECT_NE(NULL, strchr(row, 'F')) TH_LOG("%s", row);
	EXPECT_LT(strchr(row, 'I'), strchr(row, 'L')) TH_LOG("%s", row);
	EXPECT_LT(strchr(row, 'L'), strchr(row, 'F')) TH_LOG("%s", row);
	EXPECT_TRUE(strchr(row, 'U') || row[strlen(row) - 1] == '-')
		TH_LOG("%s", row);
	row[strlen(row)] = '\n';
	EXPECT_OUT("\n  att 2 ");
	EXPECT_UNCHANGED();
	ASSERT_EQ(0, cli(&self->r, &as_root, "timeline", self->e.bdf,
			 "--window", "10", NULL));
	EXPECT_REFUSED(CLI_USAGE, "at least 100 ms");
}

TEST_F(cli, bad_numbers_and_ranges_change_nothing)
{
	static const char * const bad_range[][2] = {
		{ "0x1000", "is not OFFSET:LENGTH" },
		{ "0:zz", "is not OFFSET:LENGTH of numbers" },
		{ "-4096:4096", "is not OFFSET:LENGTH of numbers" },
		{ "0:0", "the length is 0" },
		{ "0x10:4096", "multiples of the page size" },
		{ NULL, "ends past the end of BAR" },
	};
	const char *run_it = "touch " RAN_FILE;
	unsigned int i;

	if (self->skipped)
		return;
	for (i = 0; i < ARRAY_SIZE(bad_range); i++) {
		const char *r = bad_range[i][0] ? bad_range[i][0] :
			self->bar_end;

		ASSERT_EQ(0, cli(&self->r, &as_root, "export", self->e.bdf,
				 "--bar", self->bar, "--range", r, "--", "sh",
				 "-c", run_it, NULL));
		EXPECT_REFUSED(CLI_USAGE, bad_range[i][1]);
		EXPECT_NE(0, access(RAN_FILE, F_OK)) TH_LOG("COMMAND ran for --range %s", r);
	}
	ASSERT_EQ(0, cli(&self->r, &as_root, "export", self->e.bdf, "--bar",
			 "x", "--range", "0:4K", "--", "true", NULL));
	EXPECT_REFUSED(CLI_USAGE, "--bar 'x' is not a number from 0 to 5");
	ASSERT_EQ(0, cli(&self->r, &as_root, "export", self->e.bdf, "--bar",
			 "9", "--range", "0:4K", "--", "true", NULL));
	EXPECT_REFUSED(CLI_USAGE, "--bar '9' is not a number from 0 to 5");
	ASSERT_EQ(0, cli(&self->r, &as_root, "export", self->e.bdf, "--range",
			 "0:4K", "--", "true", NULL));
	EXPECT_REFUSED(CLI_USAGE, "give --bar N");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf,
			 "--timeout", "1x", NULL));
	EXPECT_REFUSED(CLI_USAGE, "--timeout '1x' is not a number");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf,
			 "--timeout", "-1", NULL));
	EXPECT_REFUSED(CLI_USAGE, "--timeout '-1' is not a number");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf,
			 "--timeout", "99999999999", NULL));
	EXPECT_REFUSED(CLI_USAGE, "is not a number from 0 to 4294967295");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf, "--fd",
			 "abc", NULL));
	EXPECT_REFUSED(CLI_USAGE, "--fd 'abc' is not a number");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf, "--fd",
			 "999", NULL));
	EXPECT_REFUSED(CLI_USAGE, "this process has no fd 999");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf, "--fd",
			 "1", "--all", NULL));
	EXPECT_REFUSED(CLI_USAGE, "exclude each other");
	/* an fd that is no dma-buf of this device: the kernel says no */
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", self->e.bdf, "--fd",
			 "0", NULL));
	EXPECT_REFUSED(CLI_FAIL, "is not a dma-buf exported by");
	ASSERT_EQ(0, cli(&self->r, &as_root, "restore", self->e.bdf, "--fd",
			 "0", NULL));
	EXPECT_REFUSED(CLI_FAIL, "is not a dma-buf exported by");
}

TEST_F(cli, bad_devices_change_nothing)
{
	const char *imp = bd_env("BAR_DMABUF_IMPORTER_BDF");
	const char *io = bd_env("BAR_DMABUF_IOBAR_BDF");

	if (self->skipped)
		return;
	ASSERT_EQ(0, cli(&self->r, &as_root, "info", "00:zz.0", NULL));
	EXPECT_REFUSED(CLI_USAGE, "is not a PCI address: write DDDD:BB:DD.F");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", "0000:01:00.0x", NULL));
	EXPECT_REFUSED(CLI_USAGE, "is not a PCI address");
	ASSERT_EQ(0, cli(&self->r, &as_root, "info", NULL));
	EXPECT_REFUSED(CLI_USAGE, "which device?");
	ASSERT_EQ(0, cli(&self->r, &as_root, "revoke", "0000:7e:1f.7", NULL));
	EXPECT_REFUSED(CLI_NODEV, "no PCI device 0000:7e:1f.7 on this machine: lspci -D");
	ASSERT_EQ(0, cli(&self->r, &as_root, "status", "0000:7e:1f.7", NULL));
	EXPECT_REFUSED(CLI_NODEV, "no PCI device 0000:7e:1f.7");
	if (imp) {
		char drv[64], want[128];

		ASSERT_EQ(0, bd_driver_of(imp, drv, sizeof(drv)));
		snprintf(want, sizeof(want), "%s is bound to %s, not bar_dmabuf: unbind it",
			 imp, drv);
		ASSERT_EQ(0, cli(&self->r, &as_root, "info", imp, NULL));
		EXPECT_REFUSED(CLI_NODEV, want);
		ASSERT_EQ(0, cli(&self->r, &as_root, "export", imp, "--bar",
				 "0", "--range", "0:4K", "--", "sh", "-c",
				 "touch " RAN_FILE, NULL));
		EXPECT_REFUSED(CLI_NODEV, want);
		EXPECT_NE(0, access(RAN_FILE, F_OK));
	}
	if (io) {
		struct bar_dmabuf_info info;
		char bar[16];
		int fd, b;

		fd = bd_open_dev(io);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, bd_info(fd, &info));
		close(fd);
		b = bd_pick_io_bar(&info);
		ASSERT_LE(0, b);
		snprintf(bar, sizeof(bar), "%d", b);
		ASSERT_EQ(0, cli(&self->r, &as_root, "export", io, "--bar", bar,
				 "--range", "0:4K", "--", "true", NULL));
		EXPECT_REFUSED(CLI_USAGE, "is an I/O port BAR: only memory BARs");
		ASSERT_EQ(0, cli(&self->r, &as_root, "export", io, "--bar", "5",
				 "--range", "0:4K", "--", "true", NULL));
		EXPECT_REFUSED(CLI_USAGE, "has no BAR5");
	}
}

TEST_F(cli, unprivileged_and_no_debugfs)
{
	struct cli_opts nobody = { NOBODY, -1, false };
	struct cli_opts nodbg = { 0, -1, true };
	struct stat st;

	if (self->skipped)
		return;
	/*
	 * The test VM's initramfs root is mode 0700 (privilege_test.c): let
	 * nobody walk it, as on a real box, until the teardown.
	 */
	ASSERT_EQ(0, stat("/", &st));
	if (!(st.st_mode & 0001)) {
		self->root_mode = st.st_mode & 07777;
		ASSERT_EQ(0, chmod("/", self->root_mode | 0005));
		self->root_widened = true;
	}
	ASSERT_EQ(0, cli(&self->r, &nobody, "info", self->e.bdf, NULL));
	EXPECT_REFUSED(CLI_PERM, "permission denied opening " BD_DEV_DIR "/");
	EXPECT_NE(NULL, strstr(self->r.err, "udev rule")) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, cli(&self->r, &nobody, "revoke", self->e.bdf, NULL));
	EXPECT_REFUSED(CLI_PERM, "permission denied");
	ASSERT_EQ(0, cli(&self->r, &nobody, "export", self->e.bdf, "--bar",
			 self->bar, "--range", "0:4K", "--", "true", NULL));
	EXPECT_REFUSED(CLI_PERM, "permission denied");
	ASSERT_EQ(0, cli(&self->r, &nobody, "status", self->e.bdf, NULL));
	EXPECT_REFUSED(CLI_PERM, "status reads debugfs, run it as root");
	/* list works for anyone, without the buffer counts */
	ASSERT_EQ(0, cli(&self->r, &nobody, "list", NULL));
	EXPECT_EQ(CLI_OK, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_OUT("debugfs not readable");

	ASSERT_EQ(0, cli(&self->r, &nodbg, "status", NULL));
	EXPECT_REFUSED(CLI_NODEV, "debugfs is not mounted: mount it with mount -t debugfs");
}

/* BAR_DMABUF_BDF2, unbound: in bdf=, bound to nothing. */
TEST_F(cli, device_bound_to_no_driver)
{
	const char *bdf2 = bd_env("BAR_DMABUF_BDF2");
	char path[256];

	if (self->skipped)
		return;
	if (!bdf2 || bd_precondition_bdf(bdf2, false))
		SKIP(return, "no BAR_DMABUF_BDF2 bound to bar_dmabuf");
	ASSERT_EQ(0, bd_write_file(BD_DRIVER_DIR "/unbind", bdf2));
	ASSERT_EQ(0, cli(&self->r, &as_root, "info", bdf2, NULL));
	EXPECT_REFUSED(CLI_NODEV,
		       "is in bar_dmabuf's bdf= but bound to no driver: bind it with echo");
	ASSERT_EQ(0, cli(&self->r, &as_root, "list", NULL));
	EXPECT_OUT("  (in bdf=, not bound: bound to no driver)\n");
	ASSERT_EQ(0, bd_rebind(bdf2));
	snprintf(path, sizeof(path), BD_DEV_DIR "/%s", bdf2);
	EXPECT_EQ(0, bd_wait_path(path, true, 10000));
}

/* timeline without the test importer: unload it, ask, load it again */
TEST_F(cli, importer_not_loaded)
{
	char bdf[256] = "", arg[300];
	char *rm[3], *mp[4];
	int ret;

	if (self->skipped)
		return;
	bd_read_file("/sys/module/bar_dmabuf_importer/parameters/bdf", bdf,
		     sizeof(bdf));
	bdf[strcspn(bdf, "\n")] = '\0';
	snprintf(arg, sizeof(arg), "bdf=%s", bdf);
	close(self->buf);
	self->buf = -1;
	bd_close(&self->e.impfd);
	rm[0] = "rmmod";
	rm[1] = "bar_dmabuf_importer";
	rm[2] = NULL;
	mp[0] = "modprobe";
	mp[1] = "bar_dmabuf_importer";
	mp[2] = bdf[0] && strcmp(bdf, "(null)") ? arg : NULL;
	mp[3] = NULL;
	ret = bd_run(rm);
	if (ret)
		SKIP(return, "rmmod bar_dmabuf_importer failed (%d): something holds it", ret);
	ASSERT_EQ(0, cli(&self->r, &as_root, "timeline", self->e.bdf, NULL));
	EXPECT_EQ(CLI_NODEV, self->r.status) TH_LOG("%s", self->r.err);
	EXPECT_TRUE(one_line(&self->r)) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "the test importer is not loaded: "))
		TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "modprobe bar_dmabuf_importer"))
		TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, bd_run(mp));
	EXPECT_EQ(0, bd_wait_path(BD_IMP_NODE, true, 10000));
}

/*
 * Last: unload bar_dmabuf (if nothing else holds it) and ask, then load it
 * again as it was.
 */
TEST_F(cli, module_not_loaded)
{
	char bdfs[1024], p2p[16], arg1[1100], arg2[64], path[256];
	char *rm[3], *mp[5];
	int ret;

	if (self->skipped)
		return;
	ASSERT_LE(0, bd_read_file("/sys/module/bar_dmabuf/parameters/bdf",
				  bdfs, sizeof(bdfs)));
	ASSERT_LE(0, bd_read_file("/sys/module/bar_dmabuf/parameters/allow_unproven_p2p",
				  p2p, sizeof(p2p)));
	bdfs[strcspn(bdfs, "\n")] = '\0';
	p2p[strcspn(p2p, "\n")] = '\0';
	snprintf(arg1, sizeof(arg1), "bdf=%s", bdfs);
	snprintf(arg2, sizeof(arg2), "allow_unproven_p2p=%s", p2p);
	close(self->buf);
	self->buf = -1;
	bd_env_close(&self->e);

	rm[0] = "rmmod";
	rm[1] = "bar_dmabuf";
	rm[2] = NULL;
	mp[0] = "modprobe";
	mp[1] = "bar_dmabuf";
	mp[2] = arg1;
	mp[3] = arg2;
	mp[4] = NULL;
	ret = bd_run(rm);
	if (ret)
		SKIP(return, "rmmod bar_dmabuf failed (%d): something holds it", ret);
	ASSERT_EQ(0, cli(&self->r, &as_root, "info", bd_env("BAR_DMABUF_BDF"),
			 NULL));
	EXPECT_EQ(CLI_NODEV, self->r.status);
	EXPECT_TRUE(one_line(&self->r)) TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "the bar_dmabuf module is not loaded: "))
		TH_LOG("%s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "load it with modprobe bar_dmabuf bdf="))
		TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, cli(&self->r, &as_root, "list", NULL));
	EXPECT_EQ(CLI_NODEV, self->r.status);
	EXPECT_TRUE(one_line(&self->r)) TH_LOG("%s", self->r.err);
	ASSERT_EQ(0, cli(&self->r, &as_root, "status", NULL));
	EXPECT_EQ(CLI_NODEV, self->r.status);

	ASSERT_EQ(0, bd_run(mp));
	snprintf(path, sizeof(path), BD_DEV_DIR "/%s", bd_env("BAR_DMABUF_BDF"));
	EXPECT_EQ(0, bd_wait_path(path, true, 10000));
}

TEST_HARNESS_MAIN
