/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host driver for the faultlab DSA operation engine
 * (qemu-devices/hw/faultlab/dsa/dsa-ops.c), used by tests/unit/test_dsa_ops.py.
 *
 * "Guest" memory is a set of page-aligned regions at arbitrary 64-bit
 * addresses; each 4 KiB page can be absent (reads and writes fail, like an
 * unmapped IOVA) or read-only (writes fail). Every access is checked: it must
 * stay inside one page and, when "allow" ranges are given, inside them.
 *
 * Commands, one per line on stdin (numbers in hex):
 *   region BASE SIZE [FILE]   map zeroed pages (contents from FILE)
 *   absent ADDR | readonly ADDR | fix ADDR   page state
 *   allow BASE LEN            a buffer the engine may touch (mod 2^64)
 *   limits MAXXFER OPCAP0 OPCAP1 OPCAP2 OPCAP3 GENCAP
 *   desc HEX128               the 64-byte descriptor
 *   state DONE CRC DELTA      the carried state (reset by "desc")
 *   validate                  prints "validate status=.. op_specific=.."
 *   run                       one dsa_op_run(): prints "run key=value ..."
 *   runall                    run; on a fault fix that page and run again,
 *                             until no fault: prints each "run" line
 *   dump BASE LEN FILE        write memory (absent pages included) to FILE
 *   fuzz SEED COUNT           random descriptors, see fuzz_one()
 */
#include "qemu/osdep.h"
#include "hw/faultlab/dsa/dsa-ops.h"

#define PAGE 4096u
#define MAX_REGIONS 16
#define MAX_ALLOW 8

typedef struct Region {
    uint64_t base;
    uint64_t size;
    uint8_t *data;
    uint8_t *absent;
    uint8_t *ro;
} Region;

typedef struct Mem {
    Region reg[MAX_REGIONS];
    int nreg;
    uint64_t allow_base[MAX_ALLOW];
    uint64_t allow_len[MAX_ALLOW];
    int nallow;
    unsigned long accesses;
} Mem;

static Mem mem;

static void die(const char *msg, uint64_t a, uint32_t len)
{
    fprintf(stderr, "ERROR: %s at 0x%" PRIx64 " len %u\n", msg, a, len);
    exit(3);
}

static Region *find(uint64_t a)
{
    int i;

    for (i = 0; i < mem.nreg; i++) {
        if (a - mem.reg[i].base < mem.reg[i].size) {
            return &mem.reg[i];
        }
    }
    return NULL;
}

static void check_access(uint64_t a, uint32_t len)
{
    int i;

    if (len == 0 || len > PAGE) {
        die("bad access length", a, len);
    }
    if ((a & (PAGE - 1)) + len > PAGE) {
        die("access crosses a page", a, len);
    }
    if (!mem.nallow) {
        return;
    }
    for (i = 0; i < mem.nallow; i++) {
        if (a - mem.allow_base[i] < mem.allow_len[i] &&
            len <= mem.allow_len[i] - (a - mem.allow_base[i])) {
            return;
        }
    }
    die("access outside the descriptor's buffers", a, len);
}

static bool mem_read(void *opaque, uint64_t a, void *buf, uint32_t len)
{
    Region *r;

    check_access(a, len);
    mem.accesses++;
    r = find(a);
    if (!r || r->absent[(a - r->base) / PAGE]) {
        return false;
    }
    memcpy(buf, r->data + (a - r->base), len);
    return true;
}

static bool mem_write(void *opaque, uint64_t a, const void *buf, uint32_t len)
{
    Region *r;
    uint64_t p;

    check_access(a, len);
    mem.accesses++;
    r = find(a);
    if (!r) {
        return false;
    }
    p = (a - r->base) / PAGE;
    if (r->absent[p] || r->ro[p]) {
        return false;
    }
    memcpy(r->data + (a - r->base), buf, len);
    return true;
}

static const DSAMemAccess access_ops = {
    .read = mem_read,
    .write = mem_write,
    .opaque = NULL,
};

