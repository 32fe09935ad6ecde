// SPDX-License-Identifier: GPL-2.0
/*
 * DMA_RESV_USAGE_BOOKKEEP: fence usages, Linux 5.19 ("dma-buf: add enum
 * dma_resv_usage"). Rule 4 waits for every usage; compat.h refuses to build
 * without it (our floor).
 */
#include <linux/dma-resv.h>

long probe(struct dma_resv *obj);
long probe(struct dma_resv *obj)
{
	return dma_resv_wait_timeout(obj, DMA_RESV_USAGE_BOOKKEEP, false, 1);
}
