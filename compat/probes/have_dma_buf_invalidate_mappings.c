// SPDX-License-Identifier: GPL-2.0
/*
 * dma_buf_invalidate_mappings(): Linux 7.1 renamed dma_buf_move_notify()
 * and &dma_buf_attach_ops.move_notify to invalidate_mappings.
 */
#include <linux/dma-buf.h>

void probe(struct dma_buf *dmabuf);
void probe(struct dma_buf *dmabuf)
{
	dma_buf_invalidate_mappings(dmabuf);
}
