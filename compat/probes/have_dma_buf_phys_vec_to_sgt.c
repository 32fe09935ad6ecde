// SPDX-License-Identifier: GPL-2.0
/*
 * dma_buf_phys_vec_to_sgt()/dma_buf_free_sgt(): the dma-buf P2P mapping
 * helpers for MMIO exporters (Linux 6.19, added for vfio-pci's dma-buf).
 */
#include <linux/dma-buf-mapping.h>
#include <linux/pci-p2pdma.h>

struct sg_table *probe(struct dma_buf_attachment *a, struct p2pdma_provider *p,
		       struct phys_vec *v);
struct sg_table *probe(struct dma_buf_attachment *a, struct p2pdma_provider *p,
		       struct phys_vec *v)
{
	return dma_buf_phys_vec_to_sgt(a, p, v, 1, v->len, DMA_BIDIRECTIONAL);
}
