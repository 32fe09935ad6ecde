// SPDX-License-Identifier: GPL-2.0
/*
 * dma_iova_try_alloc()/dma_iova_link() with DMA_ATTR_MMIO, dma_map_phys()
 * and pci_p2pdma_bus_addr_map() of a provider: mapping MMIO by physical
 * address, the API under the kernel's dma-buf P2P helpers (Linux 6.19).
 */
#include <linux/dma-mapping.h>
#include <linux/pci-p2pdma.h>

int probe(struct device *d, struct dma_iova_state *s,
	  struct p2pdma_provider *p, phys_addr_t a);
int probe(struct device *d, struct dma_iova_state *s,
	  struct p2pdma_provider *p, phys_addr_t a)
{
	dma_addr_t x = dma_map_phys(d, a, 4096, DMA_BIDIRECTIONAL,
				    DMA_ATTR_MMIO);

	if (dma_iova_try_alloc(d, s, a, 4096))
		return dma_iova_link(d, s, a, 0, 4096, DMA_BIDIRECTIONAL,
				     DMA_ATTR_MMIO);
	return x == pci_p2pdma_bus_addr_map(p, a);
}
