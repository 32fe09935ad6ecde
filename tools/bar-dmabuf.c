// SPDX-License-Identifier: GPL-2.0
/*
 * bar-dmabuf: the command a user of a test box reaches for, over the
 * bar_dmabuf exporter's control nodes, its debugfs files and sysfs.
 *
 *   bar-dmabuf list | info BDF | status [BDF] | export BDF ... -- COMMAND
 *   bar-dmabuf revoke BDF | restore BDF | timeline BDF
 *
 * `bar-dmabuf COMMAND --help` and bar-dmabuf(8) tell each command. Every
 * check of the input is done before anything changes: a bad BDF, number or
 * range, a missing module, a device bound elsewhere or a refused open ends
 * with one line (the problem and the fix) and a documented exit status.
 * Static, so the same binary runs in the test VM (no libc there).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/types.h>

#include <linux/bar_dmabuf.h>
#include <linux/bar_dmabuf_importer.h>

#include "timeline.h"

/* Exit statuses (bar-dmabuf(8), EXIT STATUS). */
enum {
	EX_OK = 0,
	EX_FAIL = 1,		/* the kernel refused or failed the request */
	EX_USAGE = 2,		/* bad command line: syntax, number, range */
	EX_NODEV = 3,		/* module, device, driver or debugfs missing */
	EX_PERM = 4,		/* permission denied */
	EX_TIMEDOUT = 5,	/* a revoke timed out: buffers stay revoked */
	EX_NOEXEC = 127,	/* export: COMMAND could not be run */
};

#define DEV_DIR		"/dev/bar_dmabuf"
#define IMP_NODE	"/dev/bar_dmabuf_importer"
#define SYS_PCI		"/sys/bus/pci/devices"
#define SYS_DRV		"/sys/bus/pci/drivers/bar_dmabuf"
#define SYS_MOD		"/sys/module/bar_dmabuf"
#define DEBUGFS		"/sys/kernel/debug"
#define DEBUGFS_DIR	DEBUGFS "/bar_dmabuf"
#define DEBUGFS_MAGIC	0x64626720
#define BDF_LEN		32

static const char *prog = "bar-dmabuf";
static const char *cmd_name = "";
static bool json;

/* One line on stderr naming the problem and the fix, then exit. */
static void __attribute__((noreturn, format(printf, 2, 3)))
fail(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* ---- usage ---- */

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
	const char *help;
};

static const struct command *find_command(const char *name);

static const char exit_help[] =
	"Exit status: 0 done; 1 the kernel refused or failed it (the message says\n"
	"why); 2 bad command line; 3 module, device, driver or debugfs missing;\n"
	"4 permission denied; 5 a revoke timed out (the buffers stay revoked);\n"
	"export: COMMAND's own status (127 if it could not be run, 128+N if\n"
	"signal N killed it).\n";

static void print_usage(FILE *f);

static void __attribute__((noreturn)) usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s%s", prog, cmd_name, *cmd_name ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%s %s%s--help)\n", prog, cmd_name,
		*cmd_name ? " " : "");
	exit(EX_USAGE);
}

static void __attribute__((noreturn)) command_help(void)
{
	const struct command *c = find_command(cmd_name);

	printf("usage: %s\n\n%s\n%s", c->synopsis, c->help, exit_help);
	exit(EX_OK);
}

/* ---- numbers, BDFs ---- */

/*
 * A number in C syntax (4096, 0x1000, 010), optionally followed by K, M or
 * G (KiB, MiB, GiB) when @suffix; no sign, nothing after it, at most @max.
 */
static int parse_u64(const char *s, bool suffix, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	if (suffix && *end) {
		switch (*end) {
		case 'k': case 'K':
			shift = 10;
			break;
		case 'm': case 'M':
			shift = 20;
			break;
		case 'g': case 'G':
			shift = 30;
			break;
		default:
			return -1;
		}
		end++;
		if (v > (UINT64_MAX >> shift))
			return -1;
		v <<= shift;
	}
	if (*end || v > max)
		return -1;
	*out = v;
	return 0;
}

static uint64_t num_arg(const char *opt, const char *s, uint64_t max,
			const char *example)
{
	uint64_t v;

	if (parse_u64(s, false, max, &v))
		usage_error("%s '%s' is not a number from 0 to %llu: write e.g. %s %s",
			    opt, s, (unsigned long long)max, opt, example);
	return v;
}

/*
 * "DDDD:BB:DD.F" or "BB:DD.F", hex; written back as lspci -D does.
 * Returns 0, or -1 if @s is not a PCI address.
 */
static int parse_bdf(const char *s, char out[BDF_LEN])
{
	unsigned int dom = 0, bus, dev, fn;
	int n = -1;

	if (!*s || s[strspn(s, "0123456789abcdefABCDEF:.")])
		return -1;
	if (sscanf(s, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &n) != 4 ||
	    s[n]) {
		dom = 0;
		n = -1;
		if (sscanf(s, "%x:%x.%x%n", &bus, &dev, &fn, &n) != 3 || s[n])
			return -1;
	}
	if (dom > INT_MAX || bus > 0xff || dev > 0x1f || fn > 7)
		return -1;
	snprintf(out, BDF_LEN, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

static void bdf_arg(const char *s, char out[BDF_LEN])
{
	if (parse_bdf(s, out))
		usage_error("'%s' is not a PCI address: write DDDD:BB:DD.F as lspci -D prints it, e.g. 0000:03:00.0",
			    s);
}

static bool is_bdf_name(const char *s)
{
	char tmp[BDF_LEN];

	return !parse_bdf(s, tmp) && !strcmp(tmp, s);
}

/* Copy @s into @d of @n bytes, cut if longer. */
static void copy_str(char *d, size_t n, const char *s)
{
	size_t l = 0;

	while (l + 1 < n && s[l]) {
		d[l] = s[l];
		l++;
	}
	d[l] = '\0';
}

/* ---- sysfs ---- */

static bool path_exists(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

/* The first line of @path into @buf, without its newline; 0 or -errno. */
static int read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The driver @bdf is bound to, "" if none. */
static void driver_of(const char *bdf, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	char *slash;

	snprintf(path, sizeof(path), SYS_PCI "/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		buf[0] = '\0';
		return;
	}
	link[n] = '\0';
	slash = strrchr(link, '/');
	copy_str(buf, len, slash ? slash + 1 : link);
}

static void module_bdf_param(char *buf, size_t len)
{
	if (read_line(SYS_MOD "/parameters/bdf", buf, len))
		buf[0] = '\0';
}

static bool in_list(const char *list, const char *bdf)
{
	char copy[1024], *tok, *save;

	copy_str(copy, sizeof(copy), list);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char norm[BDF_LEN];

		while (isspace((unsigned char)*tok))
			tok++;
		if (!parse_bdf(tok, norm) && !strcmp(norm, bdf))
			return true;
	}
	return false;
}

static void need_module(void)
{
	if (!path_exists(SYS_MOD))
		fail(EX_NODEV, "the bar_dmabuf module is not loaded: load it with modprobe bar_dmabuf bdf=DDDD:BB:DD.F (the device's address, lspci -D)");
}

/*
 * Everything that must hold before @bdf's node can be used, each failure
 * with its fix: the module, the device, its driver.
 */
static void check_device(const char *bdf)
{
	char drv[64], param[1024];

	need_module();
	if (!path_exists(SYS_PCI) || !*bdf)
		fail(EX_NODEV, "no %s: is sysfs mounted? (mount -t sysfs none /sys)",
		     SYS_PCI);
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), SYS_PCI "/%s", bdf);
		if (!path_exists(path))
			fail(EX_NODEV, "no PCI device %s on this machine: lspci -D lists the addresses, bar-dmabuf list the bound ones",
			     bdf);
	}
	driver_of(bdf, drv, sizeof(drv));
	if (!strcmp(drv, "bar_dmabuf"))
		return;
	module_bdf_param(param, sizeof(param));
	if (*drv)
		fail(EX_NODEV, "%s is bound to %s, not bar_dmabuf: unbind it (echo %s > " SYS_PCI "/%s/driver/unbind) and give it to bar_dmabuf's bdf=",
		     bdf, drv, bdf, bdf);
	if (in_list(param, bdf))
		fail(EX_NODEV, "%s is in bar_dmabuf's bdf= but bound to no driver: bind it with echo %s > " SYS_DRV "/bind",
		     bdf, bdf);
	fail(EX_NODEV, "%s is not in bar_dmabuf's bdf= (%s): reload it with modprobe -r bar_dmabuf && modprobe bar_dmabuf bdf=%s%s%s",
	     bdf, *param ? param : "empty", param, *param ? "," : "", bdf);
}

