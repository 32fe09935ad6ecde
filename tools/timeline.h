/* SPDX-License-Identifier: GPL-2.0 */
/*
 * timeline.h: draw one revoke as a chart in plain terminal characters, a
 * row per importer attachment, from the test importer's timeline
 * (BAR_DMABUF_IMP_IOCTL_READ_LOG) and the times the revoke ioctl was
 * entered and returned. Shared by bar-dmabuf-demo and `bar-dmabuf timeline`.
 */
#ifndef BAR_DMABUF_TOOLS_TIMELINE_H
#define BAR_DMABUF_TOOLS_TIMELINE_H

#include <stdint.h>
#include <stdio.h>

#include <linux/bar_dmabuf_importer.h>

/**
 * struct tl_revoke - the revoke being drawn
 * @start_ns: CLOCK_MONOTONIC time the revoke ioctl was entered (the clock
 *	of the importer's log)
 * @end_ns: CLOCK_MONOTONIC time it returned
 * @width: columns of the time axis (0: 60); 20 to 200
 */
struct tl_revoke {
	uint64_t start_ns;
	uint64_t end_ns;
	unsigned int width;
};

/**
 * struct tl_row - one attachment's row
 * @label: what the row is, e.g. "att 1 (worker unmap)"; 20 characters
 *	are shown
 * @ev: its events, oldest first, as READ_LOG returns them
 * @nr: entries of @ev
 */
struct tl_row {
	const char *label;
	const struct bar_dmabuf_imp_event *ev;
	unsigned int nr;
};

/**
 * tl_draw() - print the chart of one revoke
 * @out: where to print
 * @rv: the revoke's times
 * @rows: one per attachment
 * @nr_rows: entries of @rows
 *
 * Draws, under a row for the revoke call (S entered, R returned), the
 * events of each row between the two: I invalidate, L late read (x one
 * that failed), F fence signalled, U unmap, ! DMA fault, violation or
 * watchdog, with '-' while the invalidated mapping is still held. Events
 * outside the window are left out. A mark whose column is taken moves
 * right to the next free one. The exact times (ms after the revoke was
 * entered) follow the chart.
 */
void tl_draw(FILE *out, const struct tl_revoke *rv,
	     const struct tl_row *rows, unsigned int nr_rows);

#endif /* BAR_DMABUF_TOOLS_TIMELINE_H */
