/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One name per kernel API for bar_dmabuf and bar_dmabuf_importer.
 *
 * This is the only file that may test HAVE_* (answers of the feature probes
 * in compat/probes/, written by compat/run-probes.sh into
 * bar_dmabuf_probes.h) or IS_ENABLED(CONFIG_...) to choose an API; it
 * needs no LINUX_VERSION_CODE at all. The .c files call the
 * bar_dmabuf_compat_* names below and never look at versions themselves.
 */
#ifndef _BAR_DMABUF_COMPAT_H
#define _BAR_DMABUF_COMPAT_H

#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "bar_dmabuf_probes.h"

/*
 * The floor: the API of 6.1, the oldest kernel we test. Checked through a
 * feature (fence usages, 5.19) rather than LINUX_VERSION_CODE, which
 * distribution backports make unreliable.
 */
#if !HAVE_DMA_RESV_USAGE_BOOKKEEP
#error "bar-dmabuf needs Linux 6.1 or newer (no DMA_RESV_USAGE_BOOKKEEP here)"
#endif

/* ===================== exporter (bar_dmabuf) section ===================== */

/* MODULE_IMPORT_NS() takes a string from 6.13 on. */
#if HAVE_MODULE_IMPORT_NS_IDENT
#define BAR_DMABUF_COMPAT_IMPORT_NS_DMA_BUF() MODULE_IMPORT_NS(DMA_BUF)
#else
#define BAR_DMABUF_COMPAT_IMPORT_NS_DMA_BUF() MODULE_IMPORT_NS("DMA_BUF")
#endif

/*
 * Zeroed allocation of one object, GFP_KERNEL: kzalloc_obj() from 7.0
 * (which checkpatch asks for), kzalloc(sizeof()) before.
 */
#if HAVE_KZALLOC_OBJ
#define bar_dmabuf_compat_zalloc(obj) kzalloc_obj(obj)
#else
#define bar_dmabuf_compat_zalloc(obj) kzalloc(sizeof(obj), GFP_KERNEL)
#endif