static void add_region(uint64_t base, uint64_t size, const char *file)
{
    Region *r;

    if (mem.nreg == MAX_REGIONS || (base | size) & (PAGE - 1) || !size) {
        die("bad region", base, (uint32_t)size);
    }
    r = &mem.reg[mem.nreg++];
    r->base = base;
    r->size = size;
    r->data = g_malloc0(size);
    r->absent = g_malloc0(size / PAGE);
    r->ro = g_malloc0(size / PAGE);
    if (file) {
        FILE *f = fopen(file, "rb");
        size_t got;

        if (!f) {
            die("cannot open region file", base, 0);
        }
        got = fread(r->data, 1, size, f);
        (void)got;
        fclose(f);
    }
}

static void free_regions(void)
{
    int i;

    for (i = 0; i < mem.nreg; i++) {
        g_free(mem.reg[i].data);
        g_free(mem.reg[i].absent);
        g_free(mem.reg[i].ro);
    }
    mem.nreg = 0;
    mem.nallow = 0;
}

static void page_state(uint64_t a, int absent, int ro)
{
    Region *r = find(a);

    if (!r) {
        die("page state outside regions", a, 0);
    }
    r->absent[(a - r->base) / PAGE] = absent;
    r->ro[(a - r->base) / PAGE] = ro;
}

static void print_result(const DSAOpResult *r, const DSAOpState *st)
{
    uint8_t cr[DSA_CR_SIZE];
    int i;

    dsa_cr_encode(r, cr);
    printf("run status=0x%02x result=%u faulted=%d fault_write=%d "
           "fault_addr=0x%" PRIx64 " bytes_completed=0x%x "
           "op_specific=0x%" PRIx64 " op_specific2=0x%" PRIx64
           " done=0x%x crc=0x%08x delta=0x%x cr=",
           r->status, r->result, r->faulted, r->fault_write, r->fault_addr,
           r->bytes_completed, r->op_specific, r->op_specific2, st->done,
           st->crc, st->delta_bytes);
    for (i = 0; i < DSA_CR_SIZE; i++) {
        printf("%02x", cr[i]);
    }
    printf("\n");
}

static uint64_t hex(const char *s)
{
    uint64_t v = 0;

    if (sscanf(s, "%" SCNx64, &v) != 1) {
        die("bad number", 0, 0);
    }
    return v;
}

static void parse_desc(const char *s, uint8_t d[DSA_DESC_SIZE])
{
    int i;
    unsigned v;

    if (strlen(s) < 2 * DSA_DESC_SIZE) {
        die("short descriptor", 0, 0);
    }
    for (i = 0; i < DSA_DESC_SIZE; i++) {
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            die("bad descriptor", 0, 0);
        }
        d[i] = v;
    }
}

/* ---- fuzz ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define ARENA_BASE  0x100000ull
#define ARENA_PAGES 24
#define TOP_BASE    (0ull - 4 * PAGE)   /* 4 pages just below 2^64 */

static uint64_t rnd_addr(void)
{
    switch (rnd() % 8) {
    case 0:
        return rnd();
    case 1:
        return TOP_BASE + rnd() % (4 * PAGE);
    case 2:
        return ARENA_BASE + (rnd() % (ARENA_PAGES / 2)) * PAGE;
    default:
        return ARENA_BASE + rnd() % (ARENA_PAGES * PAGE);
    }
}

static uint32_t rnd_size(void)
{
    switch (rnd() % 8) {
    case 0:
        return 0;
    case 1:
        return 0xffffffffu - (uint32_t)(rnd() % 64);
    case 2:
        return (uint32_t)rnd();
    case 3:
        return PAGE * (1 + rnd() % 6);
    case 4:
        return (uint32_t)(rnd() % 16 + 1) * 8;
    default:
        return (uint32_t)(rnd() % (6 * PAGE) + 1);
    }
}

/* DIF: data bytes per block (descriptor byte 42 bits 1:0) */
static const uint32_t dif_blocks[4] = { 512, 520, 4096, 4104 };

