/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab DSA operation engine (see dsa-ops.h).
 *
 * Plain C over the DSAMemAccess accessor, so that it builds inside QEMU and
 * on the host (tests/dsa/dsa_ops_host_test.c with the tests/nx/shim headers).
 *
 * Sources of the behaviour, in order of authority:
 *  - Linux include/uapi/linux/idxd.h: descriptor and completion layouts,
 *    flag bits 0..15, opcodes, status codes.
 *  - accel-config (intel/idxd-config) test/: how software resumes a partial
 *    completion (dsa_prep.c dsa_reprep_*: MEMMOVE result 0 = ascending, the
 *    remainder starts at src/dst + bytes_completed; result 1 = descending,
 *    only xfer_size shrinks), the CRC it expects (dsa.c dsa_calculate_crc32:
 *    CRC-32C, reflected, register = ~seed, result = ~register; with flag bit
 *    17 register = bitrev32(seed) and result = bitrev32(register); with flag
 *    bit 18 each data byte is bit-reversed first), compare results
 *    (bytes_completed = index of the difference).
 *  - Intel DML (intel/DML) core: the flags each operation accepts
 *    (include/dml/detail/common/flags.hpp), the operation-specific flag bits,
 *    the DUALCAST dst/dest2 bits 11:0 rule, the overlap and delta-record
 *    checks (sources/core/src/validation.cpp), COMPVAL's difference offset
 *    and the delta record format (sources/core/src/sw_dispatcher/ref/).
 *  - DIF (T10 protection information): descriptor and completion fields from
 *    idxd.h; the source/destination/DIF flag bits and the dif_status bits
 *    from DML (include/dml/detail/common/specific_flags.hpp, dmldefs.h), the
 *    block geometry, guard, tag and F-detect rules from DML's reference
 *    (sources/core/src/dif_impl/dml_dif.c) and its tests, and how software
 *    resumes a partial DIF completion from accel-config (dsa_prep.c
 *    dsa_reprep_dif). docs/dsa.md lists what is inferred.
 *
 * Progress: every memory access stays inside one 4 KiB page. A failed access
 * stops the operation with the address of the first byte of that access;
 * st->done counts the bytes fully completed (for a descending MEMMOVE, from
 * the end of the buffers; for AP_DELTA, bytes of the delta record applied),
 * and a later dsa_op_run() resumes exactly there.
 */
#include "qemu/osdep.h"
#include "hw/faultlab/dsa/dsa-ops.h"

#define DSA_PAGE                4096u

/* Flags every descriptor may carry */
#define DSA_FLAGS_COMMON        (DSA_FLAG_CRAV | DSA_FLAG_RCR | DSA_FLAG_RCI | \
                                 DSA_FLAG_CRSTS | DSA_FLAG_CR_TCS)
#define DSA_FLAGS_WRITER        (DSA_FLAG_CC | DSA_FLAG_STORD | \
                                 DSA_FLAG_DRDBK | DSA_FLAG_DSTS)

/* Operation-specific flags (descriptor flags bits 16..23) */
#define DSA_OPF_CRC_READ_SEED   0x010000
#define DSA_OPF_CRC_BYPASS_INV  0x020000   /* bypass CRC inversion/reflection */
#define DSA_OPF_CRC_BYPASS_DREF 0x040000   /* bypass data reflection */
#define DSA_OPF_CRC_ALL         0x070000
#define DSA_OPF_DCAST_D2_STS    0x010000   /* dest2 steering tag selector */
#define DSA_OPF_FILL_16B        0x010000   /* 16-byte pattern (see below) */

/* Operation-specific descriptor fields */
#define DSA_DESC_EXPECTED_RES   40      /* COMPARE, COMPVAL: u8 */
#define DSA_DESC_DEST2          40      /* DUALCAST */
#define DSA_DESC_PATTERN_UPPER  40      /* MEMFILL, 16-byte pattern */
#define DSA_DESC_CRC_SEED       40      /* CRCGEN, COPY_CRC: u32 */
#define DSA_DESC_SEED_ADDR      48      /* CRCGEN, COPY_CRC: u64 */
#define DSA_DESC_DELTA_ADDR     40      /* CR_DELTA: u64 */
#define DSA_DESC_MAX_DELTA      48      /* CR_DELTA: u32 */
#define DSA_DESC_EXP_RES_MASK   56      /* CR_DELTA: u8 */
#define DSA_DESC_DELTA_REC_SIZE 40      /* AP_DELTA: u32 */

/* DIF operations */
#define DSA_DESC_SRC_DIF_FLAGS  40      /* CHECK, STRP, UPDT */
#define DSA_DESC_DST_DIF_FLAGS  41      /* INS, UPDT */
#define DSA_DESC_DIF_FLAGS      42
#define DSA_DESC_DIF_SRC_TAGS   48      /* ref u32, app mask u16, app u16 */
#define DSA_DESC_DIF_DST_TAGS   56      /* INS, UPDT: the same three */

#define DSA_DIF_SIZE            8       /* guard BE16, app BE16, ref BE32 */
#define DSA_DIF_MAX_STEP        (4104 + DSA_DIF_SIZE)

#define DSA_DIF_SRC_ALL_F_ERR   0x01    /* Enable All F Detect Error */
#define DSA_DIF_SRC_ALL_F       0x02    /* All F Detect */
#define DSA_DIF_SRC_APP_F       0x04    /* Application Tag F Detect */
#define DSA_DIF_SRC_APP_REF_F   0x08    /* App and Ref Tag F Detect */
#define DSA_DIF_SRC_APP_INC     0x10    /* source app tag incrementing */
#define DSA_DIF_SRC_GUARD_OFF   0x20    /* Guard Check Disable */
#define DSA_DIF_SRC_REF_OFF     0x40    /* Reference Tag Check Disable */
#define DSA_DIF_SRC_REF_FIXED   0x80    /* source ref tag fixed */

#define DSA_DIF_DST_RESERVED    0x07
#define DSA_DIF_DST_APP_PASS    0x08    /* app tag copied from the source */
#define DSA_DIF_DST_APP_INC     0x10    /* destination app tag incrementing */
#define DSA_DIF_DST_GUARD_PASS  0x20    /* guard copied from the source */
#define DSA_DIF_DST_REF_PASS    0x40    /* ref tag copied from the source */
#define DSA_DIF_DST_REF_FIXED   0x80    /* destination ref tag fixed */

