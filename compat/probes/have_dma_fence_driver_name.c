// SPDX-License-Identifier: GPL-2.0
/*
 * dma_fence_driver_name()/dma_fence_timeline_name(): Linux 6.16 made
 * fence->ops RCU protected; names are read through these under RCU.
 */
#include <linux/dma-fence.h>

const char __rcu *probe(struct dma_fence *f);
const char __rcu *probe(struct dma_fence *f)
{
	return dma_fence_timeline_name(f) ? dma_fence_driver_name(f) : NULL;
}
