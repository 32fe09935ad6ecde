// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: DMA addresses of the BAR ranges for an importer's device.
 *
 * At attach time we decide how this importer's mappings are made, once:
 *
 *  - when pci_p2pdma_distance() accepts the path from our device to the
 *    importer's (a switch-local bus address, or a host bridge the P2P core
 *    trusts): the kernel's dma-buf P2P helpers where it has them (6.19+),
 *    which pick bus address or IOVA; on older kernels dma_map_resource()
 *    of each range, which gives the importer an IOVA (IOMMU) or the CPU
 *    physical address (direct), routed through the host bridge;
 *  - otherwise (no CONFIG_PCI_P2PDMA as on Debian's 6.1, a host bridge not
 *    on the P2P list, an importer that is not a PCI function) the path
 *    cannot be proven, and the attach fails with -EXDEV unless the
 *    administrator set allow_unproven_p2p=1; then dma_map_resource().
 *
 * Either way an sg entry never reaches 4 GiB (sg_dma_len() is 32 bits);
 * long ranges are split. Unmap undoes exactly what map did: the helper's
 * table goes back to the helper, ours is unmapped entry by entry, each
 * entry being one dma_map_resource() of its own.
 *
 * The helper (7.2) splits a long range only in the table: through an
 * IOMMU DMA domain it maps one IOVA range and frees it whole, which is
 * right; without one (no IOMMU, iommu.passthrough=1) it maps the range
 * with one dma_map_phys() and dma_buf_free_sgt() unmaps it entry by
 * entry, which DMA-API debug reports as a size mismatch. A buffer longer
 * than one entry goes to the helper only in the first case.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/iommu.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "bar_dmabuf.h"

/* largest sg entry: page aligned and below 4 GiB */
#define BAR_DMABUF_MAX_SEG	((size_t)ALIGN_DOWN(UINT_MAX, PAGE_SIZE))

/*
 * Does the kernel's helper map @buf for @dev the way its free unmaps it?
 * Always for a buffer of one sg entry; for a longer one only when @dev
 * translates through an IOMMU DMA domain (see the top of this file). The
 * domain type stays while the importer's driver is bound.
 */
static bool bar_dmabuf_p2p_helper_unmaps_whole(struct bar_dmabuf_buf *buf,
					       struct device *dev)
{
	struct iommu_domain *domain;

	if (buf->size <= BAR_DMABUF_MAX_SEG)
		return true;
	domain = iommu_get_domain_for_dev(dev);
	return domain && iommu_is_dma_domain(domain);
}

/**
 * bar_dmabuf_p2p_attach() - choose how @battach's mappings are made
 * @buf: the buffer
 * @battach: the new attachment
 *
 * Caller holds the buffer's resv lock and has seen it not revoked. The
 * distance is computed in the device's P2P state, which devres frees
 * once remove() has returned; remove marks every buffer revoked under
 * that lock before it returns, so the state is alive here. No device
 * lock: an importer may hold its own locks across dma_buf_dynamic_attach()
 * and take them in its invalidate callback, which the revoke calls with
 * the device lock held.
 *
 * Return: 0, or -EXDEV when the P2P path cannot be proven and
 * allow_unproven_p2p is off (after a message naming the parameter).
 */
int bar_dmabuf_p2p_attach(struct bar_dmabuf_buf *buf,
			  struct bar_dmabuf_attach *battach)
{
	struct bar_dmabuf_dev *bdev = buf->bdev;
	struct device *dev = battach->attach->dev;
	struct p2pdma_provider *provider = bdev->providers[buf->bar];
	int dist;

	dma_resv_assert_held(buf->dmabuf->resv);

	dist = bar_dmabuf_compat_p2p_distance(bdev->pdev, dev);

	battach->path = BAR_DMABUF_PATH_RESOURCE;
	if (dist >= 0) {
		if (BAR_DMABUF_COMPAT_P2P_HELPERS && provider &&
		    buf->nr_ranges <= BAR_DMABUF_COMPAT_P2P_HELPER_MAX_RANGES &&
		    bar_dmabuf_p2p_helper_unmaps_whole(buf, dev))
			battach->path = BAR_DMABUF_PATH_HELPER;
		return 0;
	}
	if (READ_ONCE(bar_dmabuf_allow_unproven_p2p)) {
		dev_info_once(dev,
			      "%s: P2P path to this device not proven; mapping anyway (allow_unproven_p2p=1)\n",
			      bdev->name);
		return 0;
	}
	dev_warn_ratelimited(dev,
			     "%s buffer %u: cannot prove a P2P path from the BAR to this device (kernel without CONFIG_PCI_P2PDMA, host bridge not on the P2P list, or not a PCI device); an administrator who knows it works can load bar_dmabuf with allow_unproven_p2p=1\n",
			     bdev->name, buf->id);
	return -EXDEV;
}