#define DSA_DIF_BLOCK_MASK      0x03    /* 512, 520, 4096, 4104 */
#define DSA_DIF_INVERT_SEED     0x04    /* guard CRC starts at 0xffff */
#define DSA_DIF_INVERT_RESULT   0x08    /* guard is the CRC inverted */
#define DSA_DIF_FLAGS_RESERVED  0xf0

#define DSA_DIF_ERR_GUARD       0x01    /* dif_status (CR byte 1) */
#define DSA_DIF_ERR_APP         0x02
#define DSA_DIF_ERR_REF         0x04
#define DSA_DIF_ERR_ALL_F       0x08

#define DSA_DELTA_ENTRY         10      /* u16 offset (8-byte units); u64 */
#define DSA_DELTA_MIN_MAX       80
#define DSA_DELTA_MAX_XFER      0x80000 /* 16-bit offsets of 8-byte blocks */

#define DSA_GENCAP_OVERLAP_COPY (1ull << 1)
#define DSA_GENCAP_DEST_READBACK (1ull << 8)

/* CRC-32C (Castagnoli), reflected: polynomial 0x82F63B78 */
static const uint32_t dsa_crc32c_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
    0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
    0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
    0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
    0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
    0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
    0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
    0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
    0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
    0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
    0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
    0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
    0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
    0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
    0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
    0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
    0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
    0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
    0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
    0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
    0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

/* CRC-16 T10-DIF, MSB first: polynomial 0x8BB7 */
static const uint16_t dsa_crc16_t10_table[256] = {
    0x0000, 0x8bb7, 0x9cd9, 0x176e, 0xb205, 0x39b2, 0x2edc, 0xa56b,
    0xefbd, 0x640a, 0x7364, 0xf8d3, 0x5db8, 0xd60f, 0xc161, 0x4ad6,
    0x54cd, 0xdf7a, 0xc814, 0x43a3, 0xe6c8, 0x6d7f, 0x7a11, 0xf1a6,
    0xbb70, 0x30c7, 0x27a9, 0xac1e, 0x0975, 0x82c2, 0x95ac, 0x1e1b,
    0xa99a, 0x222d, 0x3543, 0xbef4, 0x1b9f, 0x9028, 0x8746, 0x0cf1,
    0x4627, 0xcd90, 0xdafe, 0x5149, 0xf422, 0x7f95, 0x68fb, 0xe34c,
    0xfd57, 0x76e0, 0x618e, 0xea39, 0x4f52, 0xc4e5, 0xd38b, 0x583c,
    0x12ea, 0x995d, 0x8e33, 0x0584, 0xa0ef, 0x2b58, 0x3c36, 0xb781,
    0xd883, 0x5334, 0x445a, 0xcfed, 0x6a86, 0xe131, 0xf65f, 0x7de8,
    0x373e, 0xbc89, 0xabe7, 0x2050, 0x853b, 0x0e8c, 0x19e2, 0x9255,
    0x8c4e, 0x07f9, 0x1097, 0x9b20, 0x3e4b, 0xb5fc, 0xa292, 0x2925,
    0x63f3, 0xe844, 0xff2a, 0x749d, 0xd1f6, 0x5a41, 0x4d2f, 0xc698,
    0x7119, 0xfaae, 0xedc0, 0x6677, 0xc31c, 0x48ab, 0x5fc5, 0xd472,
    0x9ea4, 0x1513, 0x027d, 0x89ca, 0x2ca1, 0xa716, 0xb078, 0x3bcf,
    0x25d4, 0xae63, 0xb90d, 0x32ba, 0x97d1, 0x1c66, 0x0b08, 0x80bf,
    0xca69, 0x41de, 0x56b0, 0xdd07, 0x786c, 0xf3db, 0xe4b5, 0x6f02,
    0x3ab1, 0xb106, 0xa668, 0x2ddf, 0x88b4, 0x0303, 0x146d, 0x9fda,
    0xd50c, 0x5ebb, 0x49d5, 0xc262, 0x6709, 0xecbe, 0xfbd0, 0x7067,
    0x6e7c, 0xe5cb, 0xf2a5, 0x7912, 0xdc79, 0x57ce, 0x40a0, 0xcb17,
    0x81c1, 0x0a76, 0x1d18, 0x96af, 0x33c4, 0xb873, 0xaf1d, 0x24aa,
    0x932b, 0x189c, 0x0ff2, 0x8445, 0x212e, 0xaa99, 0xbdf7, 0x3640,
    0x7c96, 0xf721, 0xe04f, 0x6bf8, 0xce93, 0x4524, 0x524a, 0xd9fd,
    0xc7e6, 0x4c51, 0x5b3f, 0xd088, 0x75e3, 0xfe54, 0xe93a, 0x628d,
    0x285b, 0xa3ec, 0xb482, 0x3f35, 0x9a5e, 0x11e9, 0x0687, 0x8d30,
    0xe232, 0x6985, 0x7eeb, 0xf55c, 0x5037, 0xdb80, 0xccee, 0x4759,
    0x0d8f, 0x8638, 0x9156, 0x1ae1, 0xbf8a, 0x343d, 0x2353, 0xa8e4,
    0xb6ff, 0x3d48, 0x2a26, 0xa191, 0x04fa, 0x8f4d, 0x9823, 0x1394,
    0x5942, 0xd2f5, 0xc59b, 0x4e2c, 0xeb47, 0x60f0, 0x779e, 0xfc29,
    0x4ba8, 0xc01f, 0xd771, 0x5cc6, 0xf9ad, 0x721a, 0x6574, 0xeec3,
    0xa415, 0x2fa2, 0x38cc, 0xb37b, 0x1610, 0x9da7, 0x8ac9, 0x017e,
    0x1f65, 0x94d2, 0x83bc, 0x080b, 0xad60, 0x26d7, 0x31b9, 0xba0e,
    0xf0d8, 0x7b6f, 0x6c01, 0xe7b6, 0x42dd, 0xc96a, 0xde04, 0x55b3,
};

