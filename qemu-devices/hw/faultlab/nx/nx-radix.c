/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab NX: effective addresses of a process, translated as NX does.
 * See nx-radix.h.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "hw/faultlab/nx/nx-radix.h"

#define PRTBE_R_RPDB                0x0FFFFFFFFFFFFF00ULL
#define PRTBE_R_RPDS                0x000000000000001FULL
#define R_PTE_VALID                 0x8000000000000000ULL
#define R_PTE_LEAF                  0x4000000000000000ULL
#define R_PTE_RPN                   0x01FFFFFFFFFFF000ULL
#define R_PTE_R                     0x0000000000000100ULL
#define R_PTE_C                     0x0000000000000080ULL
#define R_PTE_EAA_PRIV              0x0000000000000008ULL
#define R_PTE_EAA_R                 0x0000000000000004ULL
#define R_PTE_EAA_RW                0x0000000000000002ULL

static bool nx_radix_ldq(hwaddr addr, uint64_t *val)
{
    MemTxResult res;

    *val = address_space_ldq_be(&address_space_memory, addr,
                                MEMTXATTRS_UNSPECIFIED, &res);
    return res == MEMTX_OK;
}

bool nx_radix_xlate(const NXRadixSpace *sp, uint64_t ea, bool write,
                    hwaddr *raddr, uint64_t *page_size)
{
    uint64_t prte0, base, nls, pde = 0, psize;
    uint32_t pid;
    int bits, level;

    if (sp->real) {
        *raddr = ea & NX_RADIX_REAL_MASK;
        *page_size = NX_RADIX_REAL_CHUNK;
        return true;
    }
    switch (ea & NX_RADIX_EADDR_QUADRANT) {
    case 0:
        pid = sp->pid;
        break;
    case NX_RADIX_EADDR_QUADRANT:
        if (sp->pr) {
            return false;
        }
        pid = 0;
        break;
    default:
        return false;
    }
    if ((uint64_t)pid * 16 + 16 > sp->prtb_size ||
        !nx_radix_ldq(sp->prtb + (uint64_t)pid * 16, &prte0)) {
        return false;
    }
    bits = (((prte0 >> 58) & 0x18) | ((prte0 >> 5) & 0x7)) + 31;
    base = prte0 & PRTBE_R_RPDB;
    nls = prte0 & PRTBE_R_RPDS;
    ea &= ~NX_RADIX_EADDR_QUADRANT;
    if (bits > 62 || (ea >> bits) != 0 || nls < 5 || nls > bits) {
        return false;
    }

    for (level = 0; level < 8; level++) {
        uint64_t index = (ea >> (bits - nls)) & ((1ULL << nls) - 1);

        base &= ~((1ULL << (nls + 3)) - 1);
        if (!nx_radix_ldq(base + index * 8, &pde) || !(pde & R_PTE_VALID)) {
            return false;
        }
        bits -= nls;
        if (pde & R_PTE_LEAF) {
            break;
        }
        nls = pde & PRTBE_R_RPDS;
        base = pde & PRTBE_R_RPDB;
        if (nls < 5 || nls > bits) {
            return false;
        }
    }
    if (!(pde & R_PTE_LEAF) || bits < 12) {
        return false;
    }
    if ((sp->pr && (pde & R_PTE_EAA_PRIV)) || !(pde & R_PTE_R)) {
        return false;
    }
    if (write ? !((pde & R_PTE_EAA_RW) && (pde & R_PTE_C))
              : !(pde & (R_PTE_EAA_R | R_PTE_EAA_RW))) {
        return false;
    }
    psize = 1ULL << bits;
    *raddr = ((pde & R_PTE_RPN) & ~(psize - 1)) | (ea & (psize - 1));
    *page_size = psize;
    return true;
}

static int nx_radix_access(void *opaque, uint64_t ea, void *buf,
                           uint64_t len, uint64_t *fault_ea, bool write)
{
    const NXRadixSpace *sp = opaque;
    uint8_t *p = buf;

    while (len) {
        hwaddr ra;
        uint64_t psize, chunk;
        MemTxResult res;

        if (!nx_radix_xlate(sp, ea, write, &ra, &psize)) {
            *fault_ea = ea;
            return -1;
        }
        chunk = MIN(len, psize - (ea & (psize - 1)));
        res = address_space_rw(&address_space_memory, ra,
                               MEMTXATTRS_UNSPECIFIED, p, chunk, write);
        if (res != MEMTX_OK) {
            qemu_log_mask(LOG_GUEST_ERROR, "%s: window %u: EA 0x%" PRIx64
                          " maps to unbacked real address 0x%" HWADDR_PRIx
                          "\n", sp->owner, sp->winid, ea, ra);
            *fault_ea = ea;
            return -1;
        }
        ea += chunk;
        p += chunk;
        len -= chunk;
    }
    return 0;
}

static int nx_radix_read(void *opaque, uint64_t ea, void *buf, uint64_t len,
                         uint64_t *fault_ea)
{
    return nx_radix_access(opaque, ea, buf, len, fault_ea, false);
}

static int nx_radix_write(void *opaque, uint64_t ea, const void *buf,
                          uint64_t len, uint64_t *fault_ea)
{
    return nx_radix_access(opaque, ea, (void *)buf, len, fault_ea, true);
}

const NXGzipMemOps nx_radix_mem_ops = {
    .read = nx_radix_read,
    .write = nx_radix_write,
};
