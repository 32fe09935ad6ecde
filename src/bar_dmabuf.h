/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_dmabuf private header.
 *
 * Lock order (outer first):
 *
 *   bar_dmabuf_dev.lock (mutex, "device lock")
 *     dma_resv lock of a buffer (dmabuf->resv, a ww_mutex)
 *       importer locks (taken by importers inside their invalidate callback)
 *         bar_dmabuf_buf.alock (spinlock, innermost, never held while
 *                               calling anyone)
 *
 * No op an importer calls takes the device lock: attach, detach, map,
 * unmap, pin, unpin and the mmap fault take at most the resv lock and
 * alock. The revoke calls invalidate callbacks under the device lock, so a
 * device lock in an op would chain every importer lock held across that
 * op to every lock its callback takes. (A callback that takes a lock its
 * importer holds across dma_buf_dynamic_attach() inverts against the resv
 * lock the core takes there, whatever the exporter does.)
 * Nothing on the unmap path takes the resv lock (the core already holds it:
 * an importer may unmap from inside its invalidate callback or later from
 * a worker), and the revoke waits (rules 4 and 5) sleep with neither the
 * device lock nor any resv lock held (between sleeps they take the device
 * lock to pick what to wait for next). A fence callback of a revoke's wait
 * wakes &bar_dmabuf_buf.wq under the fence's own lock.
 *
 * Module lifetime: every exported buffer holds a reference on this module.
 * The dma-buf core takes it in dma_buf_export() from exp_info.owner
 * (THIS_MODULE) and drops it after our release op has returned, so
 * "rmmod bar_dmabuf" fails with "in use" while any buffer fd, mmap or
 * importer reference exists, and a module unload can never run into a
 * use-after-free. Unloading unbinds every device, which runs the full revoke
 * sequence of the removal path (which then has nothing left to wait for).
 */
#ifndef _BAR_DMABUF_PRIV_H
#define _BAR_DMABUF_PRIV_H

#include <linux/dma-buf.h>
#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include <linux/bar_dmabuf.h>

#include "compat.h"

#define BAR_DMABUF_BDF_LEN	20	/* "ffffffff:ff:1f.7" at most */
#define BAR_DMABUF_NAME_LEN	32	/* a BDF behind a prefix */
#define BAR_DMABUF_MAX_DEVICES	16	/* entries in bdf= */

/* module parameters (main.c) */
extern unsigned int bar_dmabuf_revoke_timeout_ms;
extern bool bar_dmabuf_allow_unproven_p2p;

/**
 * struct bar_dmabuf_dev - one bound PCI function
 * @kref: lifetime of this struct. References: the PCI binding (probe to the
 *	end of remove), every open control-node file (open to release), every
 *	buffer (export to its release op). The last put frees it and drops the
 *	pci_dev reference.
 * @pdev: the function; a pci_dev reference is held for the life of @kref
 *	so names and resources can still be printed after a hot-unplug.
 * @name: pci_name() of @pdev, immutable
 * @misc_name: "bar_dmabuf!<bdf>", the node is /dev/bar_dmabuf/<bdf>
 * @misc: control node, registered from probe to remove
 * @debugfs: bar_dmabuf/<bdf>/, from probe to remove (may be an error ptr)
 * @providers: P2P provider per BAR (NULL where the kernel has none); set in
 *	probe, devres-managed, valid until remove returns, which is after every
 *	mapping made from them is gone (rule 8: removal waits)
 * @wc: per BAR: prefetchable, and its write-combining memory type is
 *	reserved (x86 PAT: a PFN inserted into a user mapping takes the type
 *	reserved for its range, uncached if none, whatever the VMA asked for;
 *	arch_phys_wc_add() sets an MTRR where there is no PAT). Set in probe
 *	and immutable; the reservation is released in remove after the last
 *	mapping of the BAR is gone (a dead buffer maps nothing). Buffers read
 *	it for their user mappings
 * @wc_mtrr: per BAR, the arch_phys_wc_add() cookie for arch_phys_wc_del()
 * @lock: the device lock: protects the fields below
 * @buffers: every buffer exported from this device and not yet released
 *	(&bar_dmabuf_buf.node)
 * @gone: set once remove starts; no new export, no restore
 * @resetting: between reset_prepare and reset_done, or error_detected and
 *	resume; no export, no restore (-EBUSY)
 * @recovering: @resetting by error_detected: until resume, or a function
 *	reset after a recovery that failed without telling us
 * @failed: PCI error recovery failed for good: no export, no restore
 *	(-ENODEV) until a recovery succeeds or the device is bound again
 * @open_count: open control-node files; the last close revokes everything
 * @next_id: id of the next buffer (for logs, debugfs, tracepoints)
 * @next_seq: &bar_dmabuf_buf.seq of the next buffer; never wraps (u64)
 */
