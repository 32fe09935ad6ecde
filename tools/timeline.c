// SPDX-License-Identifier: GPL-2.0
/*
 * timeline.c: the chart of one revoke (see timeline.h).
 *
 *   Revoke timeline: 1944.2 ms from REVOKE entered (S) to its return (R)
 *
 *                        0 ms                                          1944 ms
 *   revoke ioctl         S=================================================R
 *   att 1 (worker)       I-LLLLLLLLLL-------------------------------------FU
 *   att 2 (sync)         U
 *                        |------------+------------+------------+----------|
 *
 * followed by a legend and the exact times of each row's marks.
 */
#include <stdio.h>
#include <string.h>

#include "timeline.h"

#define TL_LABEL	20
#define TL_WIDTH	60
#define TL_MAX_WIDTH	200

static double tl_ms(const struct tl_revoke *rv, uint64_t ts)
{
	return ((double)ts - (double)rv->start_ns) / 1e6;
}

static unsigned int tl_col(const struct tl_revoke *rv, unsigned int width,
			   uint64_t ts)
{
	uint64_t span = rv->end_ns > rv->start_ns ?
			rv->end_ns - rv->start_ns : 1;

	if (ts <= rv->start_ns)
		return 0;
	if (ts >= rv->end_ns)
		return width - 1;
	return (unsigned int)((ts - rv->start_ns) * (width - 1) / span);
}

static int tl_in_window(const struct tl_revoke *rv, uint64_t ts)
{
	return ts >= rv->start_ns && ts <= rv->end_ns;
}

/* The mark of an event, or 0 for one the chart does not show. */
static char tl_mark(const struct bar_dmabuf_imp_event *ev)
{
	switch (ev->type) {
	case BAR_DMABUF_IMP_EV_INVALIDATE:
		return 'I';
	case BAR_DMABUF_IMP_EV_LATE_READ:
		return ev->result ? 'x' : 'L';
	case BAR_DMABUF_IMP_EV_FENCE_SIGNAL:
		return 'F';
	case BAR_DMABUF_IMP_EV_UNMAP:
		return 'U';
	case BAR_DMABUF_IMP_EV_VIOLATION:
	case BAR_DMABUF_IMP_EV_WATCHDOG:
	case BAR_DMABUF_IMP_EV_DMA_FAULT:
		return '!';
	default:
		return 0;
	}
}

static void tl_label(FILE *out, const char *label)
{
	fprintf(out, "  %-*.*s  ", TL_LABEL, TL_LABEL, label ? label : "");
}

static int tl_distinct(char c)
{
	return c == 'I' || c == 'F' || c == 'U' || c == '!';
}

/*
 * Put @m at column @c of @line, or as near after it as a column is free of
 * another distinct mark, so that close events all stay visible (the list
 * gives their exact times). Late reads only take columns nothing else
 * holds. Returns the column used.
 */
static unsigned int tl_put(char *line, unsigned int width, unsigned int c,
			   char m)
{
	if (m == 'L' || m == 'x') {
		if (!tl_distinct(line[c]) && line[c] != 'x')
			line[c] = m;
		return c;
	}
	while (c < width - 1 && tl_distinct(line[c]) && line[c] != m)
		c++;
	line[c] = m;
	return c;
}

static void tl_draw_row(FILE *out, const struct tl_revoke *rv,
			unsigned int width, const struct tl_row *row)
{
	char line[TL_MAX_WIDTH + 1];
	unsigned int i, c, last = 0, held_from = 0;
	int held = 0, any = 0;

	memset(line, ' ', width);
	line[width] = '\0';
	for (i = 0; i < row->nr; i++) {
		const struct bar_dmabuf_imp_event *ev = &row->ev[i];
		char m = tl_mark(ev);

		if (!m || !tl_in_window(rv, ev->ts_ns))
			continue;
		c = tl_put(line, width, tl_col(rv, width, ev->ts_ns), m);
		if (ev->type == BAR_DMABUF_IMP_EV_INVALIDATE && ev->arg) {
			held = 1;
			held_from = c;
		} else if (ev->type == BAR_DMABUF_IMP_EV_UNMAP && held) {
			for (; held_from < c; held_from++)
				if (line[held_from] == ' ')
					line[held_from] = '-';
			held = 0;
		}
		last = c > last ? c : last;
		any = 1;
	}
	/* still held at the return: the line runs to the end */
	if (held)
		for (; held_from < width; held_from++)
			if (line[held_from] == ' ')
				line[held_from] = '-';
	if (!held)
		line[any ? last + 1 : 0] = '\0';
	tl_label(out, row->label);
	fprintf(out, "%s\n", line);
}