static const uint32_t dsa_dif_block_size[4] = { 512, 520, 4096, 4104 };

uint64_t dsa_desc_u64(const uint8_t *d, unsigned off)
{
    return (uint64_t)dsa_desc_u32(d, off) |
           (uint64_t)dsa_desc_u32(d, off + 4) << 32;
}

uint32_t dsa_desc_u32(const uint8_t *d, unsigned off)
{
    return d[off] | d[off + 1] << 8 | d[off + 2] << 16 |
           (uint32_t)d[off + 3] << 24;
}

static uint16_t dsa_le16(const uint8_t *p)
{
    return p[0] | p[1] << 8;
}

static void dsa_st_le(uint8_t *p, uint64_t v, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        p[i] = v >> (8 * i);
    }
}

static uint32_t dsa_bitrev32(uint32_t v)
{
    v = (v & 0x55555555u) << 1 | (v >> 1 & 0x55555555u);
    v = (v & 0x33333333u) << 2 | (v >> 2 & 0x33333333u);
    v = (v & 0x0f0f0f0fu) << 4 | (v >> 4 & 0x0f0f0f0fu);
    v = (v & 0x00ff00ffu) << 8 | (v >> 8 & 0x00ff00ffu);
    return v << 16 | v >> 16;
}

static uint8_t dsa_bitrev8(uint8_t b)
{
    b = (b & 0x55) << 1 | (b >> 1 & 0x55);
    b = (b & 0x33) << 2 | (b >> 2 & 0x33);
    return b << 4 | b >> 4;
}

/*
 * The CRC value software sees (seed, crc_val) and the engine's register.
 * Default: register = ~value (CRC-32C with init ~seed, final xor ~0), so a
 * crc_val is the seed that continues it. Bypass inversion/reflection: the
 * value is the register bit-reversed, not inverted (still chainable).
 */
static uint32_t dsa_crc_to_reg(uint32_t v, uint32_t flags)
{
    return (flags & DSA_OPF_CRC_BYPASS_INV) ? dsa_bitrev32(v) : ~v;
}

static uint32_t dsa_crc_from_reg(uint32_t reg, uint32_t flags)
{
    return (flags & DSA_OPF_CRC_BYPASS_INV) ? dsa_bitrev32(reg) : ~reg;
}

static uint32_t dsa_crc_update(uint32_t reg, const uint8_t *p, uint32_t len,
                               uint32_t flags)
{
    uint32_t i;

    if (flags & DSA_OPF_CRC_BYPASS_DREF) {
        for (i = 0; i < len; i++) {
            reg = dsa_crc32c_table[(reg ^ dsa_bitrev8(p[i])) & 0xff] ^
                  (reg >> 8);
        }
    } else {
        for (i = 0; i < len; i++) {
            reg = dsa_crc32c_table[(reg ^ p[i]) & 0xff] ^ (reg >> 8);
        }
    }
    return reg;
}

static uint32_t dsa_page_left(uint64_t a)
{
    return DSA_PAGE - (uint32_t)(a & (DSA_PAGE - 1));
}

/* Bytes from @a up to the end of its page, at most @n. */
static uint32_t dsa_span(uint64_t a, uint32_t n)
{
    return MIN(n, dsa_page_left(a));
}

/* Do [a, a + n) and [b, b + m) share a byte (addresses modulo 2^64)? */
static bool dsa_overlap(uint64_t a, uint64_t n, uint64_t b, uint64_t m)
{
    if (!n || !m) {
        return false;
    }
    return b - a < n || a - b < m;
}

static void dsa_fault(DSAOpResult *r, uint64_t addr, bool write)
{
    r->faulted = true;
    r->fault_write = write;
    r->fault_addr = addr;
    r->status = DSA_COMP_PAGE_FAULT_NOBOF | (write ? DSA_COMP_STATUS_WRITE : 0);
}

static bool dsa_rd(const DSAMemAccess *m, DSAOpResult *r, uint64_t a,
                   void *buf, uint32_t len)
{
    if (!m->read(m->opaque, a, buf, len)) {
        dsa_fault(r, a, false);
        return false;
    }
    return true;
}

static bool dsa_wr(const DSAMemAccess *m, DSAOpResult *r, uint64_t a,
                   const void *buf, uint32_t len)
{
    if (!m->write(m->opaque, a, buf, len)) {
        dsa_fault(r, a, true);
        return false;
    }
    return true;
}

/* A small object that may straddle pages: one access per page. */
static bool dsa_rd_any(const DSAMemAccess *m, DSAOpResult *r, uint64_t a,
                       uint8_t *buf, uint32_t len)
{
    while (len) {
        uint32_t k = dsa_span(a, len);

        if (!dsa_rd(m, r, a, buf, k)) {
            return false;
        }
        a += k;
        buf += k;
        len -= k;
    }
    return true;
}

static bool dsa_wr_any(const DSAMemAccess *m, DSAOpResult *r, uint64_t a,
                       const uint8_t *buf, uint32_t len)
{
    while (len) {
        uint32_t k = dsa_span(a, len);

        if (!dsa_wr(m, r, a, buf, k)) {
            return false;
        }
        a += k;
        buf += k;
        len -= k;
    }
    return true;
}

/* ---- validation ---- */

static bool dsa_opcap_has(const DSAOpLimits *lim, uint8_t op)
{
    return lim->opcap[op / 64] >> (op % 64) & 1;
}

