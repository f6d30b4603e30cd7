// SPDX-License-Identifier: GPL-2.0
/*
 * faultlab_hcall: the pseries VAS/NX hcalls with hostile arguments.
 *
 * Loading the module runs each call once and prints one line
 *   faultlab_hcall: {"name": rc, ...}
 * with the hypervisor's return codes (PAPR H_* values, as long), then stays
 * loaded doing nothing until it is removed. The windows it allocates are
 * deallocated before it returns; it never pastes, so none of them can fault.
 * The kernel's own VAS code is not involved: these are raw hcalls.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/io.h>
#include <asm/hvcall.h>
#include <asm/plpar_wrappers.h>

#define OUTSIDE_RAM	(1ULL << 44)	/* 16 TiB: no memory there */
#define BAD_WINID	9999
#define MAX_WINDOWS	130

static char line[2048];
static size_t used;

static void add(const char *name, long rc)
{
	used += scnprintf(line + used, sizeof(line) - used, "%s\"%s\": %ld",
			  used > 1 ? ", " : "", name, rc);
}

static int __init faultlab_hcall_init(void)
{
	unsigned long retbuf[PLPAR_HCALL9_BUFSIZE];
	static u64 winids[MAX_WINDOWS];
	int nwin = 0, i;
	void *buf;
	long rc;

	buf = kzalloc(4096, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	used = scnprintf(line, sizeof(line), "{");

	add("query_vas_bad_type",
	    plpar_hcall_norets(H_QUERY_VAS_CAPABILITIES, 7, virt_to_phys(buf)));
	add("query_vas_buffer_outside_ram",
	    plpar_hcall_norets(H_QUERY_VAS_CAPABILITIES, 0, OUTSIDE_RAM));
	add("query_nx_bad_type",
	    plpar_hcall_norets(H_QUERY_NX_CAPABILITIES, 9, virt_to_phys(buf)));
	add("query_nx_buffer_outside_ram",
	    plpar_hcall_norets(H_QUERY_NX_CAPABILITIES, 1, OUTSIDE_RAM));
	add("allocate_bad_type",
	    plpar_hcall9(H_ALLOCATE_VAS_WINDOW, retbuf, 5, 1, -1, 0, 0, 0, 0, 0));
	add("allocate_two_credits",
	    plpar_hcall9(H_ALLOCATE_VAS_WINDOW, retbuf, 1, 2, -1, 0, 0, 0, 0, 0));
	add("modify_bad_winid",
	    plpar_hcall_norets(H_MODIFY_VAS_WINDOW, BAD_WINID, 1, 0, 0, 0));
	add("deallocate_bad_winid",
	    plpar_hcall_norets(H_DEALLOCATE_VAS_WINDOW, BAD_WINID));
	add("get_nx_fault_bad_winid",
	    plpar_hcall_norets(H_GET_NX_FAULT, BAD_WINID, virt_to_phys(buf)));

	/* Default windows until the hypervisor refuses: one per credit. */
	for (;;) {
		rc = plpar_hcall9(H_ALLOCATE_VAS_WINDOW, retbuf, 1, 1, -1, 0, 0,
				  0, 0, 0);
		if (rc != H_SUCCESS || nwin == MAX_WINDOWS)
			break;
		winids[nwin++] = retbuf[0];
	}
	add("allocate_beyond_credits", rc);
	add("windows_allocated", nwin);
	if (nwin) {
		add("get_nx_fault_nothing_pending",
		    plpar_hcall_norets(H_GET_NX_FAULT, winids[0],
				       virt_to_phys(buf)));
		add("modify_pid_too_large",
		    plpar_hcall_norets(H_MODIFY_VAS_WINDOW, winids[0],
				       1ULL << 40, 0, 0, 0));
	}
	for (i = 0; i < nwin; i++) {
		rc = plpar_hcall_norets(H_DEALLOCATE_VAS_WINDOW, winids[i]);
		if (rc != H_SUCCESS)
			break;
	}
	add("deallocate_all", rc);
	if (nwin)
		add("deallocate_twice",
		    plpar_hcall_norets(H_DEALLOCATE_VAS_WINDOW, winids[0]));
	scnprintf(line + used, sizeof(line) - used, "}");
	pr_info("faultlab_hcall: %s\n", line);
	kfree(buf);
	return 0;
}

static void __exit faultlab_hcall_exit(void)
{
}

module_init(faultlab_hcall_init);
module_exit(faultlab_hcall_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("faultlab: pseries VAS/NX hcalls with hostile arguments");
