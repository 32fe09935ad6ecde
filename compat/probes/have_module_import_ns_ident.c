// SPDX-License-Identifier: GPL-2.0
/*
 * MODULE_IMPORT_NS(ident): before 6.13 the namespace was a bare identifier;
 * 6.13 (cdd30ebb1b9f) made it a string literal, and an identifier no longer
 * compiles.
 */
#include <linux/module.h>

MODULE_IMPORT_NS(DMA_BUF);