/* Flags an operation accepts besides DSA_FLAGS_COMMON; 0: not an engine op */
static uint32_t dsa_op_flags(uint8_t op)
{
    const uint32_t base = DSA_FLAG_FENCE | DSA_FLAG_BOF;

    switch (op) {
    case DSA_OPCODE_NOOP:
        return DSA_FLAG_FENCE;
    case DSA_OPCODE_MEMMOVE:
        return base | DSA_FLAG_ADDR1_TCS | DSA_FLAG_ADDR2_TCS |
               DSA_FLAGS_WRITER;
    case DSA_OPCODE_MEMFILL:
        return base | DSA_FLAG_ADDR2_TCS | DSA_FLAGS_WRITER | DSA_OPF_FILL_16B;
    case DSA_OPCODE_COMPARE:
        return base | DSA_FLAG_CR | DSA_FLAG_ADDR1_TCS | DSA_FLAG_ADDR2_TCS;
    case DSA_OPCODE_COMPVAL:
        return base | DSA_FLAG_CR | DSA_FLAG_ADDR1_TCS;
    case DSA_OPCODE_CR_DELTA:
        return base | DSA_FLAG_CR | DSA_FLAG_ADDR1_TCS | DSA_FLAG_ADDR2_TCS |
               DSA_FLAG_ADDR3_TCS | DSA_FLAGS_WRITER;
    case DSA_OPCODE_AP_DELTA:
        return base | DSA_FLAG_ADDR1_TCS | DSA_FLAG_ADDR2_TCS |
               DSA_FLAGS_WRITER;
    case DSA_OPCODE_DUALCAST:
        return base | DSA_FLAG_ADDR1_TCS | DSA_FLAG_ADDR2_TCS |
               DSA_FLAG_ADDR3_TCS | DSA_FLAGS_WRITER | DSA_OPF_DCAST_D2_STS;
    case DSA_OPCODE_CRCGEN:
        return base | DSA_FLAG_ADDR1_TCS | DSA_FLAG_ADDR3_TCS | DSA_OPF_CRC_ALL;
    case DSA_OPCODE_COPY_CRC:
        return base | DSA_FLAG_ADDR1_TCS | DSA_FLAG_ADDR2_TCS |
               DSA_FLAG_ADDR3_TCS | DSA_FLAGS_WRITER | DSA_OPF_CRC_ALL;
    case DSA_OPCODE_CFLUSH:
        return base | DSA_FLAG_ADDR2_TCS | DSA_FLAGS_WRITER;
    case DSA_OPCODE_DIF_CHECK:
        return base | DSA_FLAG_ADDR1_TCS;
    case DSA_OPCODE_DIF_INS:
    case DSA_OPCODE_DIF_STRP:
    case DSA_OPCODE_DIF_UPDT:
        return base | DSA_FLAG_ADDR1_TCS | DSA_FLAG_ADDR2_TCS |
               DSA_FLAGS_WRITER;
    default:
        return 0;
    }
}

/*
 * DIF block geometry: @blk bytes of data protected by each 8-byte tuple;
 * the source holds @sstep bytes per block and the destination @dstep (0 for
 * DIF Check, which writes nothing).
 */
typedef struct DSADifGeom {
    uint32_t blk;
    uint32_t sstep;
    uint32_t dstep;
} DSADifGeom;

static DSADifGeom dsa_dif_geom(const uint8_t *desc)
{
    uint8_t op = dsa_desc_opcode(desc);
    DSADifGeom g;

    g.blk = dsa_dif_block_size[desc[DSA_DESC_DIF_FLAGS] & DSA_DIF_BLOCK_MASK];
    g.sstep = op == DSA_OPCODE_DIF_INS ? g.blk : g.blk + DSA_DIF_SIZE;
    switch (op) {
    case DSA_OPCODE_DIF_CHECK:
        g.dstep = 0;
        break;
    case DSA_OPCODE_DIF_STRP:
        g.dstep = g.blk;
        break;
    default:
        g.dstep = g.blk + DSA_DIF_SIZE;
        break;
    }
    return g;
}

static uint8_t dsa_fail(DSAOpResult *r, uint8_t status)
{
    r->status = status;
    return status;
}