struct bar_dmabuf_dev {
	struct kref kref;
	struct pci_dev *pdev;
	char name[BAR_DMABUF_BDF_LEN];
	char misc_name[BAR_DMABUF_NAME_LEN];
	struct miscdevice misc;
	struct dentry *debugfs;
	struct p2pdma_provider *providers[BAR_DMABUF_NUM_BARS];
	bool wc[BAR_DMABUF_NUM_BARS];
	int wc_mtrr[BAR_DMABUF_NUM_BARS];

	struct mutex lock;		/* the device lock */
	struct list_head buffers;
	bool gone;
	bool resetting;
	bool recovering;
	bool failed;
	unsigned int open_count;
	u32 next_id;
	u64 next_seq;
};

/**
 * struct bar_dmabuf_buf - one exported buffer (dmabuf->priv)
 * @kref: lifetime of this struct, see below
 * @dmabuf: the dma-buf; set at export, never changes. Valid until our
 *	release op returns: code that may run after that (a revoke's wait)
 *	touches it only under the device lock and only while !@released.
 *	Its ->file may be freed long before (see below): never followed.
 * @inode: the dma-buf's inode, referenced from export to the release op.
 *	Every user mapping of the buffer hangs off its i_mapping (an mmap of
 *	the fd, or dma_buf_mmap() of an importer, which points the VMA at
 *	the dma-buf's file), so the revoke zaps through it (rule 2);
 *	debugfs shows its number
 * @bdev: the device; holds a &bar_dmabuf_dev.kref for the life of @kref
 * @id: per-device number, immutable
 * @seq: export order on the device, immutable; a revoke of all buffers
 *	takes those below &bar_dmabuf_dev.next_seq as it was when it began
 * @bar: BAR index, immutable
 * @size: total length, immutable
 * @nr_ranges: entries of @phys, immutable
 * @phys: CPU physical address and length of each range, immutable
 * @exp_name: "bar_dmabuf:<bdf>", dmabuf->exp_name points here
 *
 * @node: on &bar_dmabuf_dev.buffers until the release op; device lock
 * @released: our release op has run (device lock to write, READ_ONCE in
 *	a revoke's wait condition); @dmabuf may be gone
 * @revoke_waiters: revokes now waiting for this buffer (device lock)
 * @revoke_incomplete: revoked, but no wait has yet seen every fence
 *	signalled and every mapping unmapped (device lock); for debugfs
 * @revoked_by_reset: revoked by reset_prepare and by nothing else since,
 *	so reset_done restores it (device lock)
 * @revoke_start: when the pending revoke began (device lock)
 *
 * @revoked: rule 1; no attach, map, pin, mmap or fault while set.
 *	Written with the device lock AND the resv lock held (revoke.c);
 *	read under either lock, or with READ_ONCE() where only advisory
 *	(mmap and CPU access, which the fault handler settles).
 * @dead: the device went away; never restorable. Written like @revoked.
 *
 * @alock: protects @attachments (spinlock, innermost)
 * @attachments: &bar_dmabuf_attach.node of every attachment
 *
 * @live_maps: mappings handed out and not yet unmapped, over all
 *	attachments; changed by map/unmap (resv lock held by the core),
 *	read locklessly by the revoke wait
 * @wq: woken when @live_maps drops to zero, when a fence a revoke waits
 *	for signals, and when the release op has run
 *
 * Lifetime: allocated at export. References on @kref: the dma-buf's (from
 * dma_buf_export() until our release op, which runs when the dma-buf's
 * dentry goes: after the last fd, mmap and importer's dma_buf_get(), and
 * after the last O_PATH open of /proc/<pid>/fd/<n>, which keeps the dentry
 * but not the struct file), and one for each revoke that waits for the
 * buffer outside the device lock. Nothing here holds or follows the
 * dma-buf's struct file. A released buffer has no importer and no mapping
 * left, so a revoke waiting for it stops waiting at once.
 */