/* The buffers an operation may touch: the driver's own model. */
static void allow_for(const uint8_t *d)
{
    uint64_t src = dsa_desc_u64(d, DSA_DESC_SRC);
    uint64_t dst = dsa_desc_u64(d, DSA_DESC_DST);
    uint32_t n = dsa_desc_u32(d, DSA_DESC_XFER_SIZE);
    uint32_t blk = dif_blocks[d[42] & 3];

    mem.nallow = 0;
#define ALLOW(b, l) do { \
        mem.allow_base[mem.nallow] = (b); \
        mem.allow_len[mem.nallow++] = (l); \
    } while (0)
    switch (dsa_desc_opcode(d)) {
    case DSA_OPCODE_MEMMOVE:
    case DSA_OPCODE_COMPARE:
        ALLOW(src, n);
        ALLOW(dst, n);
        break;
    case DSA_OPCODE_MEMFILL:
    case DSA_OPCODE_CFLUSH:
        ALLOW(dst, n);
        break;
    case DSA_OPCODE_COMPVAL:
        ALLOW(src, n);
        break;
    case DSA_OPCODE_DUALCAST:
        ALLOW(src, n);
        ALLOW(dst, n);
        ALLOW(dsa_desc_u64(d, 40), n);
        break;
    case DSA_OPCODE_CRCGEN:
    case DSA_OPCODE_COPY_CRC:
        ALLOW(src, n);
        if (dsa_desc_opcode(d) == DSA_OPCODE_COPY_CRC) {
            ALLOW(dst, n);
        }
        if (dsa_desc_flags(d) & 0x10000) {
            ALLOW(dsa_desc_u64(d, 48), 4);
        }
        break;
    case DSA_OPCODE_CR_DELTA:
        ALLOW(src, n);
        ALLOW(dst, n);
        ALLOW(dsa_desc_u64(d, 40), dsa_desc_u32(d, 48));
        break;
    case DSA_OPCODE_AP_DELTA:
        ALLOW(src, dsa_desc_u32(d, 40));
        ALLOW(dst, n);
        break;
    /* whole blocks of the source, and as many of the destination */
    case DSA_OPCODE_DIF_CHECK:
        ALLOW(src, n / (blk + 8) * (blk + 8));
        break;
    case DSA_OPCODE_DIF_INS:
        ALLOW(src, n / blk * blk);
        ALLOW(dst, (uint64_t)(n / blk) * (blk + 8));
        break;
    case DSA_OPCODE_DIF_STRP:
        ALLOW(src, n / (blk + 8) * (blk + 8));
        ALLOW(dst, (uint64_t)(n / (blk + 8)) * blk);
        break;
    case DSA_OPCODE_DIF_UPDT:
        ALLOW(src, n / (blk + 8) * (blk + 8));
        ALLOW(dst, n / (blk + 8) * (blk + 8));
        break;
    default:
        ALLOW(0, 0);    /* nothing */
        break;
    }
#undef ALLOW
}

static const uint8_t fuzz_ops[] = {
    DSA_OPCODE_NOOP, DSA_OPCODE_MEMMOVE, DSA_OPCODE_MEMFILL,
    DSA_OPCODE_COMPARE, DSA_OPCODE_COMPVAL, DSA_OPCODE_CR_DELTA,
    DSA_OPCODE_AP_DELTA, DSA_OPCODE_DUALCAST, DSA_OPCODE_CRCGEN,
    DSA_OPCODE_COPY_CRC, DSA_OPCODE_CFLUSH, DSA_OPCODE_DIF_CHECK,
    DSA_OPCODE_DIF_INS, DSA_OPCODE_DIF_STRP, DSA_OPCODE_DIF_UPDT,
};

static void fill_regions(uint64_t seed)
{
    int i;
    uint64_t k;

    for (i = 0; i < mem.nreg; i++) {
        uint64_t s = seed + i;

        for (k = 0; k < mem.reg[i].size; k++) {
            /* mostly equal bytes so that compares and deltas see runs */
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            mem.reg[i].data[k] = (s >> 60) < 2 ? (uint8_t)(s >> 52) : 0x5a;
        }
    }
}

static void setup_fuzz_mem(uint64_t seed, bool holes)
{
    int i, p;

    free_regions();
    add_region(ARENA_BASE, ARENA_PAGES * PAGE, NULL);
    add_region(TOP_BASE, 4 * PAGE, NULL);
    fill_regions(seed);
    if (holes) {
        uint64_t s = seed;

        for (i = 0; i < mem.nreg; i++) {
            for (p = 0; p < (int)(mem.reg[i].size / PAGE); p++) {
                s = s * 6364136223846793005ull + 1;
                mem.reg[i].absent[p] = (s >> 61) == 0;
                mem.reg[i].ro[p] = (s >> 61) == 1;
            }
        }
    }
}

