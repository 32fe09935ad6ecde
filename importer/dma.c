// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf_importer: the accesses of the simulated hardware.
 *
 * A real device hands a DMA address to its IOMMU (or, without one, puts it
 * on the bus). We do the same in software: every page of an access is
 * translated through the IOMMU domain of our device when it has one, or
 * taken as a bus address (equal to the CPU physical address on the x86
 * machines we run on) when it has none. The result is then read or written
 * by the CPU through a temporary mapping, in process context. An address
 * that does not translate is a DMA fault: logged, counted, and returned as
 * -EFAULT, never retried or hidden.
 */
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/ioport.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/string.h>

#include "importer.h"

/*
 * A direct peer-to-peer bus address (both devices behind one PCIe switch)
 * is routed by the switch and never reaches the IOMMU. The IOVA allocator
 * keeps the PCI host bridge windows out of the IOVA space, so an address
 * that misses the domain but lies in a memory BAR of some PCI device can
 * only be such a bus address. Return the BAR's CPU address, or 0.
 */
static phys_addr_t imp_dma_bar_bus_addr(dma_addr_t addr)
{
	struct pci_bus_region region;
	struct pci_dev *pdev = NULL;
	struct resource *res;
	int i;

	for_each_pci_dev(pdev) {
		for (i = 0; i < PCI_STD_NUM_BARS; i++) {
			res = &pdev->resource[i];
			if (resource_type(res) != IORESOURCE_MEM || !res->start)
				continue;
			pcibios_resource_to_bus(pdev->bus, &region, res);
			if (addr >= region.start && addr <= region.end) {
				pci_dev_put(pdev);
				return res->start + (addr - region.start);
			}
		}
	}
	return 0;
}

/* Translate one DMA address as the device's IOMMU would; 0 = fault. */
static phys_addr_t imp_dma_translate(struct device *dev, dma_addr_t addr)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);
	phys_addr_t phys;

	if (!domain)
		return addr;	/* no IOMMU: bus address = CPU address */
	/* Identity domains return addr, blocking ones 0. */
	phys = iommu_iova_to_phys(domain, addr);
	if (!phys && dev_is_pci(dev))
		phys = imp_dma_bar_bus_addr(addr);
	return phys;
}

/* Move @len bytes (within one page) at physical @phys. */
static int imp_dma_copy(phys_addr_t phys, void *buf, size_t len, bool write)
{
	void __iomem *io;
	void *mem;

	switch (region_intersects(phys, len, IORESOURCE_SYSTEM_RAM,
				  IORES_DESC_NONE)) {
	case REGION_INTERSECTS:
		/* A buffer in RAM (another exporter): the direct map. */
		mem = memremap(phys, len, MEMREMAP_WB);
		if (!mem)
			return -EFAULT;
		if (write)
			memcpy(mem, buf, len);
		else
			memcpy(buf, mem, len);
		memunmap(mem);
		return 0;
	case REGION_DISJOINT:
		io = ioremap(phys, len);
		if (!io)
			return -EFAULT;
		if (write)
			memcpy_toio(io, buf, len);
		else
			memcpy_fromio(buf, io, len);
		iounmap(io);
		return 0;
	default:
		return -EFAULT;
	}
}

/* Find the DMA address of byte @offset of mapping @m; bytes left in it. */
static bool imp_dma_addr_of(struct imp_mapping *m, u64 offset,
			    dma_addr_t *addr, u64 *seg_left)
{
	unsigned int i;

	for (i = 0; i < m->nsegs; i++) {
		if (offset < m->segs[i].len) {
			*addr = m->segs[i].addr + offset;
			*seg_left = m->segs[i].len - offset;
			return true;
		}
		offset -= m->segs[i].len;
	}
	return false;
}

/**
 * imp_dma_access() - read or write part of a mapping as the device would
 * @ia: the attachment (for the log)
 * @m: the mapping whose DMA addresses to use (they may have been unmapped:
 *	that is the point of late reads)
 * @offset: byte offset in the mapping
 * @buf: kernel buffer of @len bytes
 * @len: bytes to move
 * @write: direction
 *
 * Process context; may sleep. Takes no lock of ours but imp_log.lock.
 *
 * Return: 0, or -EFAULT after logging a DMA fault at the first address that
 * did not translate.
 */
int imp_dma_access(struct imp_attach *ia, struct imp_mapping *m, u64 offset,
		   void *buf, u64 len, bool write)
{
	struct device *dev = imp_dma_device();
	dma_addr_t addr = 0;
	phys_addr_t phys;
	u64 seg_left, chunk;
	int ret;

	while (len) {
		if (!imp_dma_addr_of(m, offset, &addr, &seg_left)) {
			ret = -EFAULT;
			goto fault;
		}
		chunk = min3(len, seg_left,
			     (u64)(PAGE_SIZE - offset_in_page(addr)));
		phys = imp_dma_translate(dev, addr);
		if (!phys) {
			ret = -EFAULT;
			goto fault;
		}
		ret = imp_dma_copy(phys, buf, chunk, write);
		if (ret)
			goto fault;
		buf += chunk;
		offset += chunk;
		len -= chunk;
	}
	return 0;

fault:
	atomic_inc(&imp_counters.dma_faults);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_DMA_FAULT, addr,
		      ret);
	dev_dbg(dev, "DMA fault at %pad (%s, attachment %u)\n", &addr,
		write ? "write" : "read", ia->handle);
	return ret;
}