uint8_t dsa_op_validate(const uint8_t desc[DSA_DESC_SIZE],
                        const DSAOpLimits *lim, DSAOpResult *r)
{
    uint8_t op = dsa_desc_opcode(desc);
    uint32_t flags = dsa_desc_flags(desc);
    uint64_t src = dsa_desc_u64(desc, DSA_DESC_SRC);
    uint64_t dst = dsa_desc_u64(desc, DSA_DESC_DST);
    uint32_t n = dsa_desc_u32(desc, DSA_DESC_XFER_SIZE);
    uint32_t allowed, bad;

    memset(r, 0, sizeof(*r));
    if (!dsa_opcap_has(lim, op)) {
        return dsa_fail(r, DSA_COMP_BAD_OPCODE);
    }
    if (op == DSA_OPCODE_BATCH || op == DSA_OPCODE_DRAIN) {
        return DSA_COMP_NONE;           /* the device's own checks */
    }
    allowed = dsa_op_flags(op);
    if (!allowed) {
        return dsa_fail(r, DSA_COMP_BAD_OPCODE);   /* not implemented */
    }
    allowed |= DSA_FLAGS_COMMON;
    if (!(lim->gencap & DSA_GENCAP_DEST_READBACK)) {
        allowed &= ~DSA_FLAG_DRDBK;
    }
    bad = flags & ~allowed;
    if (bad) {
        r->op_specific = bad;
        return dsa_fail(r, DSA_COMP_INVALID_FLAGS);
    }
    if ((flags & DSA_FLAG_CRAV) &&
        (dsa_desc_u64(desc, DSA_DESC_COMPLETION_ADDR) & (DSA_CR_SIZE - 1))) {
        return dsa_fail(r, DSA_COMP_CRA_ALIGN);
    }
    if (op == DSA_OPCODE_NOOP) {
        return DSA_COMP_NONE;
    }
    if (n == 0 || (lim->max_xfer_size && n > lim->max_xfer_size)) {
        return dsa_fail(r, DSA_COMP_XFER_ERANGE);
    }

    switch (op) {
    case DSA_OPCODE_MEMMOVE:
        if (dsa_overlap(src, n, dst, n) &&
            !(lim->gencap & DSA_GENCAP_OVERLAP_COPY)) {
            return dsa_fail(r, DSA_COMP_OVERLAP_BUFFERS);
        }
        break;
    case DSA_OPCODE_DUALCAST: {
        uint64_t dst2 = dsa_desc_u64(desc, DSA_DESC_DEST2);

        if ((dst ^ dst2) & (DSA_PAGE - 1)) {
            return dsa_fail(r, DSA_COMP_DCAST_ERR);
        }
        if (dsa_overlap(src, n, dst, n) || dsa_overlap(src, n, dst2, n) ||
            dsa_overlap(dst, n, dst2, n)) {
            return dsa_fail(r, DSA_COMP_OVERLAP_BUFFERS);
        }
        break;
    }
    case DSA_OPCODE_COPY_CRC:
        if (dsa_overlap(src, n, dst, n)) {
            return dsa_fail(r, DSA_COMP_OVERLAP_BUFFERS);
        }
        break;
    case DSA_OPCODE_CR_DELTA: {
        uint64_t delta = dsa_desc_u64(desc, DSA_DESC_DELTA_ADDR);
        uint32_t max = dsa_desc_u32(desc, DSA_DESC_MAX_DELTA);

        if ((src | dst | delta) & 7) {
            return dsa_fail(r, DSA_COMP_ADDR_ALIGN);
        }
        if ((n & 7) || n > DSA_DELTA_MAX_XFER) {
            return dsa_fail(r, DSA_COMP_XFER_ERANGE);
        }
        if (max < DSA_DELTA_MIN_MAX || max % DSA_DELTA_ENTRY) {
            return dsa_fail(r, DSA_COMP_DR_ERANGE);
        }
        if (dsa_overlap(delta, max, src, n) ||
            dsa_overlap(delta, max, dst, n)) {
            return dsa_fail(r, DSA_COMP_OVERLAP_BUFFERS);
        }
        break;
    }
    case DSA_OPCODE_DIF_CHECK:
    case DSA_OPCODE_DIF_INS:
    case DSA_OPCODE_DIF_STRP:
    case DSA_OPCODE_DIF_UPDT: {
        DSADifGeom g = dsa_dif_geom(desc);

        /* reserved bits of the DIF flag bytes the operation uses */
        if ((desc[DSA_DESC_DIF_FLAGS] & DSA_DIF_FLAGS_RESERVED) ||
            ((op == DSA_OPCODE_DIF_INS || op == DSA_OPCODE_DIF_UPDT) &&
             (desc[DSA_DESC_DST_DIF_FLAGS] & DSA_DIF_DST_RESERVED))) {
            return dsa_fail(r, DSA_COMP_INVALID_FLAGS);
        }
        /* whole blocks only */
        if (n % g.sstep) {
            return dsa_fail(r, DSA_COMP_XFER_ERANGE);
        }
        if (g.dstep &&
            dsa_overlap(src, n, dst, (uint64_t)(n / g.sstep) * g.dstep)) {
            return dsa_fail(r, DSA_COMP_OVERLAP_BUFFERS);
        }
        break;
    }
    case DSA_OPCODE_AP_DELTA: {
        uint32_t size = dsa_desc_u32(desc, DSA_DESC_DELTA_REC_SIZE);

        if ((src | dst) & 7) {
            return dsa_fail(r, DSA_COMP_ADDR_ALIGN);
        }
        if ((n & 7) || n > DSA_DELTA_MAX_XFER) {
            return dsa_fail(r, DSA_COMP_XFER_ERANGE);
        }
        if (size == 0 || size % DSA_DELTA_ENTRY) {
            return dsa_fail(r, DSA_COMP_DR_ERANGE);
        }
        if (dsa_overlap(src, size, dst, n)) {
            return dsa_fail(r, DSA_COMP_OVERLAP_BUFFERS);
        }
        break;
    }
    default:
        break;
    }
    return DSA_COMP_NONE;
}

/* ---- execution ---- */

typedef struct DSARun {
    const uint8_t *desc;
    DSAOpState *st;
    const DSAMemAccess *m;
    DSAOpResult *r;
    uint32_t flags;
    uint64_t src;
    uint64_t dst;
    uint32_t n;
    uint8_t buf[DSA_PAGE];
    uint8_t buf2[DSA_PAGE];
    uint8_t blk[DSA_DIF_MAX_STEP];     /* DIF: one block */
} DSARun;

/* The status of a completed check-result operation. */
static uint8_t dsa_check_result(const DSARun *x, bool as_expected)
{
    if (!(x->flags & DSA_FLAG_CR) || as_expected) {
        return DSA_COMP_SUCCESS;
    }
    return DSA_COMP_SUCCESS_PRED;
}

static void dsa_run_memmove(DSARun *x)
{
    DSAOpState *st = x->st;
    /* dst inside (src, src + n): copy from the end, as memmove() does */
    bool down = x->dst != x->src && x->dst - x->src < x->n;

    x->r->result = down;
    while (st->done < x->n) {
        uint32_t left = x->n - st->done, k;
        uint64_t s, d;

        if (down) {
            uint64_t se = x->src + left, de = x->dst + left;

            k = MIN(left, MIN(((se - 1) & (DSA_PAGE - 1)) + 1,
                              ((de - 1) & (DSA_PAGE - 1)) + 1));
            s = se - k;
            d = de - k;
        } else {
            s = x->src + st->done;
            d = x->dst + st->done;
            k = MIN(dsa_span(s, left), dsa_page_left(d));
        }
        if (!dsa_rd(x->m, x->r, s, x->buf, k) ||
            !dsa_wr(x->m, x->r, d, x->buf, k)) {
            return;
        }
        st->done += k;
    }
    x->r->result = 0;
}

static void dsa_run_memfill(DSARun *x)
{
    DSAOpState *st = x->st;
    uint8_t pat[16];
    unsigned psize = (x->flags & DSA_OPF_FILL_16B) ? 16 : 8;
    uint32_t i;

    dsa_st_le(pat, x->src, 8);
    dsa_st_le(pat + 8, dsa_desc_u64(x->desc, DSA_DESC_PATTERN_UPPER), 8);
    while (st->done < x->n) {
        uint64_t d = x->dst + st->done;
        uint32_t k = dsa_span(d, x->n - st->done);

        for (i = 0; i < k; i++) {
            x->buf[i] = pat[(st->done + i) % psize];
        }
        if (!dsa_wr(x->m, x->r, d, x->buf, k)) {
            return;
        }
        st->done += k;
    }
}