static int same_result(const DSAOpResult *a, const DSAOpResult *b)
{
    return a->status == b->status && a->result == b->result &&
           a->bytes_completed == b->bytes_completed &&
           a->op_specific == b->op_specific &&
           a->op_specific2 == b->op_specific2;
}

/*
 * One descriptor: validate, then run (a) on memory where every page in the
 * arena is present, (b) on the same memory with absent and read-only pages,
 * fixing each faulting page and resuming. Final results and memory must
 * agree; faults must be reported at an address the engine was allowed to
 * touch, with progress that never goes backwards.
 */
static uint64_t fuzz_ops_ran[4];

static int fuzz_one(uint64_t iter_seed, DSAOpLimits *lim, unsigned long *stats)
{
    uint8_t d[DSA_DESC_SIZE];
    DSAOpResult v, ra, rb;
    DSAOpState sa = { 0 }, sb = { 0 };
    uint8_t *snap[MAX_REGIONS];
    int i, faults = 0;
    uint32_t flags;

    rng_state = iter_seed;
    for (i = 0; i < DSA_DESC_SIZE; i++) {
        d[i] = rnd() % 4 ? 0 : (uint8_t)rnd();
    }
    d[7] = rnd() % 16 ? fuzz_ops[rnd() % sizeof(fuzz_ops)] : (uint8_t)rnd();
    flags = DSA_FLAG_CRAV | DSA_FLAG_RCR;
    if (rnd() % 4 == 0) {
        flags |= 1u << (rnd() % 24);
    }
    if (rnd() % 3 == 0) {
        flags |= 0x10000u << (rnd() % 3);
    }
    d[4] = flags;
    d[5] = flags >> 8;
    d[6] = flags >> 16;
    memset(d + 8, 0, 8);
    for (i = 0; i < 8; i++) {
        uint64_t a = rnd_addr();

        if (i == 0) {
            memcpy(d + 16, &a, 8);
        } else if (i == 1) {
            memcpy(d + 24, &a, 8);
        } else if (i == 2) {
            memcpy(d + 40, &a, 8);
        } else if (i == 3 && rnd() % 2) {
            memcpy(d + 48, &a, 8);
        }
    }
    if (rnd() % 2) {
        /* dualcast-friendly: dest2 with dst's page offset */
        uint64_t dst, d2;

        memcpy(&dst, d + 24, 8);
        memcpy(&d2, d + 40, 8);
        d2 = (d2 & ~(uint64_t)(PAGE - 1)) | (dst & (PAGE - 1));
        memcpy(d + 40, &d2, 8);
    }
    if (d[7] == DSA_OPCODE_CR_DELTA || d[7] == DSA_OPCODE_AP_DELTA) {
        for (i = 16; i < 48; i += 8) {
            if (i != 32 && rnd() % 4) {
                d[i] &= ~7;
            }
        }
        if (rnd() % 4) {
            uint32_t m = (uint32_t)(rnd() % 40 + 1) * 10;

            memcpy(d + 48, &m, 4);
        }
    }
    {
        uint32_t n = rnd_size();

        if (d[7] == DSA_OPCODE_CR_DELTA || d[7] == DSA_OPCODE_AP_DELTA) {
            n = rnd() % 2 ? (n & ~7u) % 0x10000 : n;
        }
        memcpy(d + 32, &n, 4);
    }
    if (d[7] == DSA_OPCODE_AP_DELTA && rnd() % 2) {
        uint32_t sz = (uint32_t)(rnd() % 30 + 1) * 10;

        memcpy(d + 40, &sz, 4);
        memset(d + 44, 0, 4);
    }
    if (d[7] >= DSA_OPCODE_DIF_CHECK && d[7] <= DSA_OPCODE_DIF_UPDT) {
        /* mostly valid flag bytes and whole blocks */
        uint32_t blk, step, n;

        if (rnd() % 4) {
            d[42] &= 0x0f;
            d[41] &= 0xf8;
        }
        blk = dif_blocks[d[42] & 3];
        step = d[7] == DSA_OPCODE_DIF_INS ? blk : blk + 8;
        if (rnd() % 2) {
            n = step * (uint32_t)(1 + rnd() % 12);
            memcpy(d + 32, &n, 4);
        }
        if (rnd() % 2) {
            /* checks that random data passes: every block runs */
            d[40] = (d[40] | 0x60) & ~0x0b;
            d[52] = d[53] = 0xff;
        }
    }

    allow_for(d);
    if (dsa_op_validate(d, lim, &v) != DSA_COMP_NONE) {
        stats[0]++;
        if (v.status != DSA_COMP_BAD_OPCODE &&
            v.status != DSA_COMP_INVALID_FLAGS &&
            v.status != DSA_COMP_XFER_ERANGE &&
            v.status != DSA_COMP_CRA_ALIGN &&
            v.status != DSA_COMP_OVERLAP_BUFFERS &&
            v.status != DSA_COMP_DCAST_ERR && v.status != DSA_COMP_ADDR_ALIGN &&
            v.status != DSA_COMP_DR_ERANGE) {
            printf("fuzz unexpected validate status 0x%x\n", v.status);
            return 1;
        }
        /* a hostile device might still run it: must stay in bounds */
        setup_fuzz_mem(iter_seed, true);
        allow_for(d);
        for (i = 0; i < 4; i++) {
            dsa_op_run(d, &sa, &access_ops, &ra);
            if (!ra.faulted) {
                break;
            }
        }
        return 0;
    }
    stats[1]++;
    fuzz_ops_ran[d[7] / 64] |= 1ull << (d[7] % 64);

    /* (a) no holes in the arena */
    setup_fuzz_mem(iter_seed, false);
    allow_for(d);
    for (i = 0; i < 64; i++) {
        dsa_op_run(d, &sa, &access_ops, &ra);
        if (!ra.faulted) {
            break;
        }
        if (!find(ra.fault_addr)) {
            break;      /* outside the arena: a real fault, stop here */
        }
        printf("fuzz fault inside a full arena at 0x%" PRIx64 "\n",
               ra.fault_addr);
        return 1;
    }
    for (i = 0; i < mem.nreg; i++) {
        snap[i] = g_malloc(mem.reg[i].size);
        memcpy(snap[i], mem.reg[i].data, mem.reg[i].size);
    }

    /* (b) holes, fixed one by one */
    setup_fuzz_mem(iter_seed, true);
    allow_for(d);
    for (;;) {
        uint32_t before = sb.done;
        Region *r;

        dsa_op_run(d, &sb, &access_ops, &rb);
        if (!rb.faulted) {
            break;
        }
        if (sb.done < before && d[7] != DSA_OPCODE_AP_DELTA) {
            printf("fuzz progress went backwards\n");
            return 1;
        }
        r = find(rb.fault_addr);
        if (!r) {
            break;
        }
        if (++faults > 4 * ARENA_PAGES) {
            printf("fuzz: no progress after %d faults\n", faults);
            return 1;
        }
        page_state(rb.fault_addr, 0, 0);
    }
    stats[2] += faults;
    if (ra.faulted != rb.faulted ||
        (ra.faulted ? ra.fault_addr != rb.fault_addr ||
                      ra.bytes_completed != rb.bytes_completed
                    : !same_result(&ra, &rb))) {
        printf("fuzz result differs: status 0x%x/0x%x bc 0x%x/0x%x "
               "os 0x%" PRIx64 "/0x%" PRIx64 "\n", ra.status, rb.status,
               ra.bytes_completed, rb.bytes_completed, ra.op_specific,
               rb.op_specific);
        return 1;
    }
    for (i = 0; i < mem.nreg; i++) {
        if (memcmp(snap[i], mem.reg[i].data, mem.reg[i].size)) {
            printf("fuzz memory differs in region %d\n", i);
            return 1;
        }
        g_free(snap[i]);
    }
    return 0;
}

