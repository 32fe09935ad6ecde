/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * bar_dmabuf: export ranges of a PCI device's memory BARs as revocable
 * dma-bufs.
 *
 * One control node per bound device: /dev/bar_dmabuf/<domain:bus:dev.fn>,
 * mode 0600 (root only unless an administrator widens it with a udev rule).
 *
 * Every command takes a struct whose first field is its size in bytes and
 * whose second is a flags word. The kernel accepts a struct that is shorter
 * (older userspace) or longer (newer userspace, with the extra bytes zero,
 * and no more than 4096 bytes in all: -E2BIG otherwise) than its own, so
 * structs can grow at the end. Unknown flags and non-zero
 * reserved fields are rejected with -EINVAL. Fields named out_* are written
 * by the kernel.
 *
 * This header is the stable ABI of the exporter.
 */
#ifndef _UAPI_LINUX_BAR_DMABUF_H
#define _UAPI_LINUX_BAR_DMABUF_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BAR_DMABUF_TYPE		0xBD

enum {
	BAR_DMABUF_CMD_INFO = 0x00,
	BAR_DMABUF_CMD_EXPORT = 0x01,
	BAR_DMABUF_CMD_REVOKE = 0x02,
	BAR_DMABUF_CMD_RESTORE = 0x03,
};

/* Number of standard BARs of a PCI function. */
#define BAR_DMABUF_NUM_BARS	6
/* Most ranges one buffer may hold. */
#define BAR_DMABUF_MAX_RANGES	64

/**
 * enum bar_dmabuf_bar_flags - what a BAR is
 * @BAR_DMABUF_BAR_MEM: a memory BAR (only these can be exported)
 * @BAR_DMABUF_BAR_IO: an I/O port BAR
 * @BAR_DMABUF_BAR_PREFETCH: prefetchable memory
 * @BAR_DMABUF_BAR_64BIT: a 64-bit memory BAR (occupies two slots)
 * @BAR_DMABUF_BAR_WC: CPU mappings (mmap) of buffers of this BAR are
 *	write-combined: the BAR is prefetchable and the module reserved the
 *	write-combining memory type for it at bind (which fails if something
 *	else holds the range with another type; the kernel log says so).
 *	Without it they are uncached.
 *
 * A slot that is unused, or the upper half of a 64-bit BAR, has flags 0 and
 * size 0.
 */
enum bar_dmabuf_bar_flags {
	BAR_DMABUF_BAR_MEM = 1 << 0,
	BAR_DMABUF_BAR_IO = 1 << 1,
	BAR_DMABUF_BAR_PREFETCH = 1 << 2,
	BAR_DMABUF_BAR_64BIT = 1 << 3,
	BAR_DMABUF_BAR_WC = 1 << 4,
};

/**
 * struct bar_dmabuf_bar - one BAR of the device
 * @index: BAR number, 0 to 5
 * @flags: a combination of &enum bar_dmabuf_bar_flags
 * @size: length of the BAR in bytes, 0 if the slot is unused
 */
struct bar_dmabuf_bar {
	__u32 index;
	__u32 flags;
	__aligned_u64 size;
};

/**
 * struct bar_dmabuf_info - BAR_DMABUF_IOCTL_INFO
 * @size: sizeof(struct bar_dmabuf_info)
 * @flags: must be 0
 * @out_num_bars: number of entries in @out_bars (BAR_DMABUF_NUM_BARS)
 * @out_vendor: PCI vendor ID
 * @out_device: PCI device ID
 * @out_bdf: (segment & 0xffff) << 16 | bus << 8 | devfn; @out_domain has
 *	the whole segment
 * @out_default_timeout_ms: the revoke timeout used when a revoke asks for 0
 * @out_bars: the device's BARs, indexed by BAR number
 * @out_domain: PCI segment (domain) number, also those above 0xffff (VMD);
 *	not written into an older struct of 120 bytes
 * @out_reserved: 0
 *
 * Lists the BARs of the device the control node belongs to.
 */
struct bar_dmabuf_info {
	__u32 size;
	__u32 flags;
	__u32 out_num_bars;
	__u16 out_vendor;
	__u16 out_device;
	__u32 out_bdf;
	__u32 out_default_timeout_ms;
	struct bar_dmabuf_bar out_bars[BAR_DMABUF_NUM_BARS];
	__u32 out_domain;
	__u32 out_reserved;
};