struct bar_dmabuf_buf {
	struct kref kref;
	struct dma_buf *dmabuf;
	struct inode *inode;
	struct bar_dmabuf_dev *bdev;
	u32 id;
	u64 seq;
	u32 bar;
	size_t size;
	u32 nr_ranges;
	struct bar_dmabuf_phys_vec *phys;
	char exp_name[BAR_DMABUF_NAME_LEN];

	struct list_head node;
	bool released;
	unsigned int revoke_waiters;
	bool revoke_incomplete;
	bool revoked_by_reset;
	ktime_t revoke_start;

	bool revoked;
	bool dead;

	spinlock_t alock;		/* protects @attachments */
	struct list_head attachments;

	atomic_t live_maps;
	wait_queue_head_t wq;
};

/* how an attachment's mappings are made (p2p.c) */
enum bar_dmabuf_path {
	BAR_DMABUF_PATH_HELPER,		/* P2P provider: bus address or IOVA */
	BAR_DMABUF_PATH_RESOURCE,	/* dma_map_resource() per chunk */
};

/* Where the importer's traffic to the BAR goes, as the P2P core sees it. */
enum bar_dmabuf_route {
	BAR_DMABUF_ROUTE_UNPROVEN,	/* no proven path (allow_unproven_p2p) */
	BAR_DMABUF_ROUTE_HOST_BRIDGE,	/* up to a host bridge it trusts */
	BAR_DMABUF_ROUTE_SWITCH,	/* by bus address through a switch */
};

/**
 * struct bar_dmabuf_map - one table handed to an importer, not yet back
 * @node: on &bar_dmabuf_attach.maps while live (resv lock), else empty
 * @table: the table map returned: of @sg when one entry is enough
 *	(always on the P2P path), else allocated by the dma_map_resource()
 *	path
 * @sg: the entry of a one-entry table
 * @p2p: how the P2P path mapped it (bus address, our IOVA, or neither)
 * @dir: the direction it was mapped for
 *
 * Lifetime: made by map, ended by the unmap of @table, or by detach if the
 * importer never unmapped it. An attachment's first live mapping uses the
 * record inside it (&bar_dmabuf_attach.first), so the usual importer, one
 * mapping at a time, costs no allocation of ours per map; further ones
 * are allocated and freed at their unmap.
 */
struct bar_dmabuf_map {
	struct list_head node;
	struct sg_table table;
	struct scatterlist sg;
	struct bar_dmabuf_compat_p2p_state p2p;
	enum dma_data_direction dir;
};

/**
 * struct bar_dmabuf_attach - our state of one attachment (attach->priv)
 * @node: on &bar_dmabuf_buf.attachments (alock)
 * @attach: the core's attachment; we live from our attach op to our detach
 *	op, inside its lifetime
 * @path: how map works for this importer, chosen at attach, immutable
 * @route: the path its traffic takes, found at attach, immutable
 * @maps: &struct bar_dmabuf_map of every live mapping (resv lock)
 * @nr_maps: entries of @maps, readable without the lock (for debugfs)
 * @nr_pins: pins of this attachment (changed under the resv lock)
 * @pin_told: the kernel log was told of an explicit pin (resv lock)
 * @first: the record of one live mapping, in use while on @maps
 */