/* The exact times of a row's marks, late reads as one range. */
static void tl_list_row(FILE *out, const struct tl_revoke *rv,
			const struct tl_row *row)
{
	unsigned int i, late = 0, late_bad = 0;
	double late_first = 0, late_last = 0;
	int col = 0;

	tl_label(out, row->label);
	for (i = 0; i < row->nr; i++) {
		const struct bar_dmabuf_imp_event *ev = &row->ev[i];
		char m = tl_mark(ev);

		if (!m || !tl_in_window(rv, ev->ts_ns))
			continue;
		if (ev->type == BAR_DMABUF_IMP_EV_LATE_READ) {
			if (!late++)
				late_first = tl_ms(rv, ev->ts_ns);
			late_last = tl_ms(rv, ev->ts_ns);
			late_bad += !!ev->result;
			continue;
		}
		if (late) {
			col += fprintf(out, "%sL %.1f..%.1f (%u, %u failed)",
				       col ? " " : "", late_first, late_last,
				       late, late_bad);
			late = 0;
			late_bad = 0;
		}
		if (col > 44) {
			fprintf(out, "\n");
			tl_label(out, "");
			col = 0;
		}
		col += fprintf(out, "%s%c %.1f", col ? " " : "", m,
			       tl_ms(rv, ev->ts_ns));
		if (ev->result && m != 'x')
			col += fprintf(out, " (%d)", ev->result);
	}
	if (late)
		col += fprintf(out, "%sL %.1f..%.1f (%u, %u failed)",
			       col ? " " : "", late_first, late_last, late,
			       late_bad);
	if (!col)
		fprintf(out, "(nothing between the revoke's start and return)");
	fprintf(out, "\n");
}

void tl_draw(FILE *out, const struct tl_revoke *rv,
	     const struct tl_row *rows, unsigned int nr_rows)
{
	unsigned int width = rv->width ? rv->width : TL_WIDTH;
	char axis[TL_MAX_WIDTH + 1], end[32];
	unsigned int i, n;

	if (width < 20)
		width = 20;
	if (width > TL_MAX_WIDTH)
		width = TL_MAX_WIDTH;

	fprintf(out, "Revoke timeline: %.1f ms from REVOKE entered (S) to its return (R)\n\n",
		tl_ms(rv, rv->end_ns));
	n = snprintf(end, sizeof(end), "%.0f ms", tl_ms(rv, rv->end_ns));
	tl_label(out, "");
	fprintf(out, "%-*s%s\n", (int)(width > n ? width - n : 0), "0 ms", end);

	memset(axis, '=', width);
	axis[0] = 'S';
	axis[width - 1] = 'R';
	axis[width] = '\0';
	tl_label(out, "revoke ioctl");
	fprintf(out, "%s\n", axis);
	for (i = 0; i < nr_rows; i++)
		tl_draw_row(out, rv, width, &rows[i]);

	for (i = 0; i < width; i++)
		axis[i] = i % 13 ? '-' : '+';
	axis[0] = '|';
	axis[width - 1] = '|';
	tl_label(out, "");
	fprintf(out, "%s\n", axis);
	tl_label(out, "");
	fprintf(out, "one column = %.1f ms\n\n", tl_ms(rv, rv->end_ns) / (width - 1));

	fprintf(out, "  S revoke entered   I invalidate   L late read (x: failed)   F fence signalled\n");
	fprintf(out, "  U unmap   ! DMA fault, violation or watchdog   - invalidated mapping still held\n");
	fprintf(out, "  R revoke returned (a mark whose column was taken moved right)\n\n");
	tl_label(out, "");
	fprintf(out, "ms after REVOKE was entered:\n");
	for (i = 0; i < nr_rows; i++)
		tl_list_row(out, rv, &rows[i]);
	tl_label(out, "revoke ioctl");
	fprintf(out, "S 0.0 R %.1f\n", tl_ms(rv, rv->end_ns));
}