#define BAR_DMABUF_IOCTL_INFO	_IO(BAR_DMABUF_TYPE, BAR_DMABUF_CMD_INFO)

/**
 * struct bar_dmabuf_range - one range of a BAR
 * @offset: byte offset into the BAR, page aligned
 * @length: length in bytes, page aligned, not zero
 */
struct bar_dmabuf_range {
	__aligned_u64 offset;
	__aligned_u64 length;
};

/**
 * struct bar_dmabuf_export - BAR_DMABUF_IOCTL_EXPORT
 * @size: sizeof(struct bar_dmabuf_export)
 * @flags: must be 0
 * @bar_index: the memory BAR the ranges are taken from
 * @open_flags: flags of the new file: O_CLOEXEC and O_RDWR, nothing else
 * @nr_ranges: number of entries at @ranges_ptr, 1 to BAR_DMABUF_MAX_RANGES
 * @out_fd: the new dma-buf file descriptor
 * @ranges_ptr: user pointer to an array of &struct bar_dmabuf_range; the
 *	buffer is their concatenation, in order
 * @out_length: total length of the buffer in bytes
 * @reserved: must be 0
 *
 * Turns ranges of one memory BAR into a dma-buf whose attachments are
 * revocable. Errors: -EINVAL for a bad range, BAR, flag or reserved field,
 * -ENODEV if the device is going away, -EFAULT for a bad @ranges_ptr.
 */
struct bar_dmabuf_export {
	__u32 size;
	__u32 flags;
	__u32 bar_index;
	__u32 open_flags;
	__u32 nr_ranges;
	__s32 out_fd;
	__aligned_u64 ranges_ptr;
	__aligned_u64 out_length;
	__aligned_u64 reserved;
};

#define BAR_DMABUF_IOCTL_EXPORT	_IO(BAR_DMABUF_TYPE, BAR_DMABUF_CMD_EXPORT)

/**
 * enum bar_dmabuf_revoke_flags - flags of revoke and restore
 * @BAR_DMABUF_ALL_BUFFERS: act on every buffer of the device (batched);
 *	@fd must then be -1
 */
enum bar_dmabuf_revoke_flags {
	BAR_DMABUF_ALL_BUFFERS = 1 << 0,
};

/**
 * struct bar_dmabuf_revoke - BAR_DMABUF_IOCTL_REVOKE
 * @size: sizeof(struct bar_dmabuf_revoke)
 * @flags: a combination of &enum bar_dmabuf_revoke_flags
 * @fd: a dma-buf exported by this device, or -1 with BAR_DMABUF_ALL_BUFFERS
 * @timeout_ms: longest wait for fences and unmaps; 0 means the module's
 *	default (parameter revoke_timeout_ms)
 * @out_nr_buffers: number of buffers the call revoked or waited for
 * @reserved: must be 0
 *
 * Marks the buffer(s) revoked, zaps CPU mappings, tells every importer and
 * waits until every fence has signalled and every mapping is unmapped. On
 * -ETIMEDOUT the buffers stay revoked and the stuck importers are named in
 * the kernel log and debugfs; calling again resumes the wait.
 */
struct bar_dmabuf_revoke {
	__u32 size;
	__u32 flags;
	__s32 fd;
	__u32 timeout_ms;
	__u32 out_nr_buffers;
	__u32 reserved;
};

#define BAR_DMABUF_IOCTL_REVOKE	_IO(BAR_DMABUF_TYPE, BAR_DMABUF_CMD_REVOKE)

/**
 * struct bar_dmabuf_restore - BAR_DMABUF_IOCTL_RESTORE
 * @size: sizeof(struct bar_dmabuf_restore)
 * @flags: a combination of &enum bar_dmabuf_revoke_flags
 * @fd: a dma-buf exported by this device, or -1 with BAR_DMABUF_ALL_BUFFERS
 * @out_nr_buffers: number of buffers made usable again
 *
 * Makes revoked buffers usable again; importers map again on demand. Fails
 * with -EBUSY while a revoke of the buffer is still waiting and with
 * -ENODEV for a buffer whose device has gone away.
 */
struct bar_dmabuf_restore {
	__u32 size;
	__u32 flags;
	__s32 fd;
	__u32 out_nr_buffers;
};

#define BAR_DMABUF_IOCTL_RESTORE _IO(BAR_DMABUF_TYPE, BAR_DMABUF_CMD_RESTORE)

#endif /* _UAPI_LINUX_BAR_DMABUF_H */