static void dsa_run_compare(DSARun *x)
{
    DSAOpState *st = x->st;
    uint8_t expected = x->desc[DSA_DESC_EXPECTED_RES];
    uint32_t i;

    while (st->done < x->n) {
        uint64_t s1 = x->src + st->done, s2 = x->dst + st->done;
        uint32_t k = MIN(dsa_span(s1, x->n - st->done), dsa_page_left(s2));

        if (!dsa_rd(x->m, x->r, s1, x->buf, k) ||
            !dsa_rd(x->m, x->r, s2, x->buf2, k)) {
            return;
        }
        if (memcmp(x->buf, x->buf2, k)) {
            for (i = 0; x->buf[i] == x->buf2[i]; i++) {
                /* find the first difference */
            }
            x->r->result = 1;
            x->r->bytes_completed = st->done + i;
            x->r->status = dsa_check_result(x, expected == 1);
            return;
        }
        st->done += k;
    }
    x->r->status = dsa_check_result(x, expected == 0);
}

static void dsa_run_compval(DSARun *x)
{
    DSAOpState *st = x->st;
    uint8_t expected = x->desc[DSA_DESC_EXPECTED_RES];
    uint8_t pat[8];
    uint32_t i;

    dsa_st_le(pat, x->dst, 8);      /* COMPVAL: the pattern is at +24 */
    while (st->done < x->n) {
        uint64_t s = x->src + st->done;
        uint32_t k = dsa_span(s, x->n - st->done);

        if (!dsa_rd(x->m, x->r, s, x->buf, k)) {
            return;
        }
        for (i = 0; i < k; i++) {
            if (x->buf[i] != pat[(st->done + i) % 8]) {
                uint32_t at = st->done + i;

                /* the 8-byte word that differs; in the tail, the byte */
                if (at < (x->n & ~7u)) {
                    at &= ~7u;
                }
                x->r->result = 1;
                x->r->bytes_completed = at;
                x->r->status = dsa_check_result(x, expected == 1);
                return;
            }
        }
        st->done += k;
    }
    x->r->status = dsa_check_result(x, expected == 0);
}

static void dsa_run_dualcast(DSARun *x)
{
    DSAOpState *st = x->st;
    uint64_t dst2 = dsa_desc_u64(x->desc, DSA_DESC_DEST2);

    while (st->done < x->n) {
        uint64_t s = x->src + st->done, d = x->dst + st->done;
        uint64_t d2 = dst2 + st->done;
        uint32_t k = MIN(dsa_span(s, x->n - st->done),
                         MIN(dsa_page_left(d), dsa_page_left(d2)));

        if (!dsa_rd(x->m, x->r, s, x->buf, k) ||
            !dsa_wr(x->m, x->r, d, x->buf, k) ||
            !dsa_wr(x->m, x->r, d2, x->buf, k)) {
            return;
        }
        st->done += k;
    }
}

static void dsa_run_crc(DSARun *x, bool copy)
{
    DSAOpState *st = x->st;
    uint32_t reg;

    if (st->done == 0) {
        uint32_t seed = dsa_desc_u32(x->desc, DSA_DESC_CRC_SEED);

        if (x->flags & DSA_OPF_CRC_READ_SEED) {
            uint8_t b[4];

            if (!dsa_rd_any(x->m, x->r, dsa_desc_u64(x->desc,
                                                     DSA_DESC_SEED_ADDR),
                            b, 4)) {
                return;
            }
            seed = dsa_desc_u32(b, 0);
        }
        st->crc = seed;
    }
    reg = dsa_crc_to_reg(st->crc, x->flags);
    while (st->done < x->n) {
        uint64_t s = x->src + st->done, d = x->dst + st->done;
        uint32_t k = dsa_span(s, x->n - st->done);

        if (copy) {
            k = MIN(k, dsa_page_left(d));
        }
        if (!dsa_rd(x->m, x->r, s, x->buf, k) ||
            (copy && !dsa_wr(x->m, x->r, d, x->buf, k))) {
            break;
        }
        reg = dsa_crc_update(reg, x->buf, k, x->flags);
        st->crc = dsa_crc_from_reg(reg, x->flags);
        st->done += k;
    }
    x->r->op_specific = st->crc;
}

static void dsa_run_cr_delta(DSARun *x)
{
    DSAOpState *st = x->st;
    uint64_t delta = dsa_desc_u64(x->desc, DSA_DESC_DELTA_ADDR);
    uint32_t max = dsa_desc_u32(x->desc, DSA_DESC_MAX_DELTA);
    unsigned mask = x->desc[DSA_DESC_EXP_RES_MASK] & 7;
    uint8_t e[DSA_DELTA_ENTRY];
    uint32_t i;

    x->r->op_specific = st->delta_bytes;
    if ((x->src | x->dst | delta) & 7 || x->n & 7) {
        x->r->status = DSA_COMP_ADDR_ALIGN;
        return;
    }
    while (st->done < x->n) {
        uint64_t s1 = x->src + st->done, s2 = x->dst + st->done;
        uint32_t k = MIN(dsa_span(s1, x->n - st->done), dsa_page_left(s2));

        if (!dsa_rd(x->m, x->r, s1, x->buf, k) ||
            !dsa_rd(x->m, x->r, s2, x->buf2, k)) {
            return;
        }
        for (i = 0; i < k; i += 8) {
            if (!memcmp(x->buf + i, x->buf2 + i, 8)) {
                continue;
            }
            if (st->delta_bytes > max ||
                max - st->delta_bytes < DSA_DELTA_ENTRY) {
                /* the delta record is full: result 2 (overflow) */
                x->r->result = 2;
                x->r->bytes_completed = st->done + i;
                x->r->status = dsa_check_result(x, mask >> 2 & 1);
                return;
            }
            dsa_st_le(e, (st->done + i) / 8, 2);
            memcpy(e + 2, x->buf2 + i, 8);
            if (!dsa_wr_any(x->m, x->r, delta + st->delta_bytes, e,
                            DSA_DELTA_ENTRY)) {
                st->done += i;
                return;
            }
            st->delta_bytes += DSA_DELTA_ENTRY;
            x->r->op_specific = st->delta_bytes;
        }
        st->done += k;
    }
    x->r->result = st->delta_bytes ? 1 : 0;
    x->r->status = dsa_check_result(x, mask >> x->r->result & 1);
}

/*
 * AP_DELTA: st->done counts delta-record bytes applied; st->delta_bytes
 * holds the last applied offset + 1 (0: none yet), for the increasing-offset
 * check across a resume.
 */
