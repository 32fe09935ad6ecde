// SPDX-License-Identifier: GPL-2.0
/*
 * dma_buf_attach_revocable(): Linux 7.1, with the invalidate_mappings
 * rename; tells whether an importer promises to unmap after invalidation.
 */
#include <linux/dma-buf.h>

bool probe(struct dma_buf_attachment *attach);
bool probe(struct dma_buf_attachment *attach)
{
	return dma_buf_attach_revocable(attach);
}