/* Open @bdf's control node, after check_device(). */
static int open_node(const char *bdf, int flags)
{
	char path[PATH_MAX];
	int fd;

	check_device(bdf);
	snprintf(path, sizeof(path), DEV_DIR "/%s", bdf);
	fd = open(path, flags | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == EACCES || errno == EPERM)
		fail(EX_PERM, "permission denied opening %s: run as root, or let a group in with a udev rule (60-bar-dmabuf.rules, bar-dmabuf(8))",
		     path);
	if (errno == ENOENT)
		fail(EX_NODEV, "%s is bound to bar_dmabuf but %s is missing: mount devtmpfs on /dev (mount -t devtmpfs none /dev)",
		     bdf, path);
	fail(EX_FAIL, "cannot open %s: %s", path, strerror(errno));
}

static void do_info(int fd, const char *bdf, struct bar_dmabuf_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	if (ioctl(fd, BAR_DMABUF_IOCTL_INFO, info))
		fail(EX_FAIL, "INFO of %s failed: %s", bdf, strerror(errno));
}

/* ---- output helpers ---- */

static void fmt_size(unsigned long long sz, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (sz >= 1024 && !(sz % 1024) && u < 4) {
		sz /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu %s", sz, unit[u]);
}

/* A JSON string, quoted and escaped. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

/* Options every command takes: --help, --json (where @json_ok). */
static bool common_opt(const char *a, bool json_ok)
{
	if (!strcmp(a, "--help") || !strcmp(a, "-h"))
		command_help();
	if (!strcmp(a, "--json")) {
		if (!json_ok)
			usage_error("--json is for list, info and status");
		json = true;
		return true;
	}
	return false;
}

/* ---- info ---- */

static int cmd_info(int argc, char **argv)
{
	struct bar_dmabuf_info info;
	char bdf[BDF_LEN] = "";
	unsigned int i;
	int fd, n = 0;

	for (i = 0; i < (unsigned int)argc; i++) {
		if (common_opt(argv[i], true))
			continue;
		if (argv[i][0] == '-')
			usage_error("unknown option '%s'", argv[i]);
		if (n++)
			usage_error("one BDF only");
		bdf_arg(argv[i], bdf);
	}
	if (!n)
		usage_error("which device? give its BDF");
	fd = open_node(bdf, O_RDONLY);
	do_info(fd, bdf, &info);
	close(fd);

	if (json) {
		bool first = true;

		printf("{\"bdf\": ");
		json_str(bdf);
		printf(", \"vendor\": \"%04x\", \"device\": \"%04x\", \"revoke_timeout_ms\": %u, \"bars\": [",
		       info.out_vendor, info.out_device,
		       info.out_default_timeout_ms);
		for (i = 0; i < info.out_num_bars && i < BAR_DMABUF_NUM_BARS; i++) {
			const struct bar_dmabuf_bar *b = &info.out_bars[i];

			if (!b->size)
				continue;
			printf("%s{\"index\": %u, \"size\": %llu, \"memory\": %s, \"io\": %s, \"64bit\": %s, \"prefetchable\": %s, \"write_combined\": %s}",
			       first ? "" : ", ", b->index,
			       (unsigned long long)b->size,
			       tf(b->flags & BAR_DMABUF_BAR_MEM),
			       tf(b->flags & BAR_DMABUF_BAR_IO),
			       tf(b->flags & BAR_DMABUF_BAR_64BIT),
			       tf(b->flags & BAR_DMABUF_BAR_PREFETCH),
			       tf(b->flags & BAR_DMABUF_BAR_WC));
			first = false;
		}
		printf("]}\n");
		return EX_OK;
	}
	printf("%s  vendor %04x  device %04x  revoke timeout %u ms\n", bdf,
	       info.out_vendor, info.out_device, info.out_default_timeout_ms);
	for (i = 0; i < info.out_num_bars && i < BAR_DMABUF_NUM_BARS; i++) {
		const struct bar_dmabuf_bar *b = &info.out_bars[i];
		char sz[32];

		if (!b->size)
			continue;
		fmt_size(b->size, sz, sizeof(sz));
		printf("  BAR%u  %-10s %#14llx  %s%s%s%s%s\n", b->index, sz,
		       (unsigned long long)b->size,
		       b->flags & BAR_DMABUF_BAR_MEM ? "mem" : "",
		       b->flags & BAR_DMABUF_BAR_IO ? "io (not exportable)" : "",
		       b->flags & BAR_DMABUF_BAR_64BIT ? " 64-bit" : "",
		       b->flags & BAR_DMABUF_BAR_PREFETCH ? " prefetchable" : "",
		       b->flags & BAR_DMABUF_BAR_WC ? " write-combined" : "");
	}
	return EX_OK;
}

/* ---- debugfs: the buffers file, parsed ---- */

#define MAX_ATT		16
#define MAX_STUCK	16
#define MAX_RANGES	BAR_DMABUF_MAX_RANGES

struct att {
	char dev[64], drv[64], path[32], route[32];
	int maps, pins;
	bool stuck;
};

struct buf {
	unsigned int id, bar;
	unsigned long long size, inode;
	char state[16];
	bool by_reset;
	unsigned int nr_ranges;
	unsigned long long phys[MAX_RANGES], len[MAX_RANGES];
	int live_maps;
	char revoke[16];	/* "", "waiting", "timed out" */
	unsigned int waiters;
	long long revoke_ms;
	unsigned int nr_att;
	struct att att[MAX_ATT];
	unsigned int nr_stuck;
	char stuck[MAX_STUCK][256];
};

struct devstate {
	char bdf[BDF_LEN];
	char flags[64];		/* "", "gone", "resetting", ... */
	unsigned int nr;
	struct buf *bufs;
};

static void need_debugfs(void)
{
	struct statfs sfs;

	if (statfs(DEBUGFS, &sfs) || sfs.f_type != DEBUGFS_MAGIC)
		fail(EX_NODEV, "debugfs is not mounted: mount it with mount -t debugfs none " DEBUGFS);
	if (access(DEBUGFS_DIR, R_OK | X_OK)) {
		if (errno == EACCES || errno == EPERM)
			fail(EX_PERM, "permission denied reading " DEBUGFS_DIR ": status reads debugfs, run it as root");
		fail(EX_NODEV, "no " DEBUGFS_DIR " although bar_dmabuf is loaded: was the kernel built with CONFIG_DEBUG_FS?");
	}
}

/* Parse DEBUGFS_DIR/<bdf>/buffers into @ds; 0 or -errno. */
static int read_state(const char *bdf, struct devstate *ds)
{
	char path[PATH_MAX], line[512];
	struct buf *b = NULL;
	FILE *f;

	memset(ds, 0, sizeof(*ds));
	copy_str(ds->bdf, sizeof(ds->bdf), bdf);
	snprintf(path, sizeof(path), DEBUGFS_DIR "/%s/buffers", bdf);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned int id, bar, i, n;
		unsigned long long size, ino, ph, ln;
		char state[32] = "", rest[64] = "", *p;
		struct att *a;

		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "device ", 7)) {
			p = strchr(line + 7, ' ');
			if (p) {
				while (*p == ' ')
					p++;
				copy_str(ds->flags, sizeof(ds->flags), p);
			}
			continue;
		}
		if (sscanf(line, "buffer %u: bar %u size %llu inode %llu %31s %63[^\n]",
			   &id, &bar, &size, &ino, state, rest) >= 5) {
			struct buf *nb = realloc(ds->bufs,
						 (ds->nr + 1) * sizeof(*nb));

			if (!nb) {
				fclose(f);
				return -ENOMEM;
			}
			ds->bufs = nb;
			b = &ds->bufs[ds->nr++];
			memset(b, 0, sizeof(*b));
			b->id = id;
			b->bar = bar;
			b->size = size;
			b->inode = ino;
			copy_str(b->state, sizeof(b->state), state);
			b->by_reset = strstr(rest, "by reset");
			continue;
		}
		if (!b)
			continue;
		if (sscanf(line, "  range %u: phys %llx length %llu", &i, &ph,
			   &ln) == 3) {
			if (b->nr_ranges < MAX_RANGES) {
				b->phys[b->nr_ranges] = ph;
				b->len[b->nr_ranges++] = ln;
			}
		} else if (sscanf(line, "  live mappings: %d", &b->live_maps) == 1) {
			continue;
		} else if (!strncmp(line, "  revoke waiting:", 17) ||
			   !strncmp(line, "  revoke timed out:", 19)) {
			copy_str(b->revoke, sizeof(b->revoke),
				 line[9] == 'w' ? "waiting" : "timed out");
			p = strchr(line, ':');
			if (p && sscanf(p + 1, " %u waiter(s), started %lld ms ago",
					&b->waiters, &b->revoke_ms) != 2)
				b->revoke_ms = -1;
		} else if (!strncmp(line, "  attachment ", 13) &&
			   b->nr_att < MAX_ATT) {
			a = &b->att[b->nr_att];
			memset(a, 0, sizeof(*a));
			n = sscanf(line, "  attachment %63s (%63[^)]): %31[^,], %d mapping(s), %d pin(s), route %31[^<]",
				   a->dev, a->drv, a->path, &a->maps, &a->pins,
				   a->route);
			if (n < 5)
				continue;
			a->route[strcspn(a->route, "\n")] = '\0';
			for (p = a->route + strlen(a->route);
			     p > a->route && p[-1] == ' '; p--)
				p[-1] = '\0';
			a->stuck = strstr(line, "<- stuck");
			b->nr_att++;
		} else if (!strncmp(line, "  stuck: ", 9) &&
			   b->nr_stuck < MAX_STUCK) {
			copy_str(b->stuck[b->nr_stuck++], sizeof(b->stuck[0]),
				 line + 9);
		}
	}
	fclose(f);
	return 0;
}

