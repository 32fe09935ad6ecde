// SPDX-License-Identifier: GPL-2.0
/*
 * &struct dma_buf_attach_ops.invalidate_mappings: Linux 7.1 renamed the
 * importer's move_notify callback (with dma_buf_move_notify() becoming
 * dma_buf_invalidate_mappings()). Used by the importer.
 */
#include <linux/dma-buf.h>

static void probe_cb(struct dma_buf_attachment *attach)
{
}

const struct dma_buf_attach_ops probe_ops = {
	.invalidate_mappings = probe_cb,
};
