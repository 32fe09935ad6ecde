/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_dmabuf_importer: the kernel vmap user (vmap.c), called by cdev.c.
 *
 * Lock order: the vmap table's xarray lock is innermost and never held
 * while calling the dma-buf core; VMAP, VMAP_RW and VUNMAP take the
 * buffer's dma_resv lock (inside the dma-buf core) with no lock of ours.
 */
#ifndef BAR_DMABUF_IMPORTER_VMAP_H
#define BAR_DMABUF_IMPORTER_VMAP_H

#include <linux/bar_dmabuf_importer.h>

struct imp_file;

int imp_vmap_map_ioctl(struct imp_file *ifile, struct bar_dmabuf_imp_vmap *arg);
int imp_vmap_unmap_ioctl(struct imp_file *ifile,
			 struct bar_dmabuf_imp_handle *arg);
int imp_vmap_rw_ioctl(struct imp_file *ifile, struct bar_dmabuf_imp_vmap_rw *arg);
void imp_vmap_release_file(struct imp_file *ifile);

#endif /* BAR_DMABUF_IMPORTER_VMAP_H */