/* The devices bound to bar_dmabuf, sorted; returns how many. */
static unsigned int bound_devices(char (**out)[BDF_LEN])
{
	char (*list)[BDF_LEN] = NULL;
	unsigned int n = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	d = opendir(SYS_DRV);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		void *nl;

		if (!is_bdf_name(de->d_name))
			continue;
		nl = realloc(list, (n + 1) * sizeof(*list));
		if (!nl)
			break;
		list = nl;
		copy_str(list[n++], BDF_LEN, de->d_name);
	}
	closedir(d);
	qsort(list, n, BDF_LEN, (int (*)(const void *, const void *))strcmp);
	*out = list;
	return n;
}

/* ---- list ---- */

static int cmd_list(int argc, char **argv)
{
	char (*bdfs)[BDF_LEN], param[1024], *tok, *save;
	bool dbg, first = true;
	unsigned int i, n;

	for (i = 0; i < (unsigned int)argc; i++) {
		if (common_opt(argv[i], true))
			continue;
		usage_error("list takes no argument ('%s')", argv[i]);
	}
	need_module();
	n = bound_devices(&bdfs);
	dbg = !access(DEBUGFS_DIR, R_OK | X_OK);

	if (json)
		printf("{\"devices\": [");
	else if (n)
		printf("%-14s %-11s %-8s %s\n", "BDF", "VENDOR:DEV", "BUFFERS",
		       "NODE");
	else
		printf("no device is bound to bar_dmabuf\n");
	for (i = 0; i < n; i++) {
		char p[PATH_MAX], ven[16] = "", dev[16] = "", node[PATH_MAX];
		struct devstate ds;
		int nbuf = -1;

		snprintf(p, sizeof(p), SYS_PCI "/%s/vendor", bdfs[i]);
		read_line(p, ven, sizeof(ven));
		snprintf(p, sizeof(p), SYS_PCI "/%s/device", bdfs[i]);
		read_line(p, dev, sizeof(dev));
		snprintf(node, sizeof(node), DEV_DIR "/%s", bdfs[i]);
		if (!path_exists(node))
			snprintf(node, sizeof(node), "(no node)");
		if (dbg && !read_state(bdfs[i], &ds)) {
			nbuf = ds.nr;
			free(ds.bufs);
		}
		if (json) {
			printf("%s{\"bdf\": ", i ? ", " : "");
			json_str(bdfs[i]);
			printf(", \"vendor\": \"%s\", \"device\": \"%s\", \"node\": ",
			       ven + (ven[1] == 'x' ? 2 : 0),
			       dev + (dev[1] == 'x' ? 2 : 0));
			json_str(node);
			if (nbuf >= 0)
				printf(", \"buffers\": %d}", nbuf);
			else
				printf(", \"buffers\": null}");
			continue;
		}
		snprintf(p, sizeof(p), "%s:%s", ven + (ven[1] == 'x' ? 2 : 0),
			 dev + (dev[1] == 'x' ? 2 : 0));
		if (nbuf >= 0)
			printf("%-14s %-11s %-8d %s\n", bdfs[i], p, nbuf, node);
		else
			printf("%-14s %-11s %-8s %s\n", bdfs[i], p, "?", node);
	}

	/* bdf= entries that are not bound, and why */
	module_bdf_param(param, sizeof(param));
	if (json)
		printf("], \"not_bound\": [");
	for (tok = strtok_r(param, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char norm[BDF_LEN], drv[64], p[PATH_MAX], why[128];

		if (parse_bdf(tok, norm))
			continue;
		driver_of(norm, drv, sizeof(drv));
		if (!strcmp(drv, "bar_dmabuf"))
			continue;
		snprintf(p, sizeof(p), SYS_PCI "/%s", norm);
		if (!path_exists(p))
			snprintf(why, sizeof(why), "no such device");
		else if (*drv)
			snprintf(why, sizeof(why), "bound to %s", drv);
		else
			snprintf(why, sizeof(why), "bound to no driver");
		if (json) {
			printf("%s{\"bdf\": ", first ? "" : ", ");
			json_str(norm);
			printf(", \"why\": ");
			json_str(why);
			printf("}");
		} else {
			printf("%s%s  (in bdf=, not bound: %s)\n",
			       first ? "\n" : "", norm, why);
		}
		first = false;
	}
	if (json)
		printf("]}\n");
	else if (n && !dbg)
		printf("(BUFFERS ? : debugfs not readable; mount it, run as root)\n");
	free(bdfs);
	return EX_OK;
}

/* ---- status ---- */

static void status_json(const struct devstate *ds,
			const struct bar_dmabuf_info *info)
{
	unsigned int i, j;

	printf("{\"bdf\": ");
	json_str(ds->bdf);
	printf(", \"state\": ");
	json_str(*ds->flags ? ds->flags : "bound");
	if (info)
		printf(", \"vendor\": \"%04x\", \"device\": \"%04x\", \"revoke_timeout_ms\": %u",
		       info->out_vendor, info->out_device,
		       info->out_default_timeout_ms);
	printf(", \"buffers\": [");
	for (i = 0; i < ds->nr; i++) {
		const struct buf *b = &ds->bufs[i];

		printf("%s{\"id\": %u, \"bar\": %u, \"size\": %llu, \"inode\": %llu, \"state\": ",
		       i ? ", " : "", b->id, b->bar, b->size, b->inode);
		json_str(b->state);
		printf(", \"revoked_by_reset\": %s, \"live_mappings\": %d, \"ranges\": [",
		       tf(b->by_reset), b->live_maps);
		for (j = 0; j < b->nr_ranges; j++)
			printf("%s{\"phys\": %llu, \"length\": %llu}",
			       j ? ", " : "", b->phys[j], b->len[j]);
		printf("], \"revoke\": ");
		if (*b->revoke) {
			printf("{\"state\": ");
			json_str(b->revoke);
			printf(", \"waiters\": %u, \"waited_ms\": %lld}",
			       b->waiters, b->revoke_ms);
		} else {
			printf("null");
		}
		printf(", \"attachments\": [");
		for (j = 0; j < b->nr_att; j++) {
			const struct att *a = &b->att[j];

			printf("%s{\"device\": ", j ? ", " : "");
			json_str(a->dev);
			printf(", \"driver\": ");
			json_str(a->drv);
			printf(", \"path\": ");
			json_str(a->path);
			printf(", \"mappings\": %d, \"pins\": %d, \"route\": ",
			       a->maps, a->pins);
			json_str(a->route);
			printf(", \"stuck\": %s}", tf(a->stuck));
		}
		printf("], \"stuck\": [");
		for (j = 0; j < b->nr_stuck; j++) {
			printf("%s", j ? ", " : "");
			json_str(b->stuck[j]);
		}
		printf("]}");
	}
	printf("]}");
}

static void status_text(const struct devstate *ds,
			const struct bar_dmabuf_info *info)
{
	unsigned int i, j;
	char sz[32];

	printf("%s", ds->bdf);
	if (info)
		printf("  vendor %04x  device %04x  revoke timeout %u ms",
		       info->out_vendor, info->out_device,
		       info->out_default_timeout_ms);
	if (*ds->flags)
		printf("  %s", ds->flags);
	printf("\n");
	if (!ds->nr)
		printf("  no buffers\n");
	for (i = 0; i < ds->nr; i++) {
		const struct buf *b = &ds->bufs[i];

		fmt_size(b->size, sz, sizeof(sz));
		printf("  buffer %u  BAR%u  %s in %u range(s)  %s%s  live mappings %d  attachments %u\n",
		       b->id, b->bar, sz, b->nr_ranges, b->state,
		       b->by_reset ? " (by reset)" : "", b->live_maps,
		       b->nr_att);
		if (*b->revoke)
			printf("    revoke %s for %lld ms (%u waiter(s))\n",
			       b->revoke, b->revoke_ms, b->waiters);
		for (j = 0; j < b->nr_ranges; j++) {
			fmt_size(b->len[j], sz, sizeof(sz));
			printf("    range %u  phys %#llx  %s\n", j, b->phys[j],
			       sz);
		}
		for (j = 0; j < b->nr_att; j++) {
			const struct att *a = &b->att[j];

			printf("    attachment %s (%s)  %s  %d mapping(s)  %d pin(s)  route %s%s\n",
			       a->dev, a->drv, a->path, a->maps, a->pins,
			       a->route, a->stuck ? "  STUCK" : "");
		}
		for (j = 0; j < b->nr_stuck; j++)
			printf("    waits for: %s\n", b->stuck[j]);
	}
}

static bool revoke_pending(const struct devstate *ds)
{
	unsigned int i;

	for (i = 0; i < ds->nr; i++)
		if (*ds->bufs[i].revoke)
			return true;
	return false;
}

static int cmd_status(int argc, char **argv)
{
	char (*bdfs)[BDF_LEN] = NULL, one[BDF_LEN];
	unsigned int i, n = 0;

	for (i = 0; i < (unsigned int)argc; i++) {
		if (common_opt(argv[i], true))
			continue;
		if (argv[i][0] == '-')
			usage_error("unknown option '%s'", argv[i]);
		if (n++)
			usage_error("one BDF at most");
		bdf_arg(argv[i], one);
	}
	if (n) {
		check_device(one);
		bdfs = malloc(BDF_LEN);
		if (!bdfs)
			fail(EX_FAIL, "out of memory");
		memcpy(bdfs[0], one, BDF_LEN);
	} else {
		need_module();
		n = bound_devices(&bdfs);
	}
	need_debugfs();

	if (json)
		printf("{\"devices\": [");
	else if (!n)
		printf("no device is bound to bar_dmabuf\n");
	for (i = 0; i < n; i++) {
		struct bar_dmabuf_info info, *ip = NULL;
		struct devstate ds;
		char node[PATH_MAX];
		int ret, fd;

		ret = read_state(bdfs[i], &ds);
		if (ret == -EACCES || ret == -EPERM)
			fail(EX_PERM, "permission denied reading " DEBUGFS_DIR "/%s/buffers: run status as root",
			     bdfs[i]);
		if (ret)
			fail(EX_FAIL, "cannot read " DEBUGFS_DIR "/%s/buffers: %s",
			     bdfs[i], strerror(-ret));
		/*
		 * INFO opens the node; its last close revokes what is left
		 * and would wait for a pending revoke. Skip it then.
		 */
		snprintf(node, sizeof(node), DEV_DIR "/%s", bdfs[i]);
		if (!revoke_pending(&ds)) {
			fd = open(node, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				memset(&info, 0, sizeof(info));
				info.size = sizeof(info);
				if (!ioctl(fd, BAR_DMABUF_IOCTL_INFO, &info))
					ip = &info;
				close(fd);
			}
		}
		if (json) {
			printf("%s", i ? ", " : "");
			status_json(&ds, ip);
		} else {
			status_text(&ds, ip);
		}
		free(ds.bufs);
	}
	if (json)
		printf("]}\n");
	free(bdfs);
	return EX_OK;
}

/* ---- export ---- */

static void check_bar(const struct bar_dmabuf_info *info, const char *bdf,
		      uint64_t bar)
{
	const struct bar_dmabuf_bar *b;

	if (bar >= BAR_DMABUF_NUM_BARS)
		usage_error("--bar %llu: a PCI function has BARs 0 to 5",
			    (unsigned long long)bar);
	b = &info->out_bars[bar];
	if (!b->size)
		usage_error("%s has no BAR%llu (or it is the upper half of a 64-bit BAR): bar-dmabuf info %s lists them",
			    bdf, (unsigned long long)bar, bdf);
	if (!(b->flags & BAR_DMABUF_BAR_MEM))
		usage_error("BAR%llu of %s is an I/O port BAR: only memory BARs can be exported (bar-dmabuf info %s)",
			    (unsigned long long)bar, bdf, bdf);
}

static void check_range(const struct bar_dmabuf_info *info, uint64_t bar,
			const struct bar_dmabuf_range *r, const char *text)
{
	uint64_t page = sysconf(_SC_PAGESIZE), size = info->out_bars[bar].size;
	char sz[32];

	if (!r->length)
		usage_error("--range %s: the length is 0", text);
	if (r->offset % page || r->length % page)
		usage_error("--range %s: offset and length must be multiples of the page size (%llu, %#llx)",
			    text, (unsigned long long)page,
			    (unsigned long long)page);
	if (r->offset >= size || r->length > size - r->offset) {
		fmt_size(size, sz, sizeof(sz));
		usage_error("--range %s ends past the end of BAR%llu (%s, %#llx bytes): keep OFFSET+LENGTH within it",
			    text, (unsigned long long)bar, sz,
			    (unsigned long long)size);
	}
}

/* Can COMMAND be run? 0, or the errno execvp() would fail with. */
static int find_command_path(const char *cmd)
{
	const char *path = getenv("PATH"), *p, *colon;
	char full[PATH_MAX];
	int err = ENOENT;

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) ? errno : 0;
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = colon + 1) {
		colon = strchrnul(p, ':');
		snprintf(full, sizeof(full), "%.*s/%s", (int)(colon - p), p,
			 cmd);
		if (!access(full, X_OK))
			return 0;
		if (errno == EACCES)
			err = EACCES;
		if (!*colon)
			break;
	}
	return err;
}

