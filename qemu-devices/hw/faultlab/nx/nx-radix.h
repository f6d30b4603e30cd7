/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab NX: effective addresses of a process, translated as NX does.
 *
 * Both NX front ends (PowerNV VAS, pseries hcalls) hand the NX-GZIP engine
 * memory operations that translate the CRB's effective addresses through the
 * radix tree of the window's process (Power ISA 3.0 Book III 6.7), read and
 * write real memory, and report the first address NX cannot translate as a
 * fault. The front end finds the process table (pseries: the one the guest
 * registered with H_REGISTER_PROC_TBL; PowerNV: the partition table entry of
 * the window's LPID, from PTCR) and fills an NXRadixSpace; the rest is here.
 */
#ifndef HW_FAULTLAB_NX_RADIX_H
#define HW_FAULTLAB_NX_RADIX_H

#include "exec/hwaddr.h"
#include "hw/faultlab/nx/nx-gzip.h"

/* Radix fields (Power ISA 3.0 Book III 6.7.10); target/ppc/mmu-radix64.c */
#define NX_RADIX_PRTB               0x0FFFFFFFFFFFF000ULL   /* PATE dword 1 */
#define NX_RADIX_PRTS               0x000000000000001FULL
#define NX_RADIX_EADDR_QUADRANT     0xC000000000000000ULL
/* Real addressing: the address bits used, and the span handled per step */
#define NX_RADIX_REAL_MASK          0x0FFFFFFFFFFFFFFFULL
#define NX_RADIX_REAL_CHUNK         0x1000ULL

typedef struct NXRadixSpace {
    uint64_t prtb;          /* process table (real address) */
    uint64_t prtb_size;     /* its size in bytes; 0: no radix process table */
    uint32_t pid;           /* the process of quadrant 0 */
    /* problem state: privileged pages fault, quadrant 3 (PID 0) refused */
    bool pr;
    /*
     * Real addressing (the window's XLATE_MSR has DR clear, as Linux sets
     * for kernel windows): effective addresses are real addresses, with
     * bits 0:3 ignored as in hypervisor real mode; nothing is translated.
     */
    bool real;
    const char *owner;      /* for guest-error messages */
    uint32_t winid;
} NXRadixSpace;

/*
 * Translate @ea for a load (@write false) or a store. false means NX takes a
 * translation fault: PID outside the process table, an invalid or malformed
 * entry on the way, a privileged page in problem state, a missing
 * permission, or R (C for a store) not set yet, which the OS sets in its own
 * fault handling.
 */
bool nx_radix_xlate(const NXRadixSpace *sp, uint64_t ea, bool write,
                    hwaddr *raddr, uint64_t *page_size);

/* The engine's memory operations over an NXRadixSpace (the opaque). */
extern const NXGzipMemOps nx_radix_mem_ops;

#endif
