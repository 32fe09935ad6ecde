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
 *    physical address (direct), routed through the host bridge. That is
 *    not the path the kernel proved when both devices sit below one switch
 *    with no ACS redirect between them (its PCI_P2PDMA_MAP_BUS_ADDR): the
 *    traffic would go up to a root complex nobody checked can forward it,
 *    or carry a CPU address where a bus address is needed. So that case is
 *    refused like an unproven one (-EXDEV unless allow_unproven_p2p=1);
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
 * The helper (7.2) splits a range longer than one entry only in the
 * table: through an IOMMU DMA domain it maps one IOVA range and frees it
 * whole, which is right; otherwise (no IOMMU, iommu.passthrough=1, or at
 * map time when the IOVA space is exhausted) it maps the range with one
 * dma_map_phys() and dma_buf_free_sgt() unmaps it entry by entry, which
 * DMA-API debug reports as a size mismatch. Which of the two it takes can
 * change from one map to the next, so only buffers whose every range fits
 * one entry go to the helper: for them both ways unmap what they mapped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "bar_dmabuf.h"

/* largest sg entry: page aligned and below 4 GiB */
#define BAR_DMABUF_MAX_SEG	((size_t)ALIGN_DOWN(UINT_MAX, PAGE_SIZE))

/*
 * Can the kernel's helper map @buf? At most as many ranges as it links
 * right, each one sg entry long (see the top of this file).
 */
static bool bar_dmabuf_p2p_helper_fits(struct bar_dmabuf_buf *buf)
{
	u32 i;

	if (buf->nr_ranges > BAR_DMABUF_COMPAT_P2P_HELPER_MAX_RANGES)
		return false;
	for (i = 0; i < buf->nr_ranges; i++)
		if (buf->phys[i].len > BAR_DMABUF_MAX_SEG)
			return false;
	return true;
}

/* Does @bridge redirect peer-to-peer requests upstream (ACS)? */
static bool bar_dmabuf_p2p_acs_redirects(struct pci_dev *bridge)
{
	int pos = pci_find_ext_capability(bridge, PCI_EXT_CAP_ID_ACS);
	u16 ctrl;

	if (!pos || pci_read_config_word(bridge, pos + PCI_ACS_CTRL, &ctrl))
		return false;
	return ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC);
}

/*
 * The PCI function the P2P core judges for @dev: itself or its nearest
 * PCI parent (an RDMA or DRM device hangs below its function). The
 * importer holds @dev across attach, and a device holds its parent.
 */
static struct pci_dev *bar_dmabuf_p2p_pci_of(struct device *dev)
{
	while (dev && !dev_is_pci(dev))
		dev = dev->parent;
	return dev ? to_pci_dev(dev) : NULL;
}

/*
 * Would the kernel have @client reach @provider by PCI bus address: a
 * bridge upstream of both below the host bridge, and no ACS redirect on
 * either way up to it (PCI_P2PDMA_MAP_BUS_ADDR; pci_p2pdma_map_type() is
 * not exported)? The same walk as the P2P core's; a reference on each
 * device keeps its upstream bridges.
 */
static bool bar_dmabuf_p2p_switch_local(struct pci_dev *provider,
					struct pci_dev *client)
{
	struct pci_dev *a, *b;
	bool redirect = false;

	if (!client)
		return false;
	for (a = provider; a; a = pci_upstream_bridge(a)) {
		redirect |= bar_dmabuf_p2p_acs_redirects(a);
		for (b = client; b && b != a; b = pci_upstream_bridge(b))
			;
		if (b)
			break;
	}
	if (!a)
		return false;	/* only the host bridge above both */
	for (b = client; b != a; b = pci_upstream_bridge(b))
		redirect |= bar_dmabuf_p2p_acs_redirects(b);
	return !redirect;
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
 * Return: 0, or -EXDEV when the P2P path cannot be proven, or is a
 * switch-local one our mapping would not take, and allow_unproven_p2p is
 * off (after a message naming the parameter).
 */
int bar_dmabuf_p2p_attach(struct bar_dmabuf_buf *buf,
			  struct bar_dmabuf_attach *battach)
{
	struct bar_dmabuf_dev *bdev = buf->bdev;
	struct device *dev = battach->attach->dev;
	struct p2pdma_provider *provider = bdev->providers[buf->bar];
	bool switch_local;
	int dist;

