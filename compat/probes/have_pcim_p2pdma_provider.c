// SPDX-License-Identifier: GPL-2.0
/*
 * pcim_p2pdma_init()/pcim_p2pdma_provider()/pci_p2pdma_map_type(provider):
 * per-BAR P2P providers (Linux 6.19, with the dma-buf P2P helpers).
 */
#include <linux/pci-p2pdma.h>

int probe(struct pci_dev *pdev, struct device *dev);
int probe(struct pci_dev *pdev, struct device *dev)
{
	struct p2pdma_provider *p;

	if (pcim_p2pdma_init(pdev))
		return -1;
	p = pcim_p2pdma_provider(pdev, 0);
	return pci_p2pdma_map_type(p, dev);
}
