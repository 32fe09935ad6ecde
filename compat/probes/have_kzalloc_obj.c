// SPDX-License-Identifier: GPL-2.0
/*
 * kzalloc_obj(): typed allocation helpers of Linux 7.0; checkpatch from
 * then on asks for them instead of kzalloc(sizeof(...)).
 */
#include <linux/slab.h>

int *probe(void);
int *probe(void)
{
	int *p = kzalloc_obj(*p);

	return p;
}