static void dsa_run_ap_delta(DSARun *x)
{
    DSAOpState *st = x->st;
    uint32_t size = dsa_desc_u32(x->desc, DSA_DESC_DELTA_REC_SIZE);
    uint8_t e[DSA_DELTA_ENTRY];

    if ((x->src | x->dst) & 7 || x->n & 7) {
        x->r->status = DSA_COMP_ADDR_ALIGN;
        return;
    }
    while (st->done < size && size - st->done >= DSA_DELTA_ENTRY) {
        uint32_t off;

        if (!dsa_rd_any(x->m, x->r, x->src + st->done, e, DSA_DELTA_ENTRY)) {
            return;
        }
        off = dsa_le16(e);
        if ((uint64_t)off * 8 + 8 > x->n) {
            x->r->status = DSA_COMP_DR_OFFSET_ERANGE;
            x->r->bytes_completed = st->done;
            return;
        }
        if (st->delta_bytes && off < st->delta_bytes) {
            x->r->status = DSA_COMP_DR_OFFSET_NOINC;
            x->r->bytes_completed = st->done;
            return;
        }
        if (!dsa_wr(x->m, x->r, x->dst + (uint64_t)off * 8, e + 2, 8)) {
            return;
        }
        st->delta_bytes = off + 1;
        st->done += DSA_DELTA_ENTRY;
    }
}

/* ---- DIF ---- */

static uint16_t dsa_be16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t dsa_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* The guard of @len data bytes: CRC-16 T10-DIF, as the DIF flags say. */
static uint16_t dsa_dif_guard(const uint8_t *p, uint32_t len, uint8_t dflags)
{
    uint16_t crc = (dflags & DSA_DIF_INVERT_SEED) ? 0xffff : 0;
    uint32_t i;

    for (i = 0; i < len; i++) {
        crc = (uint16_t)(crc << 8) ^
              dsa_crc16_t10_table[((crc >> 8) ^ p[i]) & 0xff];
    }
    return (dflags & DSA_DIF_INVERT_RESULT) ? (uint16_t)~crc : crc;
}

static void dsa_dif_put(uint8_t *t, uint16_t guard, uint16_t app, uint32_t ref)
{
    t[0] = guard >> 8;
    t[1] = guard;
    t[2] = app >> 8;
    t[3] = app;
    t[4] = ref >> 24;
    t[5] = ref >> 16;
    t[6] = ref >> 8;
    t[7] = ref;
}

/*
 * The tags of one side (source or destination) as a descriptor gives them:
 * seeds for block 0, and how they move from block to block.
 */
typedef struct DSADifTags {
    uint32_t ref;
    uint16_t mask;              /* application tag bits not compared */
    uint16_t app;
    bool ref_fixed;
    bool app_inc;
} DSADifTags;

static DSADifTags dsa_dif_tags(const uint8_t *desc, unsigned off,
                               bool ref_fixed, bool app_inc)
{
    DSADifTags t = {
        .ref = dsa_desc_u32(desc, off),
        .mask = dsa_le16(desc + off + 4),
        .app = dsa_le16(desc + off + 6),
        .ref_fixed = ref_fixed,
        .app_inc = app_inc,
    };

    return t;
}

static uint32_t dsa_dif_ref(const DSADifTags *t, uint32_t block)
{
    return t->ref_fixed ? t->ref : t->ref + block;
}

static uint16_t dsa_dif_app(const DSADifTags *t, uint32_t block)
{
    return t->app_inc ? (uint16_t)(t->app + block) : t->app;
}

/* The completion record's view of @t at @block (CR +16 or +24). */
static uint64_t dsa_dif_cr_tags(const DSADifTags *t, uint32_t block)
{
    return (uint64_t)dsa_dif_ref(t, block) | (uint64_t)t->mask << 32 |
           (uint64_t)dsa_dif_app(t, block) << 48;
}

/*
 * Check the tuple after @blk data bytes at @p against the source tags of
 * @block. Returns the dif_status bits (0: the block passes or is exempt).
 */
static uint8_t dsa_dif_check(const uint8_t *p, uint32_t blk, uint8_t sflags,
                             uint8_t dflags, const DSADifTags *t,
                             uint32_t block)
{
    const uint8_t *tuple = p + blk;
    uint16_t guard = dsa_be16(tuple);
    uint16_t app = dsa_be16(tuple + 2);
    uint32_t ref = dsa_be32(tuple + 4);
    uint8_t err = 0;

    if ((sflags & DSA_DIF_SRC_ALL_F) && guard == 0xffff && app == 0xffff &&
        ref == 0xffffffff) {
        return (sflags & DSA_DIF_SRC_ALL_F_ERR) ? DSA_DIF_ERR_ALL_F : 0;
    }
    if ((sflags & DSA_DIF_SRC_APP_F) && app == 0xffff) {
        return 0;
    }
    if ((sflags & DSA_DIF_SRC_APP_REF_F) && app == 0xffff &&
        ref == 0xffffffff) {
        return 0;
    }
    if (!(sflags & DSA_DIF_SRC_GUARD_OFF) &&
        guard != dsa_dif_guard(p, blk, dflags)) {
        err |= DSA_DIF_ERR_GUARD;
    }
    if ((app ^ dsa_dif_app(t, block)) & ~t->mask) {
        err |= DSA_DIF_ERR_APP;
    }
    if (!(sflags & DSA_DIF_SRC_REF_OFF) && ref != dsa_dif_ref(t, block)) {
        err |= DSA_DIF_ERR_REF;
    }
    return err;
}

/*
 * DIF Check, Insert, Strip and Update, one block at a time: read the
 * block, check its source tuple (not Insert), write the destination block
 * (not Check). st->done counts the source bytes of the blocks completed, so
 * a fault anywhere in a block completes partially before that block, and a
 * resumed run starts it again from its first byte.
 */
