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
 *
 * With set=apf it runs the H_REG_SNS cases instead (asynchronous page
 * faults, spapr-apf): bad address, alignment and lengths, a valid
 * registration, a second one, deregistration (twice), re-registration; it
 * leaves no SNS registered, and also prints the interrupt source returned.
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
#define H_REG_SNS	0x2F8	/* PAPR; not in 6.12's hvcall.h */

static char *set = "vas";
module_param(set, charp, 0444);
MODULE_PARM_DESC(set, "vas (default): VAS/NX hcalls; apf: H_REG_SNS");

static char line[2048];
static size_t used;

static void add(const char *name, long rc)
{
	used += scnprintf(line + used, sizeof(line) - used, "%s\"%s\": %ld",
			  used > 1 ? ", " : "", name, rc);
}

static void apf_cases(void *buf)
{
	unsigned long retbuf[PLPAR_HCALL_BUFSIZE];
	unsigned long pa = virt_to_phys(buf);

	add("reg_sns_unaligned", plpar_hcall(H_REG_SNS, retbuf, pa + 8, 256));
	add("reg_sns_outside_ram",
	    plpar_hcall(H_REG_SNS, retbuf, OUTSIDE_RAM, 4096));
	add("reg_sns_len_zero", plpar_hcall(H_REG_SNS, retbuf, pa, 0));
	add("reg_sns_len_255", plpar_hcall(H_REG_SNS, retbuf, pa, 255));
	add("reg_sns_crosses_page", plpar_hcall(H_REG_SNS, retbuf, pa, 8192));
	add("reg_sns_huge_len", plpar_hcall(H_REG_SNS, retbuf, pa, -2UL));
	add("reg_sns_valid", plpar_hcall(H_REG_SNS, retbuf, pa, 4096));
	add("reg_sns_irq", retbuf[1]);
	add("reg_sns_twice", plpar_hcall(H_REG_SNS, retbuf, pa, 4096));
	add("dereg_sns", plpar_hcall_norets(H_REG_SNS, -1UL, 0));
	add("dereg_sns_twice", plpar_hcall_norets(H_REG_SNS, -1UL, 0));
	add("reg_sns_min_len", plpar_hcall(H_REG_SNS, retbuf, pa, 256));
	add("dereg_sns_final", plpar_hcall_norets(H_REG_SNS, -1UL, 0));
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

	if (!strcmp(set, "apf")) {
		apf_cases(buf);
		goto out;
	}
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
out:
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
