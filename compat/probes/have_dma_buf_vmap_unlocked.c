// SPDX-License-Identifier: GPL-2.0
/*
 * dma_buf_vmap_unlocked(): Linux 6.2 ("dma-buf: Add unlocked variant of
 * vmapping functions"), in the series that moved dma_buf_vmap() under the
 * reservation lock. Before it dma_buf_vmap() took dmabuf->lock itself.
 */
#include <linux/dma-buf.h>
#include <linux/iosys-map.h>

int probe(struct dma_buf *dmabuf, struct iosys_map *map);
int probe(struct dma_buf *dmabuf, struct iosys_map *map)
{
	return dma_buf_vmap_unlocked(dmabuf, map);
}
