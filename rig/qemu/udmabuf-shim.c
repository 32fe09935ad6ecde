// SPDX-License-Identifier: GPL-2.0
/*
 * LD_PRELOAD shim for the rig's own QEMU process (rig/boot-and-run.sh),
 * never for anything else on the host.
 *
 * QEMU 7.2 refuses virtio-gpu-pci,blob=true unless it can open
 * /dev/udmabuf, which the host kernel may lack. It only issues udmabuf
 * ioctls for a blob of several host iovecs; the rig's blobs are one range
 * of ivshmem0's RAM-backed BAR, one iovec, which QEMU uses in place. So
 * that one open is answered with /dev/null: the check passes, and an
 * ioctl on it (a blob of several iovecs) fails with ENOTTY, which QEMU
 * reports and survives. Every other open goes through untouched.
 *
 * Built by boot-and-run.sh into the rig's cache; nothing on the host
 * changes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/types.h>

static const char *shim_path(const char *path)
{
	return path && !strcmp(path, "/dev/udmabuf") ? "/dev/null" : path;
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

/* the mode argument exists only with O_CREAT or O_TMPFILE */
static int has_mode(int flags)
{
	return flags & (O_CREAT | O_TMPFILE);
}

int open(const char *path, int flags, ...)
{
	static open_fn real;
	mode_t mode = 0;
	va_list ap;

	if (!real)
		real = (open_fn)dlsym(RTLD_NEXT, "open");
	if (has_mode(flags)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return real(shim_path(path), flags, mode);
}

int open64(const char *path, int flags, ...)
{
	static open_fn real;
	mode_t mode = 0;
	va_list ap;

	if (!real)
		real = (open_fn)dlsym(RTLD_NEXT, "open64");
	if (has_mode(flags)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return real(shim_path(path), flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	static openat_fn real;
	mode_t mode = 0;
	va_list ap;

	if (!real)
		real = (openat_fn)dlsym(RTLD_NEXT, "openat");
	if (has_mode(flags)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return real(dirfd, shim_path(path), flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	static openat_fn real;
	mode_t mode = 0;
	va_list ap;

	if (!real)
		real = (openat_fn)dlsym(RTLD_NEXT, "openat64");
	if (has_mode(flags)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return real(dirfd, shim_path(path), flags, mode);
}
