// SPDX-License-Identifier: GPL-2.0
/*
 * pcim_p2pdma_init()/pcim_p2pdma_provider(): per-BAR P2P providers
 * (Linux 6.19, with the dma-buf P2P helpers).
 */
#include <linux/pci-p2pdma.h>

struct p2pdma_provider *probe(struct pci_dev *pdev);
struct p2pdma_provider *probe(struct pci_dev *pdev)
{
	if (pcim_p2pdma_init(pdev))
		return NULL;
	return pcim_p2pdma_provider(pdev, 0);
}