struct bar_dmabuf_attach {
	struct list_head node;
	struct dma_buf_attachment *attach;
	enum bar_dmabuf_path path;
	enum bar_dmabuf_route route;
	struct list_head maps;
	atomic_t nr_maps;
	atomic_t nr_pins;
	bool pin_told;
	struct bar_dmabuf_map first;
};

/* main.c: parameters and the bdf= list */
unsigned int bar_dmabuf_default_timeout_ms(void);
bool bar_dmabuf_bdf_listed(struct pci_dev *pdev);
struct pci_dev *bar_dmabuf_bdf_get(unsigned int i);
unsigned int bar_dmabuf_bdf_count(void);
void bar_dmabuf_bdf_format(unsigned int i, char *buf, size_t len);

/* pci.c */
int bar_dmabuf_pci_register(void);
void bar_dmabuf_pci_unregister(void);
void bar_dmabuf_dev_put(struct bar_dmabuf_dev *bdev);

/* ioctl.c: the control node */
int bar_dmabuf_node_register(struct bar_dmabuf_dev *bdev);
void bar_dmabuf_node_unregister(struct bar_dmabuf_dev *bdev);

/* dmabuf.c */
struct dma_buf *bar_dmabuf_export(struct bar_dmabuf_dev *bdev,
				  const struct bar_dmabuf_export *req,
				  const struct bar_dmabuf_range *ranges);
struct bar_dmabuf_buf *bar_dmabuf_buf_from_fd(int fd, struct dma_buf **out);
void bar_dmabuf_buf_put(struct bar_dmabuf_buf *buf);

/* revoke.c: the revoke protocol */
enum bar_dmabuf_why {
	BAR_DMABUF_WHY_IOCTL,		/* user asked; bounded wait */
	BAR_DMABUF_WHY_CLOSE,		/* last close of the node; bounded, killable */
	BAR_DMABUF_WHY_RESET,		/* reset_prepare; waits forever */
	BAR_DMABUF_WHY_RECOVERY,	/* PCI error recovery; bounded */
	BAR_DMABUF_WHY_REMOVE,		/* unbind/unplug/unload; forever, dead */
};

int bar_dmabuf_revoke_one(struct bar_dmabuf_buf *buf, unsigned int timeout_ms);
/* bar_dmabuf_revoke_all(): every buffer that exists when it starts */
#define BAR_DMABUF_SEQ_NOW	U64_MAX
int bar_dmabuf_revoke_all(struct bar_dmabuf_dev *bdev, enum bar_dmabuf_why why,
			  unsigned int timeout_ms, u64 end_seq, u32 *nr);
int bar_dmabuf_restore_one(struct bar_dmabuf_buf *buf);
int bar_dmabuf_restore_all(struct bar_dmabuf_dev *bdev, bool reset_only,
			   u32 *nr);
void bar_dmabuf_describe_stuck(struct seq_file *s, struct bar_dmabuf_buf *buf);

/* p2p.c: mappings for an importer's device */
int bar_dmabuf_p2p_attach(struct bar_dmabuf_buf *buf,
			  struct bar_dmabuf_attach *battach);
struct sg_table *bar_dmabuf_p2p_map(struct bar_dmabuf_buf *buf,
				    struct bar_dmabuf_attach *battach,
				    struct bar_dmabuf_map *m);
void bar_dmabuf_p2p_unmap(struct bar_dmabuf_buf *buf,
			  struct bar_dmabuf_attach *battach,
			  struct bar_dmabuf_map *m);

/* debugfs.c */
void bar_dmabuf_debugfs_init(void);
void bar_dmabuf_debugfs_exit(void);
void bar_dmabuf_debugfs_add(struct bar_dmabuf_dev *bdev);
void bar_dmabuf_debugfs_remove(struct bar_dmabuf_dev *bdev);

#endif /* _BAR_DMABUF_PRIV_H */
