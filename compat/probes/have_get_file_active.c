// SPDX-License-Identifier: GPL-2.0
/*
 * get_file_active(): Linux 6.7, when files became SLAB_TYPESAFE_BY_RCU;
 * before it get_file_rcu(file) took the file itself.
 */
#include <linux/fs.h>

struct file *probe(struct file **f);
struct file *probe(struct file **f)
{
	return get_file_active(f);
}