/* vma->vm_flags is read-only from 6.3 on. */
static inline void bar_dmabuf_compat_vm_flags_set(struct vm_area_struct *vma,
						  vm_flags_t flags)
{
#if HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/*
 * Tell every attachment its mappings are gone (dma_buf_move_notify() until
 * 7.0, dma_buf_invalidate_mappings() from 7.1). Caller holds the resv lock.
 */
static inline void bar_dmabuf_compat_invalidate(struct dma_buf *dmabuf)
{
#if HAVE_DMA_BUF_INVALIDATE_MAPPINGS
	dma_buf_invalidate_mappings(dmabuf);
#else
	dma_buf_move_notify(dmabuf);
#endif
}

/*
 * Does the importer promise to unmap within bounded time after an
 * invalidation?
 *
 * 7.1+: dma_buf_attach_revocable(): it has an invalidate_mappings callback
 * (a pinned importer may now pass importer_ops without one).
 *
 * 6.1-7.0: the core refuses (WARN + -EINVAL) a dynamic attach without
 * move_notify, so every dynamic importer has the callback and this is the
 * best the kernel can tell us. It cannot prove that the callback really
 * stops the hardware and leads to an unmap: some importers only log in it
 * (RDMA's pinned umem path warns and keeps the mapping). Such an importer
 * makes a revoke time out (rule 8), it cannot make us free the BAR early.
 */
static inline bool
bar_dmabuf_compat_attach_revocable(struct dma_buf_attachment *attach)
{
#if HAVE_DMA_BUF_ATTACH_REVOCABLE
	return dma_buf_attach_revocable(attach);
#else
	return attach->importer_ops && attach->importer_ops->move_notify;
#endif
}

/*
 * Does the core pin before every map of a dynamic importer? Up to 7.0 it
 * does when CONFIG_DMABUF_MOVE_NOTIFY is off (Debian's 6.1 and 6.12:
 * dma_buf_map_attachment() calls ops->pin, dma_buf_unmap_attachment()
 * unpins). 7.1 dropped the option ("dma-buf: Always build with
 * DMABUF_MOVE_NOTIFY", the series that added dma_buf_attach_revocable()):
 * dma_buf_pin_on_map() pins for static importers only, which we refuse,
 * so there every pin we see is the importer's own dma_buf_pin().
 */
static inline bool bar_dmabuf_compat_core_pins_on_map(void)
{
#if HAVE_DMA_BUF_ATTACH_REVOCABLE
	return false;
#else
	return !IS_ENABLED(CONFIG_DMABUF_MOVE_NOTIFY);
#endif
}

/*
 * Has every importer that can pin promised to unmap when told? 7.1+: only
 * attachments that passed dma_buf_attach_revocable() reach us (RDMA's
 * pinned-revocable MRs unmap and unpin in their callback). Before, any
 * dynamic importer did, RDMA's pinned path among them, which keeps its
 * mapping and only warns.
 */
static inline bool bar_dmabuf_compat_pinners_unmap(void)
{
	return HAVE_DMA_BUF_ATTACH_REVOCABLE;
}

/* Driver and timeline names of a fence, copied, for diagnostics. */
static inline void bar_dmabuf_compat_fence_names(struct dma_fence *fence,
						 char *drv, size_t drv_len,
						 char *tl, size_t tl_len)
{
#if HAVE_DMA_FENCE_DRIVER_NAME
	const char __rcu *d;
	const char __rcu *t;

	rcu_read_lock();
	d = dma_fence_driver_name(fence);
	t = dma_fence_timeline_name(fence);
	strscpy(drv, rcu_dereference(d), drv_len);
	strscpy(tl, rcu_dereference(t), tl_len);
	rcu_read_unlock();
#else
	strscpy(drv, fence->ops->get_driver_name(fence), drv_len);
	strscpy(tl, fence->ops->get_timeline_name(fence), tl_len);
#endif
}

/*
 * P2P reachability: the P2P distance from the BAR's device to the
 * importer's device, < 0 when there is no provable path (the same answer
 * as pci_p2pdma_map_type(), which is not exported). Debian's 6.1 has no
 * CONFIG_PCI_P2PDMA: always < 0.
 */
static inline int bar_dmabuf_compat_p2p_distance(struct pci_dev *provider,
						 struct device *client)
{
	if (!IS_ENABLED(CONFIG_PCI_P2PDMA))
		return -1;
	return pci_p2pdma_distance(provider, client, false);
}

/*
 * A BAR has no CPU cache line, but DMA-API debug tracks one per mapped
 * address and WARNs past 7 live mappings of it: nine importers of one
 * buffer are ordinary use. Say that overlap is fine where the kernel
 * knows the attribute (7.2); 6.1 and 6.12 lack it, and Debian builds
 * them without DMA-API debug.
 */
#ifdef DMA_ATTR_DEBUGGING_IGNORE_CACHELINES
#define BAR_DMABUF_COMPAT_MMIO_ATTRS	DMA_ATTR_DEBUGGING_IGNORE_CACHELINES
#else
#define BAR_DMABUF_COMPAT_MMIO_ATTRS	0
#endif

/* the BAR ranges of a buffer, CPU physical addresses */
struct bar_dmabuf_phys_vec {
	phys_addr_t paddr;
	size_t len;
};

/*
 * The P2P path (6.19+): per-BAR providers, and the DMA API that maps MMIO
 * by physical address into an IOVA we allocate (what the kernel's
 * dma_buf_phys_vec_to_sgt() is built on). p2p.c maps a range with these
 * and keeps their state in the mapping's record, so that a map costs no
 * allocation but the IOVA.
 */
#if HAVE_DMA_IOVA_LINK_MMIO && HAVE_PCIM_P2PDMA_PROVIDER
#define BAR_DMABUF_COMPAT_P2P 1

/**
 * struct bar_dmabuf_compat_p2p_state - how one range was mapped
 * @iova: the IOVA we linked it into, if dma_use_iova()
 * @bus_addr: a PCI bus address (switch-local route): nothing to undo
 */
struct bar_dmabuf_compat_p2p_state {
	struct dma_iova_state iova;
	bool bus_addr;
};

static inline int bar_dmabuf_compat_p2p_init(struct pci_dev *pdev)
{
	if (!IS_ENABLED(CONFIG_PCI_P2PDMA))
		return -EOPNOTSUPP;
	return pcim_p2pdma_init(pdev);
}

static inline struct p2pdma_provider *
bar_dmabuf_compat_p2p_provider(struct pci_dev *pdev, int bar)
{
	return pcim_p2pdma_provider(pdev, bar);
}

/*
 * Map @len bytes at @paddr of @provider's BAR for @dev: its bus address
 * when @bus_addr, else through @dev's IOMMU domain when it has one (an
 * IOVA of our own, linked and synced), else dma_map_phys(). @st records
 * which, for bar_dmabuf_compat_p2p_unmap().
 */
static inline int
bar_dmabuf_compat_p2p_map(struct device *dev, struct p2pdma_provider *provider,
			  bool bus_addr, phys_addr_t paddr, size_t len,
			  enum dma_data_direction dir,
			  struct bar_dmabuf_compat_p2p_state *st,
			  dma_addr_t *addr)
{
	const unsigned long attrs = DMA_ATTR_MMIO | BAR_DMABUF_COMPAT_MMIO_ATTRS;
	int ret;

	memset(st, 0, sizeof(*st));
	st->bus_addr = bus_addr;
	if (bus_addr) {
		*addr = pci_p2pdma_bus_addr_map(provider, paddr);
		return 0;
	}
	if (!dma_iova_try_alloc(dev, &st->iova, paddr, len)) {
		*addr = dma_map_phys(dev, paddr, len, dir, attrs);
		return dma_mapping_error(dev, *addr);
	}
	ret = dma_iova_link(dev, &st->iova, paddr, 0, len, dir, attrs);
	if (ret) {
		dma_iova_free(dev, &st->iova);
		return ret;
	}
	ret = dma_iova_sync(dev, &st->iova, 0, len);
	if (ret) {
		dma_iova_destroy(dev, &st->iova, len, dir, attrs);
		return ret;
	}
	*addr = st->iova.addr;
	return 0;
}

/* undo bar_dmabuf_compat_p2p_map() of @len bytes at @addr */
static inline void
bar_dmabuf_compat_p2p_unmap(struct device *dev,
			    struct bar_dmabuf_compat_p2p_state *st,
			    dma_addr_t addr, size_t len,
			    enum dma_data_direction dir)
{
	const unsigned long attrs = DMA_ATTR_MMIO | BAR_DMABUF_COMPAT_MMIO_ATTRS;

	if (st->bus_addr)
		return;
	if (dma_use_iova(&st->iova))
		dma_iova_destroy(dev, &st->iova, len, dir, attrs);
	else
		dma_unmap_phys(dev, addr, len, dir, attrs);
}
#else
#define BAR_DMABUF_COMPAT_P2P 0

struct p2pdma_provider;

struct bar_dmabuf_compat_p2p_state {
	bool bus_addr;
};

static inline int bar_dmabuf_compat_p2p_init(struct pci_dev *pdev)
{
	return -EOPNOTSUPP;
}

static inline struct p2pdma_provider *
bar_dmabuf_compat_p2p_provider(struct pci_dev *pdev, int bar)
{
	return NULL;
}

static inline int
bar_dmabuf_compat_p2p_map(struct device *dev, struct p2pdma_provider *provider,
			  bool bus_addr, phys_addr_t paddr, size_t len,
			  enum dma_data_direction dir,
			  struct bar_dmabuf_compat_p2p_state *st,
			  dma_addr_t *addr)
{
	return -EOPNOTSUPP;
}

static inline void
bar_dmabuf_compat_p2p_unmap(struct device *dev,
			    struct bar_dmabuf_compat_p2p_state *st,
			    dma_addr_t addr, size_t len,
			    enum dma_data_direction dir)
{
}
#endif

/* =================== end of exporter (bar_dmabuf) section ================ */

/* ============== importer (bar_dmabuf_importer) section ============== */

/*
 * The member of &struct dma_buf_attach_ops that the exporter calls to
 * invalidate an importer's mappings: move_notify until 7.0,
 * invalidate_mappings from 7.1. Use as a designated initialiser:
 * .BAR_DMABUF_IMP_COMPAT_INVALIDATE_OP = callback.
 */
#if HAVE_DMA_BUF_ATTACH_OPS_INVALIDATE_MAPPINGS
#define BAR_DMABUF_IMP_COMPAT_INVALIDATE_OP invalidate_mappings
#else
#define BAR_DMABUF_IMP_COMPAT_INVALIDATE_OP move_notify
#endif

/*
 * dma_buf_vmap()/dma_buf_vunmap() for a caller holding no lock: the
 * *_unlocked variants from 6.2 on (they take the reservation lock, which
 * dma_buf_vmap() then asserts); 6.1's dma_buf_vmap() locks by itself.
 */
static inline int bar_dmabuf_imp_compat_vmap(struct dma_buf *dmabuf,
					     struct iosys_map *map)
{
#if HAVE_DMA_BUF_VMAP_UNLOCKED
	return dma_buf_vmap_unlocked(dmabuf, map);
#else
	return dma_buf_vmap(dmabuf, map);
#endif
}

static inline void bar_dmabuf_imp_compat_vunmap(struct dma_buf *dmabuf,
						struct iosys_map *map)
{
#if HAVE_DMA_BUF_VMAP_UNLOCKED
	dma_buf_vunmap_unlocked(dmabuf, map);
#else
	dma_buf_vunmap(dmabuf, map);
#endif
}

/* ============ end of importer (bar_dmabuf_importer) section ============ */

#endif /* _BAR_DMABUF_COMPAT_H */
