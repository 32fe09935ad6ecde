// SPDX-License-Identifier: GPL-2.0
/* bar_dmabuf: instantiate the tracepoints of trace.h. */
#define CREATE_TRACE_POINTS
#include "trace.h"