static int child_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EX_FAIL;
}

static int cmd_export(int argc, char **argv)
{
	struct bar_dmabuf_range ranges[BAR_DMABUF_MAX_RANGES];
	const char *texts[BAR_DMABUF_MAX_RANGES];
	struct bar_dmabuf_export ex;
	struct bar_dmabuf_info info;
	char bdf[BDF_LEN] = "", num[32], sz[32];
	bool have_bar = false, quiet = false;
	unsigned int nr = 0, i;
	uint64_t bar = 0;
	char **cmd = NULL;
	int fd, status, sync[2];
	pid_t pid;

	for (i = 0; i < (unsigned int)argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			cmd = &argv[i + 1];
			break;
		}
		if (common_opt(a, false))
			continue;
		if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			quiet = true;
		} else if (!strcmp(a, "--bar")) {
			if (++i == (unsigned int)argc)
				usage_error("--bar needs a BAR number");
			bar = num_arg("--bar", argv[i], 5, "2");
			have_bar = true;
		} else if (!strcmp(a, "--range")) {
			char *copy, *tok, *save, *colon;

			if (++i == (unsigned int)argc)
				usage_error("--range needs OFFSET:LENGTH");
			copy = strdup(argv[i]);
			if (!copy)
				fail(EX_FAIL, "out of memory");
			for (tok = strtok_r(copy, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				uint64_t off, len;

				colon = strchr(tok, ':');
				if (nr == BAR_DMABUF_MAX_RANGES)
					usage_error("at most %d ranges in one buffer",
						    BAR_DMABUF_MAX_RANGES);
				if (!colon)
					usage_error("--range '%s' is not OFFSET:LENGTH: write e.g. --range 0:64K",
						    tok);
				*colon = '\0';
				if (parse_u64(tok, true, UINT64_MAX, &off) ||
				    parse_u64(colon + 1, true, UINT64_MAX, &len)) {
					*colon = ':';
					usage_error("--range '%s' is not OFFSET:LENGTH of numbers (4096, 0x1000, 64K): write e.g. --range 0:64K",
						    tok);
				}
				*colon = ':';
				ranges[nr].offset = off;
				ranges[nr].length = len;
				texts[nr++] = strdup(tok);
			}
			free(copy);
		} else if (a[0] == '-') {
			usage_error("unknown option '%s'", a);
		} else if (!*bdf) {
			bdf_arg(a, bdf);
		} else {
			cmd = &argv[i];
			break;
		}
	}
	if (!*bdf)
		usage_error("which device? give its BDF");
	if (!have_bar)
		usage_error("which BAR? give --bar N (bar-dmabuf info %s lists them)",
			    bdf);
	if (!nr)
		usage_error("what to export? give --range OFFSET:LENGTH (one or more)");
	if (!cmd || !*cmd)
		usage_error("give the COMMAND to hand the buffer to after --, e.g. -- sh (a dma-buf lives only while a process holds it)");

	i = find_command_path(cmd[0]);
	if (i)
		fail(EX_NOEXEC, "cannot run %s: %s%s", cmd[0], strerror(i),
		     i == ENOENT && !strchr(cmd[0], '/') ?
		     " (not found in PATH)" : "");
	fd = open_node(bdf, O_RDWR);
	do_info(fd, bdf, &info);
	check_bar(&info, bdf, bar);
	for (i = 0; i < nr; i++)
		check_range(&info, bar, &ranges[i], texts[i]);

	memset(&ex, 0, sizeof(ex));
	ex.size = sizeof(ex);
	ex.bar_index = bar;
	ex.open_flags = O_RDWR;		/* no O_CLOEXEC: COMMAND inherits it */
	ex.nr_ranges = nr;
	ex.ranges_ptr = (__u64)(uintptr_t)ranges;
	if (ioctl(fd, BAR_DMABUF_IOCTL_EXPORT, &ex)) {
		if (errno == EPERM)
			fail(EX_PERM, "EXPORT refused: the node is open read-only for you; run as root or give write access with a udev rule");
		fail(EX_FAIL, "EXPORT of BAR%llu of %s failed: %s%s",
		     (unsigned long long)bar, bdf, strerror(errno),
		     errno == ENODEV ? " (the device is going away)" : "");
	}
	fmt_size(ex.out_length, sz, sizeof(sz));
	if (!quiet)
		fprintf(stderr, "%s: exported %s of BAR%llu of %s as fd %d (BAR_DMABUF_FD); running %s\n",
			prog, sz, (unsigned long long)bar, bdf, ex.out_fd,
			cmd[0]);
	snprintf(num, sizeof(num), "%d", ex.out_fd);
	setenv("BAR_DMABUF_FD", num, 1);
	setenv("BAR_DMABUF_BDF", bdf, 1);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)ex.out_length);
	setenv("BAR_DMABUF_SIZE", num, 1);
	fflush(stdout);

	/* a pipe closed on exec: tells an exec failure from COMMAND's 127 */
	if (pipe2(sync, O_CLOEXEC))
		fail(EX_FAIL, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail(EX_FAIL, "fork: %s", strerror(errno));
	if (!pid) {
		int err;

		close(sync[0]);
		execvp(cmd[0], cmd);
		err = errno;
		if (write(sync[1], &err, sizeof(err)) < 0)
			_exit(EX_NOEXEC);
		_exit(EX_NOEXEC);
	}
	close(sync[1]);
	/* the buffer lives in COMMAND; the node stays open until it ends */
	close(ex.out_fd);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	{
		int err;

		if (read(sync[0], &err, sizeof(err)) == sizeof(err)) {
			waitpid(pid, &status, 0);
			fail(EX_NOEXEC, "cannot run %s: %s%s", cmd[0],
			     strerror(err),
			     err == ENOENT ? " (not found in PATH)" : "");
		}
	}
	close(sync[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			fail(EX_FAIL, "waitpid: %s", strerror(errno));
	/* closing the node revokes the buffer if COMMAND left it to others */
	close(fd);
	return child_status(status);
}

/* ---- revoke, restore ---- */

/*
 * --fd N: a dma-buf fd of this process (inherited, e.g. $BAR_DMABUF_FD
 * under export); --fd PID:N: fd N of process PID (pidfd_getfd, root).
 */
static int fd_arg(const char *s)
{
	const char *colon = strchr(s, ':');
	uint64_t pid, n;
	int pfd, fd;

	if (!colon) {
		n = num_arg("--fd", s, INT_MAX, "$BAR_DMABUF_FD");
		if (fcntl((int)n, F_GETFD) < 0)
			usage_error("--fd %s: this process has no fd %s; run revoke from the COMMAND of export (--fd $BAR_DMABUF_FD), or give --fd PID:FD",
				    s, s);
		return (int)n;
	}
	{
		char p[32];

		snprintf(p, sizeof(p), "%.*s", (int)(colon - s), s);
		if (parse_u64(p, false, INT_MAX, &pid) || !pid ||
		    parse_u64(colon + 1, false, INT_MAX, &n))
			usage_error("--fd '%s' is neither FD nor PID:FD: write e.g. --fd 3 or --fd 1234:3",
				    s);
	}
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	pfd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pfd < 0)
		usage_error("--fd %s: no process %llu (%s)", s,
			    (unsigned long long)pid, strerror(errno));
	fd = syscall(SYS_pidfd_getfd, pfd, (int)n, 0);
	if (fd < 0) {
		if (errno == EPERM)
			fail(EX_PERM, "--fd %s: not allowed to take fd %llu of process %llu: run as root",
			     s, (unsigned long long)n,
			     (unsigned long long)pid);
		usage_error("--fd %s: process %llu has no fd %llu (%s)", s,
			    (unsigned long long)pid, (unsigned long long)n,
			    strerror(errno));
	}
	close(pfd);
	return fd;
#else
	(void)pfd;
	(void)fd;
	usage_error("--fd PID:FD needs pidfd_getfd, which this build lacks");
#endif
}

struct target {
	char bdf[BDF_LEN];
	int fd;			/* -1: every buffer */
	const char *fd_text;
	uint64_t timeout;
};

static void parse_target(int argc, char **argv, struct target *t,
			 bool timeout_ok)
{
	bool all = false, have_fd = false;
	const char *fd_text = NULL;
	unsigned int i;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	for (i = 0; i < (unsigned int)argc; i++) {
		const char *a = argv[i];

		if (common_opt(a, false))
			continue;
		if (!strcmp(a, "--all")) {
			all = true;
		} else if (!strcmp(a, "--fd")) {
			if (++i == (unsigned int)argc)
				usage_error("--fd needs a file descriptor");
			fd_text = argv[i];
			have_fd = true;
		} else if (timeout_ok && !strcmp(a, "--timeout")) {
			if (++i == (unsigned int)argc)
				usage_error("--timeout needs milliseconds");
			t->timeout = num_arg("--timeout", argv[i], UINT32_MAX,
					     "5000");
		} else if (a[0] == '-') {
			usage_error("unknown option '%s'", a);
		} else if (!*t->bdf) {
			bdf_arg(a, t->bdf);
		} else {
			usage_error("one BDF only ('%s')", a);
		}
	}
	if (!*t->bdf)
		usage_error("which device? give its BDF");
	if (all && have_fd)
		usage_error("--fd and --all exclude each other");
	/* parsed after the BDF so a bad one is named first */
	if (have_fd) {
		t->fd = fd_arg(fd_text);
		t->fd_text = fd_text;
	}
}

static int cmd_revoke(int argc, char **argv)
{
	struct bar_dmabuf_revoke rv;
	struct timespec a, b;
	struct target t;
	int fd;

	parse_target(argc, argv, &t, true);
	fd = open_node(t.bdf, O_RDWR);
	memset(&rv, 0, sizeof(rv));
	rv.size = sizeof(rv);
	rv.flags = t.fd < 0 ? BAR_DMABUF_ALL_BUFFERS : 0;
	rv.fd = t.fd;
	rv.timeout_ms = t.timeout;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (ioctl(fd, BAR_DMABUF_IOCTL_REVOKE, &rv)) {
		int err = errno;

		if (err == ETIMEDOUT)
			fail(EX_TIMEDOUT, "revoke of %s timed out: the buffers stay revoked; bar-dmabuf status %s names the importers still holding them, run revoke again to keep waiting",
			     t.bdf, t.bdf);
		if (err == EPERM)
			fail(EX_PERM, "REVOKE refused: you may not change %s; run as root", t.bdf);
		if (err == EINVAL && t.fd >= 0)
			fail(EX_FAIL, "--fd %s is not a dma-buf exported by %s: give a buffer of this device (bar-dmabuf status %s)",
			     t.fd_text, t.bdf, t.bdf);
		if (err == EBADF)
			fail(EX_FAIL, "--fd %s is not open", t.fd_text);
		fail(EX_FAIL, "REVOKE on %s failed: %s", t.bdf, strerror(err));
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("revoked %u buffer(s) of %s in %.1f ms\n", rv.out_nr_buffers,
	       t.bdf, (b.tv_sec - a.tv_sec) * 1e3 +
	       (b.tv_nsec - a.tv_nsec) / 1e6);
	close(fd);
	return EX_OK;
}

static int cmd_restore(int argc, char **argv)
{
	struct bar_dmabuf_restore rs;
	struct target t;
	int fd;

	parse_target(argc, argv, &t, false);
	fd = open_node(t.bdf, O_RDWR);
	memset(&rs, 0, sizeof(rs));
	rs.size = sizeof(rs);
	rs.flags = t.fd < 0 ? BAR_DMABUF_ALL_BUFFERS : 0;
	rs.fd = t.fd;
	if (ioctl(fd, BAR_DMABUF_IOCTL_RESTORE, &rs)) {
		int err = errno;

		if (err == EBUSY)
			fail(EX_FAIL, "a revoke on %s is still waiting for its importers: wait for it (bar-dmabuf status %s), then restore",
			     t.bdf, t.bdf);
		if (err == EPERM)
			fail(EX_PERM, "RESTORE refused: you may not change %s; run as root", t.bdf);
		if (err == EINVAL && t.fd >= 0)
			fail(EX_FAIL, "--fd %s is not a dma-buf exported by %s: give a buffer of this device (bar-dmabuf status %s)",
			     t.fd_text, t.bdf, t.bdf);
		fail(EX_FAIL, "RESTORE on %s failed: %s%s", t.bdf,
		     strerror(err), err == ENODEV ?
		     " (the buffer's device has gone; export a new one)" : "");
	}
	printf("restored %u buffer(s) of %s\n", rs.out_nr_buffers, t.bdf);
	close(fd);
	return EX_OK;
}

/* ---- timeline ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct revoker {
	int node, buf;
	uint64_t start_ns, end_ns;
	int ret;
};

static void *revoke_thread(void *arg)
{
	struct revoker *r = arg;
	struct bar_dmabuf_revoke rv;

	memset(&rv, 0, sizeof(rv));
	rv.size = sizeof(rv);
	rv.fd = r->buf;
	rv.timeout_ms = 30000;
	r->start_ns = now_ns();
	r->ret = ioctl(r->node, BAR_DMABUF_IOCTL_REVOKE, &rv) ? -errno : 0;
	r->end_ns = now_ns();
	return NULL;
}

static void imp_call(int impfd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(impfd, req, arg))
		fail(EX_FAIL, "importer %s failed: %s%s", what, strerror(errno),
		     errno == EOPNOTSUPP || errno == EREMOTEIO ?
		     " (no proven P2P path: load bar_dmabuf with allow_unproven_p2p=1)" : "");
}

static void imp_read(int impfd, __u32 h, struct bar_dmabuf_imp_event **ev,
		     unsigned int *nr)
{
	struct bar_dmabuf_imp_read_log rl;

	memset(&rl, 0, sizeof(rl));
	rl.size = sizeof(rl);
	rl.handle = h;
	if (ioctl(impfd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl) &&
	    errno != ENOSPC)
		fail(EX_FAIL, "importer READ_LOG failed: %s", strerror(errno));
	*ev = calloc(rl.out_nr_events + 1, sizeof(**ev));
	if (!*ev)
		fail(EX_FAIL, "out of memory");
	rl.max_events = rl.out_nr_events;
	rl.events_ptr = (__u64)(uintptr_t)*ev;
	imp_call(impfd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl, "READ_LOG");
	*nr = rl.out_nr_events;
}

static int cmd_timeline(int argc, char **argv)
{
	struct bar_dmabuf_imp_event *ev[2];
	struct bar_dmabuf_imp_behaviour bh;
	struct bar_dmabuf_imp_attach at[2];
	struct bar_dmabuf_imp_submit sub;
	struct bar_dmabuf_imp_signal sig;
	struct bar_dmabuf_imp_wait_job wj;
	struct bar_dmabuf_imp_wait_event we;
	struct bar_dmabuf_imp_handle mh;
	struct bar_dmabuf_range range;
	struct bar_dmabuf_export ex;
	struct bar_dmabuf_info info;
	struct bar_dmabuf_restore rs;
	uint64_t window = 300, reads = 3, page = sysconf(_SC_PAGESIZE);
	struct tl_revoke tr;
	struct tl_row rows[2];
	struct revoker r;
	char bdf[BDF_LEN] = "";
	unsigned int i, nr[2];
	pthread_t th;
	int fd, impfd, bar = -1, ret;

	for (i = 0; i < (unsigned int)argc; i++) {
		if (common_opt(argv[i], false))
			continue;
		if (!strcmp(argv[i], "--window")) {
			if (++i == (unsigned int)argc)
				usage_error("--window needs milliseconds");
			window = num_arg("--window", argv[i], 60000, "300");
			if (window < 100)
				usage_error("--window %s: at least 100 ms, so there are late reads to draw",
					    argv[i]);
		} else if (!strcmp(argv[i], "--reads")) {
			if (++i == (unsigned int)argc)
				usage_error("--reads needs a count");
			reads = num_arg("--reads", argv[i], 100, "3");
		} else if (argv[i][0] == '-') {
			usage_error("unknown option '%s'", argv[i]);
		} else if (!*bdf) {
			bdf_arg(argv[i], bdf);
		} else {
			usage_error("one BDF only ('%s')", argv[i]);
		}
	}
	if (!*bdf)
		usage_error("which device? give its BDF");
	fd = open_node(bdf, O_RDWR);
	if (!path_exists("/sys/module/bar_dmabuf_importer"))
		fail(EX_NODEV, "the test importer is not loaded: modprobe bar_dmabuf_importer (bdf= of a free PCI function, or none for its software device)");
	impfd = open(IMP_NODE, O_RDWR | O_CLOEXEC);
	if (impfd < 0) {
		if (errno == EACCES || errno == EPERM)
			fail(EX_PERM, "permission denied opening " IMP_NODE ": run as root");
		fail(EX_NODEV, "cannot open " IMP_NODE ": %s", strerror(errno));
	}
	do_info(fd, bdf, &info);
	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++)
		if ((info.out_bars[i].flags & BAR_DMABUF_BAR_MEM) &&
		    info.out_bars[i].size >= page) {
			bar = i;
			break;
		}
	if (bar < 0)
		fail(EX_FAIL, "%s has no memory BAR of a page or more to export", bdf);

	range.offset = 0;
	range.length = page;
	memset(&ex, 0, sizeof(ex));
	ex.size = sizeof(ex);
	ex.bar_index = bar;
	ex.open_flags = O_RDWR | O_CLOEXEC;
	ex.nr_ranges = 1;
	ex.ranges_ptr = (__u64)(uintptr_t)&range;
	if (ioctl(fd, BAR_DMABUF_IOCTL_EXPORT, &ex))
		fail(EX_FAIL, "EXPORT of a page of BAR%d of %s failed: %s", bar,
		     bdf, strerror(errno));

	/* two attachments: one holds a fence, both read late */
	for (i = 0; i < 2; i++) {
		memset(&at[i], 0, sizeof(at[i]));
		at[i].size = sizeof(at[i]);
		at[i].dmabuf_fd = ex.out_fd;
		imp_call(impfd, BAR_DMABUF_IMP_IOCTL_ATTACH, &at[i], "ATTACH");
		memset(&bh, 0, sizeof(bh));
		bh.size = sizeof(bh);
		bh.handle = at[i].out_handle;
		bh.unmap_mode = BAR_DMABUF_IMP_UNMAP_WORKER;
		bh.late_read_window_ms = i ? window / 2 : window;
		bh.late_read_interval_ms = window / 10 > 0 ? window / 10 : 1;
		imp_call(impfd, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &bh,
			 "SET_BEHAVIOUR");
		memset(&mh, 0, sizeof(mh));
		mh.size = sizeof(mh);
		mh.handle = at[i].out_handle;
		imp_call(impfd, BAR_DMABUF_IMP_IOCTL_MAP, &mh, "MAP");
	}
	memset(&sub, 0, sizeof(sub));
	sub.size = sizeof(sub);
	sub.flags = BAR_DMABUF_IMP_JOB_HOLD;
	sub.handle = at[0].out_handle;
	sub.usage = BAR_DMABUF_IMP_USAGE_WRITE;
	sub.length = 64;
	imp_call(impfd, BAR_DMABUF_IMP_IOCTL_SUBMIT, &sub, "SUBMIT");

	memset(&r, 0, sizeof(r));
	r.node = fd;
	r.buf = ex.out_fd;
	ret = pthread_create(&th, NULL, revoke_thread, &r);
	if (ret)
		fail(EX_FAIL, "pthread_create: %s", strerror(ret));

	/* hold the fence through @reads late reads of the first attachment */
	memset(&we, 0, sizeof(we));
	we.size = sizeof(we);
	we.handle = at[0].out_handle;
	we.type = reads ? BAR_DMABUF_IMP_EV_LATE_READ :
			  BAR_DMABUF_IMP_EV_INVALIDATE;
	we.count = reads ? reads : 1;
	we.timeout_ms = 30000;
	imp_call(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &we, "WAIT_EVENT");
	memset(&sig, 0, sizeof(sig));
	sig.size = sizeof(sig);
	sig.job = sub.out_job;
	imp_call(impfd, BAR_DMABUF_IMP_IOCTL_SIGNAL, &sig, "SIGNAL");
	pthread_join(th, NULL);
	memset(&wj, 0, sizeof(wj));
	wj.size = sizeof(wj);
	wj.job = sub.out_job;
	wj.timeout_ms = 30000;
	imp_call(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &wj, "WAIT_JOB");
	if (r.ret)
		fail(r.ret == -ETIMEDOUT ? EX_TIMEDOUT : EX_FAIL,
		     "REVOKE failed: %s", strerror(-r.ret));

	for (i = 0; i < 2; i++)
		imp_read(impfd, at[i].out_handle, &ev[i], &nr[i]);
	rows[0].label = "att 1 (holds fence)";
	rows[1].label = "att 2";
	for (i = 0; i < 2; i++) {
		rows[i].ev = ev[i];
		rows[i].nr = nr[i];
	}
	tr.start_ns = r.start_ns;
	tr.end_ns = r.end_ns;
	tr.width = 60;
	printf("BAR%d of %s, one page, two importer attachments; attachment 1 holds a\n"
	       "write fence until late read number %llu, both read late for %llu and %llu ms.\n\n",
	       bar, bdf, (unsigned long long)reads, (unsigned long long)window,
	       (unsigned long long)window / 2);
	tl_draw(stdout, &tr, rows, 2);

	memset(&rs, 0, sizeof(rs));
	rs.size = sizeof(rs);
	rs.fd = ex.out_fd;
	imp_call(fd, BAR_DMABUF_IOCTL_RESTORE, &rs, "(exporter) RESTORE");
	for (i = 0; i < 2; i++) {
		memset(&mh, 0, sizeof(mh));
		mh.size = sizeof(mh);
		mh.handle = at[i].out_handle;
		imp_call(impfd, BAR_DMABUF_IMP_IOCTL_DETACH, &mh, "DETACH");
		free(ev[i]);
	}
	close(impfd);
	close(ex.out_fd);
	close(fd);
	return EX_OK;
}

/* ---- commands ---- */

static const struct command commands[] = {
	{ "list", cmd_list, "bar-dmabuf list [--json]",
	  "The PCI functions bound to bar_dmabuf: address, vendor:device, buffers\n"
	  "(from debugfs, '?' when it is not readable) and control node; then the\n"
	  "entries of the module's bdf= that are not bound, and why.\n" },
	{ "info", cmd_info, "bar-dmabuf info BDF [--json]",
	  "The BARs of BDF through the INFO ioctl: size, memory or I/O, 64-bit,\n"
	  "prefetchable, write-combined CPU mappings; and the default revoke timeout.\n" },
	{ "status", cmd_status, "bar-dmabuf status [BDF] [--json]",
	  "What the exporter holds, from debugfs (root): every buffer of BDF (or of\n"
	  "every bound device) with its ranges, state (live, revoked, dead), live\n"
	  "mappings, attachments (importer device, driver, path, mappings, pins,\n"
	  "route), a pending or timed-out revoke and how long it has waited, and\n"
	  "what that revoke waits for. INFO adds vendor, device and timeout unless a\n"
	  "revoke is pending (closing the node would wait for it).\n" },
	{ "export", cmd_export,
	  "bar-dmabuf export BDF --bar N --range OFFSET:LENGTH [--range ...] [--quiet] -- COMMAND [ARG...]",
	  "Export the ranges of memory BAR N as one dma-buf (their concatenation)\n"
	  "and run COMMAND with it: the fd is inherited, its number is in\n"
	  "BAR_DMABUF_FD (and BAR_DMABUF_BDF, BAR_DMABUF_SIZE are set). The buffer\n"
	  "lives as long as COMMAND (and whoever it passes the fd to) holds it; the\n"
	  "control node stays open until COMMAND exits, and its close revokes the\n"
	  "buffer. OFFSET and LENGTH are page aligned, in C syntax with an optional\n"
	  "K, M or G suffix (0x10000, 64K); several ranges: repeat --range or\n"
	  "separate them with commas. Exits with COMMAND's status.\n" },
	{ "revoke", cmd_revoke,
	  "bar-dmabuf revoke BDF [--fd N | --fd PID:N | --all] [--timeout MS]",
	  "Revoke the buffer behind fd N (one of this process, e.g. $BAR_DMABUF_FD\n"
	  "under export, or fd N of process PID) or every buffer of BDF (--all, the\n"
	  "default): the importers are told to unmap, and the call returns when every\n"
	  "fence signalled and every mapping is gone, or after MS milliseconds (0 or\n"
	  "absent: the module's revoke_timeout_ms) with exit status 5; the buffers\n"
	  "stay revoked then, and another revoke keeps waiting.\n" },
	{ "restore", cmd_restore, "bar-dmabuf restore BDF [--fd N | --fd PID:N | --all]",
	  "Make revoked buffers usable again (importers map again on demand). A\n"
	  "buffer stays restored only while its exporter holds the control node\n"
	  "open (under export: while COMMAND runs); its last close revokes again.\n" },
	{ "timeline", cmd_timeline,
	  "bar-dmabuf timeline BDF [--window MS] [--reads N]",
	  "Drive the test importer (bar_dmabuf_importer) through one revoke and\n"
	  "draw it: a page of BDF's first memory BAR, two attachments reading late\n"
	  "for MS and MS/2 ms (default 300) after the invalidate, the first holding\n"
	  "a write fence until its N-th late read (default 3). Shows when the\n"
	  "revoke started and returned, each invalidate, late read, fence signal\n"
	  "and unmap. Restores and detaches at the end.\n" },
};

static const struct command *find_command(const char *name)
{
	unsigned int i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void print_usage(FILE *f)
{
	unsigned int i;

	fprintf(f, "usage:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].synopsis);
	fprintf(f, "\nBDF is a PCI address as lspci -D prints it (0000:03:00.0).\n"
		"bar-dmabuf COMMAND --help tells one command; man 8 bar-dmabuf all.\n\n%s",
		exit_help);
}

int main(int argc, char **argv)
{
	const struct command *c;
	int i;

	if (argc < 2) {
		print_usage(stderr);
		return EX_USAGE;
	}
	/* --json may also come before the command */
	for (i = 1; i < argc && !strcmp(argv[i], "--json"); i++)
		json = true;
	if (i == argc) {
		print_usage(stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ||
	    !strcmp(argv[i], "help")) {
		if (i + 1 < argc && find_command(argv[i + 1])) {
			cmd_name = argv[i + 1];
			command_help();
		}
		print_usage(stdout);
		return EX_OK;
	}
	c = find_command(argv[i]);
	if (!c) {
		fprintf(stderr, "%s: unknown command '%s': one of list, info, status, export, revoke, restore, timeline (%s --help)\n",
			prog, argv[i], prog);
		return EX_USAGE;
	}
	cmd_name = c->name;
	if (json && strcmp(c->name, "list") && strcmp(c->name, "info") &&
	    strcmp(c->name, "status"))
		usage_error("--json is for list, info and status");
	return c->run(argc - i - 1, argv + i + 1);
}