	dma_resv_assert_held(buf->dmabuf->resv);

	dist = bar_dmabuf_compat_p2p_distance(bdev->pdev, dev);

	battach->path = BAR_DMABUF_PATH_RESOURCE;
	battach->route = BAR_DMABUF_ROUTE_UNPROVEN;
	if (dist >= 0) {
		switch_local = bar_dmabuf_p2p_switch_local(bdev->pdev,
							   bar_dmabuf_p2p_pci_of(dev));
		battach->route = switch_local ? BAR_DMABUF_ROUTE_SWITCH :
						BAR_DMABUF_ROUTE_HOST_BRIDGE;
		if (BAR_DMABUF_COMPAT_P2P_HELPERS && provider &&
		    bar_dmabuf_p2p_helper_fits(buf)) {
			battach->path = BAR_DMABUF_PATH_HELPER;
			return 0;
		}
		if (battach->route == BAR_DMABUF_ROUTE_HOST_BRIDGE)
			return 0;
		if (READ_ONCE(bar_dmabuf_allow_unproven_p2p)) {
			dev_info_once(dev,
				      "%s: reaches the BAR through a switch, but our mapping goes through the host bridge; mapping anyway (allow_unproven_p2p=1)\n",
				      bdev->name);
			return 0;
		}
		dev_warn_ratelimited(dev,
				     "%s buffer %u: this device reaches the BAR by bus address through a PCIe switch, but the buffer can only be mapped through the host bridge (%s), which nobody proved forwards peer-to-peer; an administrator who knows it does can load bar_dmabuf with allow_unproven_p2p=1\n",
				     bdev->name, buf->id,
				     BAR_DMABUF_COMPAT_P2P_HELPERS ?
				     "several ranges, or one longer than 4 GiB" :
				     "this kernel has no dma-buf P2P helpers");
		return -EXDEV;
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
				   dir, BAR_DMABUF_COMPAT_MMIO_ATTRS);
}

static struct sg_table *bar_dmabuf_p2p_map_res(struct bar_dmabuf_buf *buf,
					       struct device *dev,
					       enum dma_data_direction dir,
					       struct sg_table *sgt)
{
	unsigned int nents = bar_dmabuf_p2p_nents(buf), done = 0;
	struct scatterlist *sg;
	int ret;
	u32 i;

	ret = sg_alloc_table(sgt, nents, GFP_KERNEL);
	if (ret)
		return ERR_PTR(ret);

	sg = sgt->sgl;
	for (i = 0; i < buf->nr_ranges; i++) {
		phys_addr_t phys = buf->phys[i].paddr;
		size_t left = buf->phys[i].len;

		while (left) {
			size_t len = min(left, BAR_DMABUF_MAX_SEG);
			dma_addr_t addr;

			addr = dma_map_resource(dev, phys, len, dir,
						BAR_DMABUF_COMPAT_MMIO_ATTRS);
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
	return ERR_PTR(ret);
}

/**
 * bar_dmabuf_p2p_map() - map the buffer for an attachment
 * @buf: the buffer
 * @battach: the attachment, its path chosen at attach
 * @dir: DMA direction
 * @room: where the dma_map_resource() path builds its table (the mapping's
 *	record); the kernel's helper allocates its own
 *
 * Called with the resv lock held.
 *
 * Return: the table or an ERR_PTR.
 */
struct sg_table *bar_dmabuf_p2p_map(struct bar_dmabuf_buf *buf,
				    struct bar_dmabuf_attach *battach,
				    enum dma_data_direction dir,
				    struct sg_table *room)
{
	struct dma_buf_attachment *attach = battach->attach;

	if (battach->path == BAR_DMABUF_PATH_HELPER)
		return bar_dmabuf_compat_p2p_map(attach,
						 buf->bdev->providers[buf->bar],
						 buf->phys, buf->nr_ranges,
						 buf->size, dir);
	return bar_dmabuf_p2p_map_res(buf, attach->dev, dir, room);
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
}
