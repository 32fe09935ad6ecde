/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_dmabuf tracepoints: a revoke's timeline for trace-cmd and perf.
 *
 *   bar_dmabuf:bar_dmabuf_export          a buffer was made
 *   bar_dmabuf:bar_dmabuf_attach          an importer attached (path)
 *   bar_dmabuf:bar_dmabuf_map             ... mapped (sg entries)
 *   bar_dmabuf:bar_dmabuf_unmap           ... unmapped
 *   bar_dmabuf:bar_dmabuf_revoke_start    rule 1-3 done for a buffer
 *   bar_dmabuf:bar_dmabuf_fences_drained  rule 4 holds
 *   bar_dmabuf:bar_dmabuf_unmaps_drained  rule 5 holds
 *   bar_dmabuf:bar_dmabuf_revoke_done     rule 6 (ret 0) or not (ret < 0)
 *   bar_dmabuf:bar_dmabuf_restore         rule 9
 *
 * Strings are copied into fixed arrays (no __string/__assign_str, whose
 * arguments changed in 6.10). A record goes out whole (trace_pipe_raw,
 * perf), and the ring buffer is not cleared for it: pad the strings and
 * lay the fields out with no hole, so no stale byte of an older record
 * (another event's pointers among them) goes out with ours.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM bar_dmabuf

#if !defined(_BAR_DMABUF_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _BAR_DMABUF_TRACE_H

#include <linux/device.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

#include "bar_dmabuf.h"

DECLARE_EVENT_CLASS(bar_dmabuf_buf_class,
		    TP_PROTO(struct bar_dmabuf_buf *buf),
		    TP_ARGS(buf),
		    TP_STRUCT__entry(__array(char, bdf, BAR_DMABUF_NAME_LEN)
				     __field(u32, id)),
		    TP_fast_assign(strscpy_pad(__entry->bdf, buf->bdev->name, BAR_DMABUF_NAME_LEN);
				   __entry->id = buf->id;),
		    TP_printk("%s buffer %u",
			      __entry->bdf,
			      __entry->id)
);

DEFINE_EVENT(bar_dmabuf_buf_class, bar_dmabuf_fences_drained,
	     TP_PROTO(struct bar_dmabuf_buf *buf),
	     TP_ARGS(buf));
DEFINE_EVENT(bar_dmabuf_buf_class, bar_dmabuf_unmaps_drained,
	     TP_PROTO(struct bar_dmabuf_buf *buf),
	     TP_ARGS(buf));
DEFINE_EVENT(bar_dmabuf_buf_class, bar_dmabuf_restore,
	     TP_PROTO(struct bar_dmabuf_buf *buf),
	     TP_ARGS(buf));

TRACE_EVENT(bar_dmabuf_export,
	    TP_PROTO(struct bar_dmabuf_buf *buf),
	    TP_ARGS(buf),
	    TP_STRUCT__entry(__field(u64, size)
			     __array(char, bdf, BAR_DMABUF_NAME_LEN)
			     __field(u32, id)
			     __field(u16, bar)
			     __field(u16, nr_ranges)),
	    TP_fast_assign(strscpy_pad(__entry->bdf, buf->bdev->name, BAR_DMABUF_NAME_LEN);
			   __entry->id = buf->id;
			   __entry->bar = buf->bar;
			   __entry->nr_ranges = buf->nr_ranges;
			   __entry->size = buf->size;),
	    TP_printk("%s buffer %u bar %u ranges %u size %llu",
		      __entry->bdf,
		      __entry->id,
		      __entry->bar,
		      __entry->nr_ranges,
		      __entry->size)
);

TRACE_EVENT(bar_dmabuf_attach,
	    TP_PROTO(struct bar_dmabuf_buf *buf,
		     struct device *dev,
		     int path),
	    TP_ARGS(buf, dev, path),
	    TP_STRUCT__entry(__array(char, bdf, BAR_DMABUF_NAME_LEN)
			     __array(char, importer, BAR_DMABUF_NAME_LEN)
			     __field(u32, id)
			     __field(int, path)),
	    TP_fast_assign(strscpy_pad(__entry->bdf, buf->bdev->name, BAR_DMABUF_NAME_LEN);
			   strscpy_pad(__entry->importer, dev_name(dev), BAR_DMABUF_NAME_LEN);
			   __entry->id = buf->id;
			   __entry->path = path;),
	    TP_printk("%s buffer %u importer %s path %s",
		      __entry->bdf,
		      __entry->id,
		      __entry->importer,
		      __entry->path ? "dma_map_resource" : "p2p-helper")
);

TRACE_EVENT(bar_dmabuf_map,
	    TP_PROTO(struct bar_dmabuf_buf *buf,
		     struct device *dev,
		     unsigned int nents),
	    TP_ARGS(buf, dev, nents),
	    TP_STRUCT__entry(__array(char, bdf, BAR_DMABUF_NAME_LEN)
			     __array(char, importer, BAR_DMABUF_NAME_LEN)
			     __field(u32, id)
			     __field(unsigned int, nents)
			     __field(int, live)),
	    TP_fast_assign(strscpy_pad(__entry->bdf, buf->bdev->name, BAR_DMABUF_NAME_LEN);
			   strscpy_pad(__entry->importer, dev_name(dev), BAR_DMABUF_NAME_LEN);
			   __entry->id = buf->id;
			   __entry->nents = nents;
			   __entry->live = atomic_read(&buf->live_maps);),
	    TP_printk("%s buffer %u importer %s nents %u live %d",
		      __entry->bdf,
		      __entry->id,
		      __entry->importer,
		      __entry->nents,
		      __entry->live)
);

TRACE_EVENT(bar_dmabuf_unmap,
	    TP_PROTO(struct bar_dmabuf_buf *buf,
		     struct device *dev),
	    TP_ARGS(buf, dev),
	    TP_STRUCT__entry(__array(char, bdf, BAR_DMABUF_NAME_LEN)
			     __array(char, importer, BAR_DMABUF_NAME_LEN)
			     __field(u32, id)
			     __field(int, live)),
	    TP_fast_assign(strscpy_pad(__entry->bdf, buf->bdev->name, BAR_DMABUF_NAME_LEN);
			   strscpy_pad(__entry->importer, dev_name(dev), BAR_DMABUF_NAME_LEN);
			   __entry->id = buf->id;
			   __entry->live = atomic_read(&buf->live_maps) - 1;),
	    TP_printk("%s buffer %u importer %s live %d",
		      __entry->bdf,
		      __entry->id,
		      __entry->importer,
		      __entry->live)
);

TRACE_EVENT(bar_dmabuf_revoke_start,
	    TP_PROTO(struct bar_dmabuf_buf *buf,
		     bool dead),
	    TP_ARGS(buf, dead),
	    TP_STRUCT__entry(__array(char, bdf, BAR_DMABUF_NAME_LEN)
			     __field(u32, id)
			     __field(int, live)
			     __field(u32, dead)),
	    TP_fast_assign(strscpy_pad(__entry->bdf, buf->bdev->name, BAR_DMABUF_NAME_LEN);
			   __entry->id = buf->id;
			   __entry->dead = dead;
			   __entry->live = atomic_read(&buf->live_maps);),
	    TP_printk("%s buffer %u live %d%s",
		      __entry->bdf,
		      __entry->id,
		      __entry->live,
		      __entry->dead ? " dead" : "")
);

TRACE_EVENT(bar_dmabuf_revoke_done,
	    TP_PROTO(struct bar_dmabuf_buf *buf,
		     int ret),
	    TP_ARGS(buf, ret),
	    TP_STRUCT__entry(__array(char, bdf, BAR_DMABUF_NAME_LEN)
			     __field(u32, id)
			     __field(int, ret)),
	    TP_fast_assign(strscpy_pad(__entry->bdf, buf->bdev->name, BAR_DMABUF_NAME_LEN);
			   __entry->id = buf->id;
			   __entry->ret = ret;),
	    TP_printk("%s buffer %u ret %d",
		      __entry->bdf,
		      __entry->id,
		      __entry->ret)
);

#endif /* _BAR_DMABUF_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
