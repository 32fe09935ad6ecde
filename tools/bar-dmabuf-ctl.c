// SPDX-License-Identifier: GPL-2.0
/*
 * bar-dmabuf-ctl: small control tool for the bar_dmabuf exporter.
 *
 *   bar-dmabuf-ctl info BDF
 *	list the BARs of /dev/bar_dmabuf/BDF
 *   bar-dmabuf-ctl export BDF BAR OFFSET:LENGTH[,OFFSET:LENGTH...] [SECONDS]
 *	export the ranges as one dma-buf, print it, and hold it open for
 *	SECONDS (default: until stdin closes or a signal arrives); a dma-buf
 *	lives only as long as some process holds it
 *   bar-dmabuf-ctl revoke BDF [TIMEOUT_MS]
 *	revoke every buffer of the device (batched), waiting at most
 *	TIMEOUT_MS (0 or absent: the module's default)
 *   bar-dmabuf-ctl restore BDF
 *	make every revoked buffer of the device usable again
 *
 * Numbers take C syntax (0x1000, 4096). BDF is domain:bus:device.function,
 * e.g. 0000:01:00.0. Root only, like the device nodes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <linux/types.h>

#include <linux/bar_dmabuf.h>

static const char *prog = "bar-dmabuf-ctl";

static void ctl_usage(void)
{
	fprintf(stderr,
		"usage: %s info BDF\n"
		"       %s export BDF BAR OFFSET:LENGTH[,OFFSET:LENGTH...] [SECONDS]\n"
		"       %s revoke BDF [TIMEOUT_MS]\n"
		"       %s restore BDF\n",
		prog, prog, prog, prog);
	exit(2);
}

static int open_node(const char *bdf)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "/dev/bar_dmabuf/%s", bdf);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s%s\n", prog, path, strerror(errno),
			errno == ENOENT ?
			" (is bar_dmabuf loaded with this bdf=?)" : "");
		exit(1);
	}
	return fd;
}

static unsigned long long parse_num(const char *s, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "%s: bad %s '%s'\n", prog, what, s);
		exit(2);
	}
	return v;
}

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

static int cmd_info(int argc, char **argv)
{
	struct bar_dmabuf_info info;
	unsigned int i;
	int fd;

	if (argc != 1)
		ctl_usage();
	fd = open_node(argv[0]);
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	if (ioctl(fd, BAR_DMABUF_IOCTL_INFO, &info)) {
		fprintf(stderr, "%s: INFO: %s\n", prog, strerror(errno));
		return 1;
	}
	printf("device %04x:%02x:%02x.%x  vendor %04x  device %04x  revoke timeout %u ms\n",
	       info.out_bdf >> 16, (info.out_bdf >> 8) & 0xff,
	       (info.out_bdf >> 3) & 0x1f, info.out_bdf & 7,
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
	close(fd);
	return 0;
}

/*
 * Hold the dma-buf until @seconds pass (forever if negative), stdin reaches
 * its end, or SIGINT/SIGTERM arrives.
 */
static void ctl_hold(long seconds)
{
	struct pollfd p[2];
	sigset_t set;
	int n = 2;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	p[0].fd = signalfd(-1, &set, SFD_CLOEXEC);
	p[0].events = POLLIN;
	p[1].fd = 0;
	p[1].events = POLLIN;
	if (seconds >= 0)
		n = 1;	/* a timed hold ignores stdin */
	for (;;) {
		char c;

		if (poll(p, n, seconds >= 0 ? (int)seconds * 1000 : -1) <= 0)
			return;
		if (p[0].revents)
			return;
		if (read(0, &c, 1) <= 0)
			return;
	}
}

static int cmd_export(int argc, char **argv)
{
	struct bar_dmabuf_range ranges[BAR_DMABUF_MAX_RANGES];
	struct bar_dmabuf_export ex;
	unsigned int nr = 0;
	long seconds = -1;
	char *list, *tok, *save;
	int fd;

	if (argc != 3 && argc != 4)
		ctl_usage();
	if (argc == 4)
		seconds = parse_num(argv[3], "SECONDS");
	list = strdup(argv[2]);
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');

		if (!colon || nr == BAR_DMABUF_MAX_RANGES)
			ctl_usage();
		*colon = '\0';
		ranges[nr].offset = parse_num(tok, "OFFSET");
		ranges[nr].length = parse_num(colon + 1, "LENGTH");
		nr++;
	}
	free(list);

	fd = open_node(argv[0]);
	memset(&ex, 0, sizeof(ex));
	ex.size = sizeof(ex);
	ex.bar_index = parse_num(argv[1], "BAR");
	ex.open_flags = O_RDWR | O_CLOEXEC;
	ex.nr_ranges = nr;
	ex.ranges_ptr = (__u64)(unsigned long)ranges;
	if (ioctl(fd, BAR_DMABUF_IOCTL_EXPORT, &ex)) {
		fprintf(stderr, "%s: EXPORT: %s\n", prog, strerror(errno));
		return 1;
	}
	printf("exported BAR%u, %u range(s), %llu bytes: fd %d of pid %d (/proc/%d/fd/%d)\n",
	       ex.bar_index, nr, (unsigned long long)ex.out_length, ex.out_fd,
	       getpid(), getpid(), ex.out_fd);
	fflush(stdout);

	ctl_hold(seconds);
	close(ex.out_fd);
	printf("released the dma-buf\n");
	close(fd);
	return 0;
}

static int cmd_revoke(int argc, char **argv)
{
	struct bar_dmabuf_revoke rv;
	int fd;

	if (argc != 1 && argc != 2)
		ctl_usage();
	fd = open_node(argv[0]);
	memset(&rv, 0, sizeof(rv));
	rv.size = sizeof(rv);
	rv.flags = BAR_DMABUF_ALL_BUFFERS;
	rv.fd = -1;
	if (argc == 2)
		rv.timeout_ms = parse_num(argv[1], "TIMEOUT_MS");
	if (ioctl(fd, BAR_DMABUF_IOCTL_REVOKE, &rv)) {
		fprintf(stderr, "%s: REVOKE: %s\n", prog, strerror(errno));
		if (errno == ETIMEDOUT)
			fprintf(stderr,
				"%s: the buffers stay revoked; the kernel log and debugfs name\n"
				"the importers still holding them; run again to keep waiting\n",
				prog);
		return 1;
	}
	printf("revoked %u buffer(s)\n", rv.out_nr_buffers);
	close(fd);
	return 0;
}

static int cmd_restore(int argc, char **argv)
{
	struct bar_dmabuf_restore rs;
	int fd;

	if (argc != 1)
		ctl_usage();
	fd = open_node(argv[0]);
	memset(&rs, 0, sizeof(rs));
	rs.size = sizeof(rs);
	rs.flags = BAR_DMABUF_ALL_BUFFERS;
	rs.fd = -1;
	if (ioctl(fd, BAR_DMABUF_IOCTL_RESTORE, &rs)) {
		fprintf(stderr, "%s: RESTORE: %s\n", prog, strerror(errno));
		return 1;
	}
	printf("restored %u buffer(s)\n", rs.out_nr_buffers);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		ctl_usage();
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 2, argv + 2);
	if (!strcmp(argv[1], "export"))
		return cmd_export(argc - 2, argv + 2);
	if (!strcmp(argv[1], "revoke"))
		return cmd_revoke(argc - 2, argv + 2);
	if (!strcmp(argv[1], "restore"))
		return cmd_restore(argc - 2, argv + 2);
	ctl_usage();
	return 2;
}
