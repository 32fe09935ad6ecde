// SPDX-License-Identifier: GPL-2.0
/* vm_flags_set(): vma->vm_flags became read-only in 6.3 (bc292ab00f6c). */
#include <linux/mm.h>

void probe(struct vm_area_struct *vma);
void probe(struct vm_area_struct *vma)
{
	vm_flags_set(vma, VM_IO);
}