static unsigned int bar_dmabuf_p2p_nents(struct bar_dmabuf_buf *buf)
{
	unsigned int n = 0;
	u32 i;

	for (i = 0; i < buf->nr_ranges; i++)
		n += DIV_ROUND_UP(buf->phys[i].len, BAR_DMABUF_MAX_SEG);
	return n;
}

/* undo the first @done entries of a table made by bar_dmabuf_p2p_map_res */
static void bar_dmabuf_p2p_unmap_res(struct device *dev, struct sg_table *sgt,
				     unsigned int done,
				     enum dma_data_direction dir)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sg(sgt->sgl, sg, done, i)
		dma_unmap_resource(dev, sg_dma_address(sg), sg_dma_len(sg),
				   dir, 0);
}

static struct sg_table *bar_dmabuf_p2p_map_res(struct bar_dmabuf_buf *buf,
					       struct device *dev,
					       enum dma_data_direction dir)
{
	unsigned int nents = bar_dmabuf_p2p_nents(buf), done = 0;
	struct scatterlist *sg;
	struct sg_table *sgt;
	int ret;
	u32 i;

	sgt = bar_dmabuf_compat_zalloc(*sgt);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table(sgt, nents, GFP_KERNEL);
	if (ret)
		goto err_free;

	sg = sgt->sgl;
	for (i = 0; i < buf->nr_ranges; i++) {
		phys_addr_t phys = buf->phys[i].paddr;
		size_t left = buf->phys[i].len;

		while (left) {
			size_t len = min(left, BAR_DMABUF_MAX_SEG);
			dma_addr_t addr;

			addr = dma_map_resource(dev, phys, len, dir, 0);
			if (dma_mapping_error(dev, addr)) {
				ret = -ENOMEM;
				goto err_unmap;
			}
			/* no CPU side: importers get DMA addresses only */
			sg_set_page(sg, NULL, 0, 0);
			sg_dma_address(sg) = addr;
			sg_dma_len(sg) = len;
			sg = sg_next(sg);
			done++;
			phys += len;
			left -= len;
		}
	}
	sgt->nents = nents;
	return sgt;

err_unmap:
	bar_dmabuf_p2p_unmap_res(dev, sgt, done, dir);
	sg_free_table(sgt);
err_free:
	kfree(sgt);
	return ERR_PTR(ret);
}

/**
 * bar_dmabuf_p2p_map() - map the buffer for an attachment
 * @buf: the buffer
 * @battach: the attachment, its path chosen at attach
 * @dir: DMA direction
 *
 * Called with the resv lock held.
 *
 * Return: the table or an ERR_PTR.
 */
struct sg_table *bar_dmabuf_p2p_map(struct bar_dmabuf_buf *buf,
				    struct bar_dmabuf_attach *battach,
				    enum dma_data_direction dir)
{
	struct dma_buf_attachment *attach = battach->attach;

	if (battach->path == BAR_DMABUF_PATH_HELPER)
		return bar_dmabuf_compat_p2p_map(attach,
						 buf->bdev->providers[buf->bar],
						 buf->phys, buf->nr_ranges,
						 buf->size, dir);
	return bar_dmabuf_p2p_map_res(buf, attach->dev, dir);
}

/**
 * bar_dmabuf_p2p_unmap() - release exactly what bar_dmabuf_p2p_map() made
 * @battach: the attachment
 * @sgt: the table
 * @dir: DMA direction
 *
 * Takes no lock (see bar_dmabuf_unmap()).
 */
void bar_dmabuf_p2p_unmap(struct bar_dmabuf_attach *battach,
			  struct sg_table *sgt, enum dma_data_direction dir)
{
	struct dma_buf_attachment *attach = battach->attach;

	if (battach->path == BAR_DMABUF_PATH_HELPER) {
		bar_dmabuf_compat_p2p_unmap(attach, sgt, dir);
		return;
	}
	bar_dmabuf_p2p_unmap_res(attach->dev, sgt, sgt->nents, dir);
	sg_free_table(sgt);
	kfree(sgt);
}
