// SPDX-License-Identifier: GPL-2.0
/*
 * faultlab_x86_insn: the CPL 0 side of MOVDIR64B, ENQCMD, ENQCMDS and the
 * IA32_PASID MSR, which user space cannot reach on this kernel (x86 SVA is
 * off, so no process ever gets a PASID).
 *
 * Loading the module runs each case once on ordinary kernel memory and
 * prints one line
 *   faultlab_x86_insn: {"name": value, ...}
 * then stays loaded doing nothing until it is removed:
 *   pasid_msr_before     IA32_PASID as found (rdmsr, -1 if it faults)
 *   pasid_msr_readback   after writing PASID 0x1234 with the valid bit
 *   pasid_msr_reserved   wrmsr_safe() of a reserved bit (20): 0 or -EIO
 *   enqcmd_zf            ENQCMD with that valid PASID to memory: ZF
 *   enqcmd_untouched     1 if the 64 bytes are unchanged afterwards
 *   enqcmds_zf           ENQCMDS (PASID 0x42, supervisor) to memory: ZF
 *   enqcmds_untouched    likewise
 *   movdir64b_equal      the kernel's movdir64b() to memory: 1 if the
 *                        64 bytes arrived
 * IA32_PASID is restored, with preemption off while it holds our value.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>
#include <asm/cpufeature.h>
#include <asm/msr.h>
#include <asm/special_insns.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
/* x86/msr: rdmsrl_safe()/wrmsrl_safe() were renamed rdmsrq_safe()/wrmsrq_safe() in 6.16 */
#define rdmsrl_safe rdmsrq_safe
#define wrmsrl_safe wrmsrq_safe
#endif

static bool all_bytes(const u8 *p, size_t n, u8 v)
{
	while (n--)
		if (*p++ != v)
			return false;
	return true;
}

/* ENQCMD (%rdx) -> %rax; returns ZF. */
static int enqcmd_zf(void *dst, const void *src)
{
	bool zf;

	/* x86/asm: CC_SET()/CC_OUT() were removed in 6.18 (flag outputs "=@cc" used directly) */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 18, 0)
	asm volatile(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x02"
		     CC_SET(z)
		     : CC_OUT(z) (zf)
		     : "a" (dst), "d" (src)
		     : "memory");
#else
	asm volatile(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x02"
		     : "=@ccz" (zf)
		     : "a" (dst), "d" (src)
		     : "memory");
#endif
	return zf;
}

static int __init faultlab_x86_insn_init(void)
{
	u64 before = -1ULL, readback = -1ULL;
	int reserved, zf_enq = -1, zf_enqs = -1;
	bool enq_untouched, enqs_untouched, movdir_equal;
	u8 *src, *dst;
	int i;

	src = kmalloc(64, GFP_KERNEL);
	dst = kmalloc(128, GFP_KERNEL);	/* kmalloc-128: 64-byte aligned */
	if (!src || !dst) {
		kfree(src);
		kfree(dst);
		return -ENOMEM;
	}
	for (i = 0; i < 64; i++)
		src[i] = i * 3 + 1;

	preempt_disable();
	if (rdmsrl_safe(MSR_IA32_PASID, &before))
		before = -1ULL;
	reserved = wrmsrl_safe(MSR_IA32_PASID, BIT_ULL(20));
	wrmsrl_safe(MSR_IA32_PASID, 0x1234 | MSR_IA32_PASID_VALID);
	if (rdmsrl_safe(MSR_IA32_PASID, &readback))
		readback = -1ULL;
	if (readback == (0x1234 | MSR_IA32_PASID_VALID)) {
		memset(dst, 0xee, 128);
		zf_enq = enqcmd_zf(dst, src);
		enq_untouched = all_bytes(dst, 128, 0xee);
	} else {
		enq_untouched = false;
	}
	if (before != -1ULL)
		wrmsrl_safe(MSR_IA32_PASID, before);
	preempt_enable();

	memset(dst, 0xee, 128);
	src[0] = 0x42;
	src[1] = 0;
	src[2] = 0;
	src[3] = 0x80;	/* PASID 0x42, supervisor */
	zf_enqs = enqcmds(dst, src) ? 1 : 0;
	enqs_untouched = all_bytes(dst, 128, 0xee);

	memset(dst, 0, 128);
	movdir64b(dst, src);
	movdir_equal = !memcmp(dst, src, 64);

	pr_info("faultlab_x86_insn: {\"pasid_msr_before\": %lld, \"pasid_msr_readback\": %lld, \"pasid_msr_reserved\": %d, \"enqcmd_zf\": %d, \"enqcmd_untouched\": %d, \"enqcmds_zf\": %d, \"enqcmds_untouched\": %d, \"movdir64b_equal\": %d, \"enqcmd_feature\": %d}\n",
		(long long)before, (long long)readback, reserved, zf_enq,
		enq_untouched, zf_enqs, enqs_untouched, movdir_equal,
		boot_cpu_has(X86_FEATURE_ENQCMD));
	kfree(src);
	kfree(dst);
	return 0;
}

static void __exit faultlab_x86_insn_exit(void)
{
}

module_init(faultlab_x86_insn_init);
module_exit(faultlab_x86_insn_exit);
MODULE_DESCRIPTION("faultlab: CPL 0 checks of MOVDIR64B, ENQCMD, ENQCMDS and IA32_PASID");
MODULE_LICENSE("GPL");