static int fuzz(uint64_t seed, unsigned long count)
{
    DSAOpLimits lim = {
        .max_xfer_size = 0,
        .opcap = { 0x3ff | 0x3full << 0x10, 0, 0, 0 },
        .gencap = 1 << 1 | 1 << 8,
    };
    unsigned long i, stats[3] = { 0 };

    lim.opcap[0] |= 1ull << 0x20;
    for (i = 0; i < count; i++) {
        if (fuzz_one(seed * 1000003 + i, &lim, stats)) {
            printf("fuzz failed at iteration %lu\n", i);
            return 1;
        }
    }
    printf("fuzz iterations=%lu rejected=%lu ran=%lu faults=%lu "
           "ops=0x%" PRIx64 "\n", count, stats[0], stats[1], stats[2],
           fuzz_ops_ran[0]);
    free_regions();
    return 0;
}

int main(int argc, char **argv)
{
    char line[1024];
    uint8_t desc[DSA_DESC_SIZE] = { 0 };
    DSAOpState st = { 0 };
    DSAOpLimits lim = {
        .max_xfer_size = 0,
        .opcap = { ~0ull, ~0ull, ~0ull, ~0ull },
        .gencap = 1 << 1 | 1 << 8,
    };
    DSAOpResult r;

    while (fgets(line, sizeof(line), stdin)) {
        char *argv2[8] = { 0 };
        int n = 0;
        char *tok = strtok(line, " \t\n");

        while (tok && n < 8) {
            argv2[n++] = tok;
            tok = strtok(NULL, " \t\n");
        }
        if (n == 0 || argv2[0][0] == '#') {
            continue;
        }
#define ARG(i) (argv2[i] ? argv2[i] : "0")
        if (!strcmp(argv2[0], "region")) {
            add_region(hex(ARG(1)), hex(ARG(2)), argv2[3]);
        } else if (!strcmp(argv2[0], "absent")) {
            page_state(hex(ARG(1)), 1, 0);
        } else if (!strcmp(argv2[0], "readonly")) {
            page_state(hex(ARG(1)), 0, 1);
        } else if (!strcmp(argv2[0], "fix")) {
            page_state(hex(ARG(1)), 0, 0);
        } else if (!strcmp(argv2[0], "allow")) {
            if (mem.nallow == MAX_ALLOW) {
                die("too many allow ranges", 0, 0);
            }
            mem.allow_base[mem.nallow] = hex(ARG(1));
            mem.allow_len[mem.nallow++] = hex(ARG(2));
        } else if (!strcmp(argv2[0], "limits")) {
            lim.max_xfer_size = hex(ARG(1));
            lim.opcap[0] = hex(ARG(2));
            lim.opcap[1] = hex(ARG(3));
            lim.opcap[2] = hex(ARG(4));
            lim.opcap[3] = hex(ARG(5));
            lim.gencap = hex(ARG(6));
        } else if (!strcmp(argv2[0], "desc")) {
            parse_desc(ARG(1), desc);
            memset(&st, 0, sizeof(st));
        } else if (!strcmp(argv2[0], "state")) {
            st.done = hex(ARG(1));
            st.crc = hex(ARG(2));
            st.delta_bytes = hex(ARG(3));
        } else if (!strcmp(argv2[0], "validate")) {
            dsa_op_validate(desc, &lim, &r);
            printf("validate status=0x%02x op_specific=0x%" PRIx64 "\n",
                   r.status, r.op_specific);
        } else if (!strcmp(argv2[0], "run")) {
            dsa_op_run(desc, &st, &access_ops, &r);
            print_result(&r, &st);
        } else if (!strcmp(argv2[0], "runall")) {
            int guard = 0;

            do {
                dsa_op_run(desc, &st, &access_ops, &r);
                print_result(&r, &st);
                if (r.faulted) {
                    if (!find(r.fault_addr) || ++guard > 100000) {
                        break;
                    }
                    page_state(r.fault_addr, 0, 0);
                }
            } while (r.faulted);
        } else if (!strcmp(argv2[0], "dump")) {
            uint64_t a = hex(ARG(1)), len = hex(ARG(2)), k;
            FILE *f = fopen(ARG(3), "wb");

            if (!f) {
                die("cannot open dump file", a, 0);
            }
            for (k = 0; k < len; k++) {
                Region *rg = find(a + k);

                fputc(rg ? rg->data[a + k - rg->base] : 0, f);
            }
            fclose(f);
        } else if (!strcmp(argv2[0], "fuzz")) {
            if (fuzz(hex(ARG(1)), hex(ARG(2)))) {
                return 1;
            }
        } else {
            die("unknown command", 0, 0);
        }
        fflush(stdout);
#undef ARG
    }
    free_regions();
    return 0;
}