static void dsa_run_dif(DSARun *x)
{
    DSAOpState *st = x->st;
    const uint8_t *d = x->desc;
    uint8_t op = dsa_desc_opcode(d);
    uint8_t sflags = d[DSA_DESC_SRC_DIF_FLAGS];
    uint8_t oflags = d[DSA_DESC_DST_DIF_FLAGS];
    uint8_t dflags = d[DSA_DESC_DIF_FLAGS];
    DSADifGeom g = dsa_dif_geom(d);
    bool has_src = op != DSA_OPCODE_DIF_INS;
    bool has_dst = op == DSA_OPCODE_DIF_INS || op == DSA_OPCODE_DIF_UPDT;
    DSADifTags stags = { 0 }, dtags = { 0 };
    uint32_t nblk = x->n / g.sstep;
    uint32_t i = st->done / g.sstep;

    if (has_src) {
        stags = dsa_dif_tags(d, DSA_DESC_DIF_SRC_TAGS,
                             sflags & DSA_DIF_SRC_REF_FIXED,
                             sflags & DSA_DIF_SRC_APP_INC);
    }
    if (has_dst) {
        dtags = dsa_dif_tags(d, DSA_DESC_DIF_DST_TAGS,
                             oflags & DSA_DIF_DST_REF_FIXED,
                             oflags & DSA_DIF_DST_APP_INC);
    }
    st->done = i * g.sstep;
    while (i < nblk) {
        uint64_t s = x->src + (uint64_t)i * g.sstep;
        uint64_t dd = x->dst + (uint64_t)i * g.dstep;
        uint8_t *tuple = x->blk + g.blk;

        if (!dsa_rd_any(x->m, x->r, s, x->blk, g.sstep)) {
            break;
        }
        if (has_src) {
            uint8_t err = dsa_dif_check(x->blk, g.blk, sflags, dflags, &stags,
                                        i);

            if (err) {
                x->r->status = DSA_COMP_DIF_ERR;
                x->r->result = err;
                x->r->bytes_completed = st->done;
                break;
            }
        }
        if (op == DSA_OPCODE_DIF_INS) {
            dsa_dif_put(tuple, dsa_dif_guard(x->blk, g.blk, dflags),
                        dsa_dif_app(&dtags, i) & ~dtags.mask,
                        dsa_dif_ref(&dtags, i));
        } else if (op == DSA_OPCODE_DIF_UPDT) {
            uint16_t guard = dsa_be16(tuple), app = dsa_be16(tuple + 2);
            uint32_t ref = dsa_be32(tuple + 4);

            if (!(oflags & DSA_DIF_DST_GUARD_PASS)) {
                guard = dsa_dif_guard(x->blk, g.blk, dflags);
            }
            if (!(oflags & DSA_DIF_DST_APP_PASS)) {
                app = dsa_dif_app(&dtags, i) & ~dtags.mask;
            }
            if (!(oflags & DSA_DIF_DST_REF_PASS)) {
                ref = dsa_dif_ref(&dtags, i);
            }
            dsa_dif_put(tuple, guard, app, ref);
        }
        if (g.dstep && !dsa_wr_any(x->m, x->r, dd, x->blk, g.dstep)) {
            break;
        }
        i++;
        st->done = i * g.sstep;
    }
    /* where the next block starts: a client resumes with these */
    if (op == DSA_OPCODE_DIF_INS) {
        x->r->op_specific2 = dsa_dif_cr_tags(&dtags, i);
    } else {
        x->r->op_specific = dsa_dif_cr_tags(&stags, i);
        if (op == DSA_OPCODE_DIF_UPDT) {
            x->r->op_specific2 = dsa_dif_cr_tags(&dtags, i);
        }
    }
}

void dsa_op_run(const uint8_t desc[DSA_DESC_SIZE], DSAOpState *st,
                const DSAMemAccess *mem, DSAOpResult *r)
{
    DSARun *x = g_new0(DSARun, 1);
    uint8_t op = dsa_desc_opcode(desc);

    memset(r, 0, sizeof(*r));
    x->desc = desc;
    x->st = st;
    x->m = mem;
    x->r = r;
    x->flags = dsa_desc_flags(desc);
    x->src = dsa_desc_u64(desc, DSA_DESC_SRC);
    x->dst = dsa_desc_u64(desc, DSA_DESC_DST);
    x->n = dsa_desc_u32(desc, DSA_DESC_XFER_SIZE);
    if (op != DSA_OPCODE_AP_DELTA && st->done > x->n) {
        st->done = x->n;
    }

    switch (op) {
    case DSA_OPCODE_NOOP:
        break;
    case DSA_OPCODE_MEMMOVE:
        dsa_run_memmove(x);
        break;
    case DSA_OPCODE_MEMFILL:
        dsa_run_memfill(x);
        break;
    case DSA_OPCODE_COMPARE:
        dsa_run_compare(x);
        break;
    case DSA_OPCODE_COMPVAL:
        dsa_run_compval(x);
        break;
    case DSA_OPCODE_CR_DELTA:
        dsa_run_cr_delta(x);
        break;
    case DSA_OPCODE_AP_DELTA:
        dsa_run_ap_delta(x);
        break;
    case DSA_OPCODE_DUALCAST:
        dsa_run_dualcast(x);
        break;
    case DSA_OPCODE_CRCGEN:
        dsa_run_crc(x, false);
        break;
    case DSA_OPCODE_COPY_CRC:
        dsa_run_crc(x, true);
        break;
    case DSA_OPCODE_CFLUSH:
        /* write-back/invalidate: no data changes in an emulated memory */
        break;
    case DSA_OPCODE_DIF_CHECK:
    case DSA_OPCODE_DIF_INS:
    case DSA_OPCODE_DIF_STRP:
    case DSA_OPCODE_DIF_UPDT:
        dsa_run_dif(x);
        break;
    default:
        r->status = DSA_COMP_BAD_OPCODE;
        break;
    }
    if (r->faulted) {
        r->bytes_completed = st->done;
    } else if (r->status == DSA_COMP_NONE) {
        r->status = DSA_COMP_SUCCESS;
    }
    g_free(x);
}

void dsa_cr_encode(const DSAOpResult *r, uint8_t cr[DSA_CR_SIZE])
{
    memset(cr, 0, DSA_CR_SIZE);
    cr[0] = r->status;
    cr[1] = r->result;
    dsa_st_le(cr + 4, r->bytes_completed, 4);
    dsa_st_le(cr + 8, r->fault_addr, 8);
    dsa_st_le(cr + 16, r->op_specific, 8);
    dsa_st_le(cr + 24, r->op_specific2, 8);
}
