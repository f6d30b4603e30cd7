/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultlab NX-GZIP engine (see nx-gzip.h).
 *
 * DEFLATE is done here rather than by zlib's deflate()/inflate(), because the
 * NX contract needs what zlib does not expose: compression emits exactly one
 * block per request (gzfht_test flips that block's BFINAL bit and appends a
 * sync flush after tebc bits), dynamic-Huffman compression uses the table
 * the program supplies in the CPB, and decompression must stop at a symbol
 * boundary and describe it as SFBT/SUBC/rembytecnt/DHT so that the program
 * can resume (gunz_test). zlib provides crc32() and adler32().
 *
 * Byte order: the CPB checksums follow the selftests. in_adler/out_adler are
 * big-endian numbers; in_crc/out_crc hold the CRC bytes in the order of the
 * gzip trailer (gzfht_test memcpy()s be32toh(get32(out_crc)) into the
 * trailer, and gunz_test compares the raw word with the trailer read as LE).
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include <zlib.h>
#include "hw/faultlab/nx/nx-gzip.h"

#define NX_WSIZE        32768
#define NX_MAX_MATCH    258
#define NX_MIN_MATCH    3
#define NX_HASH_BITS    15
#define NX_CHAIN_MAX    32
#define NX_MAX_BITS     15

/* Internal outcome of a step: a completion code, or a fault. */
#define NX_FAULT        (-1)

typedef struct NXSeg {
    uint64_t ea;
    uint64_t len;
} NXSeg;

typedef struct NXDdl {
    NXSeg seg[NX_GZIP_MAX_DDE_COUNT];
    int n;
    uint64_t total;
} NXDdl;

typedef struct NXRun {
    const NXGzipMemOps *ops;
    void *opaque;
    NXGzipResult *res;
} NXRun;

static int nx_read(NXRun *r, uint64_t ea, void *buf, uint64_t len)
{
    uint64_t fea = ea;

    if (len == 0) {
        return 0;
    }
    if (r->ops->read(r->opaque, ea, buf, len, &fea)) {
        r->res->fault_ea = fea;
        r->res->fault_write = false;
        return NX_FAULT;
    }
    return 0;
}

static int nx_write(NXRun *r, uint64_t ea, const void *buf, uint64_t len)
{
    uint64_t fea = ea;

    if (len == 0) {
        return 0;
    }
    if (r->ops->write(r->opaque, ea, buf, len, &fea)) {
        r->res->fault_ea = fea;
        r->res->fault_write = true;
        return NX_FAULT;
    }
    return 0;
}

/*
 * DDE parsing. A direct DDE (count 0) is one buffer. An indirect DDE points
 * to count direct DDEs; its byte count is the number of bytes used, which
 * may be less than the list describes (gunz_test shortens it that way).
 * Nested indirection (which includes a list that points back at an
 * indirect DDE, itself included) is invalid: lists are one level deep, so
 * no loop can occur.
 */
static int nx_parse_dde(NXRun *r, const uint8_t *dde, NXDdl *ddl)
{
    uint8_t count = dde[2];
    uint64_t bc = ldl_be_p(dde + 4);
    uint64_t ea = ldq_be_p(dde + 8);
    uint8_t list[NX_GZIP_MAX_DDE_COUNT * 16];
    uint64_t left = bc;
    int i;

    ddl->n = 0;
    ddl->total = 0;
    if (count == 0) {
        if (bc && ea + bc - 1 < ea) {
            return NX_GZIP_CC_INVALID_DDE;
        }
        if (bc) {
            ddl->seg[0].ea = ea;
            ddl->seg[0].len = bc;
            ddl->n = 1;
        }
        ddl->total = bc;
        return 0;
    }
    if (nx_read(r, ea, list, count * 16ULL)) {
        return NX_FAULT;
    }
    for (i = 0; i < count && left; i++) {
        const uint8_t *e = list + i * 16;
        uint64_t elen = ldl_be_p(e + 4);
        uint64_t eea = ldq_be_p(e + 8);

        if (e[2] != 0) {
            return NX_GZIP_CC_INVALID_DDE;
        }
        if (elen && eea + elen - 1 < eea) {
            return NX_GZIP_CC_INVALID_DDE;
        }
        elen = MIN(elen, left);
        if (elen) {
            ddl->seg[ddl->n].ea = eea;
            ddl->seg[ddl->n].len = elen;
            ddl->n++;
            left -= elen;
        }
    }
    if (left) {
        /* The byte count is larger than the list it describes. */
        return NX_GZIP_CC_DDE_OVERFLOW;
    }
    ddl->total = bc;
    return 0;
}

/* Read len bytes starting at byte offset off of a DDL. */
static int nx_ddl_read(NXRun *r, const NXDdl *ddl, uint64_t off,
                       uint8_t *buf, uint64_t len)
{
    int i;

    for (i = 0; i < ddl->n && len; i++) {
        uint64_t n;

        if (off >= ddl->seg[i].len) {
            off -= ddl->seg[i].len;
            continue;
        }
        n = MIN(ddl->seg[i].len - off, len);
        if (nx_read(r, ddl->seg[i].ea + off, buf, n)) {
            return NX_FAULT;
        }
        buf += n;
        len -= n;
        off = 0;
    }
    return 0;
}

static int nx_ddl_write(NXRun *r, const NXDdl *ddl, const uint8_t *buf,
                        uint64_t len)
{
    int i;

    for (i = 0; i < ddl->n && len; i++) {
        uint64_t n = MIN(ddl->seg[i].len, len);

        if (nx_write(r, ddl->seg[i].ea, buf, n)) {
            return NX_FAULT;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

/* ---- Bit streams (DEFLATE packs bits LSB first) ---- */

typedef struct NXBitWriter {
    uint8_t *buf;
    uint64_t alloc;     /* bytes allocated, grows up to cap */
    uint64_t cap;       /* bytes of target */
    uint64_t nbits;
    bool overflow;
} NXBitWriter;

static void nx_put_bits(NXBitWriter *w, uint32_t val, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        uint64_t byte = w->nbits >> 3;

        if (byte >= w->alloc) {
            if (byte >= w->cap) {
                w->overflow = true;
                return;
            }
            w->alloc = MIN(w->cap, MAX(w->alloc * 2, 65536));
            w->buf = g_realloc(w->buf, w->alloc);
        }
        if ((w->nbits & 7) == 0) {
            w->buf[byte] = 0;
        }
        w->buf[byte] |= ((val >> i) & 1) << (w->nbits & 7);
        w->nbits++;
    }
}

typedef struct NXBitReader {
    const uint8_t *buf;
    uint64_t nbits;     /* bits available */
    uint64_t pos;       /* next bit */
} NXBitReader;

/* Returns -1 when the input ends before n bits. */
static int64_t nx_get_bits(NXBitReader *br, int n)
{
    uint32_t v = 0;
    int i;

    if (br->pos + n > br->nbits) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        uint64_t p = br->pos + i;

        v |= ((br->buf[p >> 3] >> (p & 7)) & 1u) << i;
    }
    br->pos += n;
    return v;
}

/* ---- Canonical Huffman codes (RFC 1951 3.2.2) ---- */

typedef struct NXHuff {
    uint16_t count[NX_MAX_BITS + 1];
    uint16_t symbol[288];
    int nsym;
} NXHuff;

/*
 * Returns 0, or -1 for an over-subscribed set or an incomplete one (which is
 * only accepted, as by zlib, when it is a single one-bit code). An empty set
 * is accepted; decoding with it fails.
 */
static int nx_huff_build(NXHuff *h, const uint8_t *len, int n)
{
    uint16_t offs[NX_MAX_BITS + 2];
    int left = 1, i, max = 0;

    memset(h->count, 0, sizeof(h->count));
    for (i = 0; i < n; i++) {
        h->count[len[i]]++;
        max = MAX(max, len[i]);
    }
    h->nsym = n;
    for (i = 1; i <= NX_MAX_BITS; i++) {
        left <<= 1;
        left -= h->count[i];
        if (left < 0) {
            return -1;
        }
    }
    if (max > 1 && left > 0) {
        return -1;
    }
    offs[1] = 0;
    for (i = 1; i <= NX_MAX_BITS; i++) {
        offs[i + 1] = offs[i] + h->count[i];
    }
    for (i = 0; i < n; i++) {
        if (len[i]) {
            h->symbol[offs[len[i]]++] = i;
        }
    }
    return 0;
}

/* Decode one symbol: -1 input ended, -2 no such code, else the symbol. */
static int nx_huff_decode(NXBitReader *br, const NXHuff *h)
{
    int code = 0, first = 0, index = 0, len;

    for (len = 1; len <= NX_MAX_BITS; len++) {
        int64_t b = nx_get_bits(br, 1);
        int cnt = h->count[len];

        if (b < 0) {
            return -1;
        }
        code |= b;
        if (code - first < cnt) {
            return h->symbol[index + code - first];
        }
        index += cnt;
        first = (first + cnt) << 1;
        code <<= 1;
    }
    return -2;
}

/* Codes for encoding, bit-reversed so that they can be put LSB first. */
static void nx_huff_codes(const uint8_t *len, int n, uint16_t *code)
{
    uint16_t bl_count[NX_MAX_BITS + 1] = { 0 };
    uint16_t next[NX_MAX_BITS + 1];
    int c = 0, i, b;

    for (i = 0; i < n; i++) {
        bl_count[len[i]]++;
    }
    bl_count[0] = 0;
    for (b = 1; b <= NX_MAX_BITS; b++) {
        c = (c + bl_count[b - 1]) << 1;
        next[b] = c;
    }
    for (i = 0; i < n; i++) {
        uint16_t v, r = 0;

        if (!len[i]) {
            code[i] = 0;
            continue;
        }
        v = next[len[i]]++;
        for (b = 0; b < len[i]; b++) {
            r |= ((v >> b) & 1) << (len[i] - 1 - b);
        }
        code[i] = r;
    }
}

static const uint16_t nx_len_base[29] = {
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
    35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258
};
static const uint8_t nx_len_extra[29] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
    3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0
};
static const uint16_t nx_dist_base[30] = {
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
    257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289,
    16385, 24577
};
static const uint8_t nx_dist_extra[30] = {
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
    7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13
};
static const uint8_t nx_clen_order[19] = {
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15
};

static void nx_fixed_lengths(uint8_t *litlen, uint8_t *dist)
{
    int i;

    for (i = 0; i < 288; i++) {
        litlen[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    }
    for (i = 0; i < 32; i++) {
        dist[i] = 5;        /* 30 and 31 complete the code; never valid */
    }
}

/*
 * Parse a dynamic block header starting at the reader's position (the three
 * BFINAL/BTYPE bits already consumed). Returns 0, -1 when the input ended,
 * or NX_GZIP_CC_INVALID_DHT.
 */
static int nx_parse_dht(NXBitReader *br, uint8_t *litlen, uint8_t *dist)
{
    uint8_t clen[19] = { 0 }, lens[286 + 30];
    NXHuff ch;
    int64_t hlit, hdist, hclen, v;
    int i, n;

    hlit = nx_get_bits(br, 5);
    hdist = nx_get_bits(br, 5);
    hclen = nx_get_bits(br, 4);
    if (hclen < 0) {
        return -1;
    }
    hlit += 257;
    hdist += 1;
    hclen += 4;
    if (hlit > 286 || hdist > 30) {
        return NX_GZIP_CC_INVALID_DHT;
    }
    for (i = 0; i < hclen; i++) {
        v = nx_get_bits(br, 3);
        if (v < 0) {
            return -1;
        }
        clen[nx_clen_order[i]] = v;
    }
    if (nx_huff_build(&ch, clen, 19)) {
        return NX_GZIP_CC_INVALID_DHT;
    }
    n = 0;
    while (n < hlit + hdist) {
        int sym = nx_huff_decode(br, &ch), rep, val = 0;

        if (sym == -1) {
            return -1;
        }
        if (sym < 0) {
            return NX_GZIP_CC_INVALID_DHT;
        }
        if (sym < 16) {
            lens[n++] = sym;
            continue;
        }
        if (sym == 16) {
            if (n == 0) {
                return NX_GZIP_CC_INVALID_DHT;
            }
            val = lens[n - 1];
            v = nx_get_bits(br, 2);
            rep = 3 + v;
        } else if (sym == 17) {
            v = nx_get_bits(br, 3);
            rep = 3 + v;
        } else {
            v = nx_get_bits(br, 7);
            rep = 11 + v;
        }
        if (v < 0) {
            return -1;
        }
        if (n + rep > hlit + hdist) {
            return NX_GZIP_CC_INVALID_DHT;
        }
        while (rep--) {
            lens[n++] = val;
        }
    }
    if (lens[256] == 0) {
        return NX_GZIP_CC_INVALID_DHT;      /* no end-of-block code */
    }
    memset(litlen, 0, 288);
    memset(dist, 0, 32);
    memcpy(litlen, lens, hlit);
    memcpy(dist, lens + hlit, hdist);
    return 0;
}

/* ---- Compression: greedy LZ77 into one Huffman block ---- */

typedef struct NXEnc {
    NXBitWriter *w;
    const uint8_t *ll_len, *d_len;
    uint16_t ll_code[288], d_code[30];
    uint32_t *lzcount;          /* 316 counts, or NULL */
    bool missing;
} NXEnc;

static void nx_emit(NXEnc *e, int sym, const uint16_t *code, const uint8_t *len)
{
    if (!len[sym]) {
        e->missing = true;
        return;
    }
    nx_put_bits(e->w, code[sym], len[sym]);
}

static int nx_len_sym(int len)
{
    int i;

    for (i = 28; i > 0 && nx_len_base[i] > len; i--) {
        ;
    }
    return i;
}

static int nx_dist_sym(int dist)
{
    int i;

    for (i = 29; i > 0 && nx_dist_base[i] > dist; i--) {
        ;
    }
    return i;
}

static void nx_emit_literal(NXEnc *e, uint8_t c)
{
    nx_emit(e, c, e->ll_code, e->ll_len);
    if (e->lzcount) {
        e->lzcount[c]++;
    }
}

static void nx_emit_match(NXEnc *e, int len, int dist)
{
    int ls = nx_len_sym(len), ds = nx_dist_sym(dist);

    nx_emit(e, 257 + ls, e->ll_code, e->ll_len);
    nx_put_bits(e->w, len - nx_len_base[ls], nx_len_extra[ls]);
    nx_emit(e, ds, e->d_code, e->d_len);
    nx_put_bits(e->w, dist - nx_dist_base[ds], nx_dist_extra[ds]);
    if (e->lzcount) {
        e->lzcount[257 + ls]++;
        e->lzcount[286 + ds]++;
    }
}

static uint32_t nx_hash(const uint8_t *p)
{
    return ((p[0] << 10) ^ (p[1] << 5) ^ p[2]) & ((1 << NX_HASH_BITS) - 1);
}

/*
 * Encode buf[hist..hist+len) as the symbols of one block; buf[0..hist) is
 * history that matches may reach back into. The block header is written by
 * the caller; the end-of-block code is written here.
 */
static void nx_lz_encode(NXEnc *e, const uint8_t *buf, uint64_t hist,
                         uint64_t len)
{
    int32_t *head = g_new(int32_t, 1 << NX_HASH_BITS);
    int32_t *prev = g_new(int32_t, NX_WSIZE);
    uint64_t end = hist + len, p;
    int i;

    for (i = 0; i < (1 << NX_HASH_BITS); i++) {
        head[i] = -1;
    }
    p = hist > NX_WSIZE ? hist - NX_WSIZE : 0;
    for (; p + NX_MIN_MATCH <= end && p < hist; p++) {
        uint32_t h = nx_hash(buf + p);

        prev[p & (NX_WSIZE - 1)] = head[h];
        head[h] = p;
    }
    p = hist;
    while (p < end && !e->w->overflow && !e->missing) {
        int best = 0, bdist = 0;

        if (p + NX_MIN_MATCH <= end) {
            uint32_t h = nx_hash(buf + p);
            int64_t c = head[h];
            int chain = NX_CHAIN_MAX;
            uint64_t maxl = MIN(end - p, NX_MAX_MATCH);

            while (c >= 0 && p - c <= NX_WSIZE && chain--) {
                uint64_t l = 0;

                while (l < maxl && buf[c + l] == buf[p + l]) {
                    l++;
                }
                if (l > (uint64_t)best) {
                    best = l;
                    bdist = p - c;
                    if (l == maxl) {
                        break;
                    }
                }
                c = prev[c & (NX_WSIZE - 1)];
            }
            prev[p & (NX_WSIZE - 1)] = head[h];
            head[h] = p;
        }
        if (best >= NX_MIN_MATCH &&
            e->ll_len[257 + nx_len_sym(best)] && e->d_len[nx_dist_sym(bdist)]) {
            uint64_t q;

            nx_emit_match(e, best, bdist);
            for (q = p + 1; q < p + best && q + NX_MIN_MATCH <= end; q++) {
                uint32_t h = nx_hash(buf + q);

                prev[q & (NX_WSIZE - 1)] = head[h];
                head[h] = q;
            }
            p += best;
        } else {
            nx_emit_literal(e, buf[p]);
            p++;
        }
    }
    nx_emit(e, 256, e->ll_code, e->ll_len);
    if (e->lzcount) {
        e->lzcount[256]++;
    }
    g_free(head);
    g_free(prev);
}

/* ---- Decompression ---- */

enum {
    NX_IN_HEADER,       /* next bits are a block header */
    NX_IN_STORED,       /* inside a stored block, rem bytes left */
    NX_IN_FIXED,        /* inside a fixed-Huffman block */
    NX_IN_DYNAMIC,      /* inside a dynamic-Huffman block */
    NX_IN_DONE,         /* final block ended */
};

typedef struct NXInfState {
    int mode;
    bool bfinal;
    uint32_t rem;       /* stored block bytes left */
    uint64_t pos;       /* bit position in the source (history excluded) */
    uint64_t out;       /* bytes produced */
} NXInfState;

typedef struct NXInflate {
    NXBitReader br;
    uint8_t *win;       /* history followed by the output */
    uint64_t win_alloc;
    uint64_t hist;
    uint64_t out_cap;
    int blocks;         /* blocks finished in this request */
    NXInfState st;
    NXHuff lit, dist;
    /* the current dynamic header, as the bits of its block header */
    uint8_t dht[NX_GZIP_DHT_MAX_BYTES];
    uint32_t dhtlen;
    bool one_block;
} NXInflate;

/* Copy nbits bits from bit "from" of src into a zeroed LSB-first buffer. */
static void nx_copy_bits(uint8_t *dst, const uint8_t *src, uint64_t from,
                         uint32_t nbits)
{
    uint32_t i;

    memset(dst, 0, NX_GZIP_DHT_MAX_BYTES);
    for (i = 0; i < nbits; i++) {
        uint64_t p = from + i;

        dst[i >> 3] |= ((src[p >> 3] >> (p & 7)) & 1) << (i & 7);
    }
}

/* Room for n more output bytes: false when the target is full. */
static bool nx_out_room(NXInflate *f, uint64_t n)
{
    uint64_t need = f->hist + f->st.out + n;

    if (f->out_cap - f->st.out < n) {
        return false;
    }
    if (need > f->win_alloc) {
        f->win_alloc = MIN(f->hist + f->out_cap, MAX(need, f->win_alloc * 2));
        f->win = g_realloc(f->win, f->win_alloc);
    }
    return true;
}

static int nx_load_tables(NXInflate *f, const uint8_t *ll, const uint8_t *d)
{
    if (nx_huff_build(&f->lit, ll, 288) || nx_huff_build(&f->dist, d, 32)) {
        return NX_GZIP_CC_INVALID_DHT;
    }
    return 0;
}

/*
 * Run until the input ends (returns -1: suspend at f->st), the stream ends
 * (mode NX_IN_DONE), or an error (a completion code > 0).
 */
static int nx_inflate(NXInflate *f)
{
    NXBitReader *br = &f->br;

    for (;;) {
        NXInfState ck = f->st;      /* resume point if this step runs dry */
        int64_t v;
        int sym;

        switch (f->st.mode) {
        case NX_IN_DONE:
            return 0;
        case NX_IN_HEADER: {
            uint8_t ll[288], d[32];
            uint64_t start = br->pos;
            int btype, rc;

            if (f->one_block && f->blocks > 0) {
                return -1;
            }
            v = nx_get_bits(br, 3);
            if (v < 0) {
                goto dry;
            }
            f->st.bfinal = v & 1;
            btype = v >> 1;
            if (btype == 0) {
                br->pos = (br->pos + 7) & ~7ULL;
                v = nx_get_bits(br, 32);
                if (v < 0) {
                    goto dry;
                }
                if ((v & 0xffff) != (~(v >> 16) & 0xffff)) {
                    return NX_GZIP_CC_INVALID_DHT;
                }
                f->st.rem = v & 0xffff;
                f->st.mode = NX_IN_STORED;
            } else if (btype == 1) {
                nx_fixed_lengths(ll, d);
                nx_load_tables(f, ll, d);
                f->st.mode = NX_IN_FIXED;
            } else if (btype == 2) {
                rc = nx_parse_dht(br, ll, d);
                if (rc < 0) {
                    goto dry;
                }
                if (rc || nx_load_tables(f, ll, d)) {
                    return NX_GZIP_CC_INVALID_DHT;
                }
                if (br->pos - start > NX_GZIP_DHT_MAX_BYTES * 8) {
                    return NX_GZIP_CC_INVALID_DHT;
                }
                f->dhtlen = br->pos - start;
                nx_copy_bits(f->dht, br->buf, start, f->dhtlen);
                f->st.mode = NX_IN_DYNAMIC;
            } else {
                return NX_GZIP_CC_INVALID_DHT;
            }
            f->st.pos = br->pos;
            break;
        }
        case NX_IN_STORED: {
            uint64_t have, n;

            if (f->st.rem == 0) {
                f->st.mode = f->st.bfinal ? NX_IN_DONE : NX_IN_HEADER;
                f->blocks++;
                break;
            }
            have = (br->nbits - br->pos) >> 3;
            if (have == 0) {
                goto dry;
            }
            n = MIN(MIN(have, f->st.rem), f->out_cap - f->st.out);
            if (n == 0 || !nx_out_room(f, n)) {
                return NX_GZIP_CC_TARGET_SPACE;
            }
            memcpy(f->win + f->hist + f->st.out, br->buf + (br->pos >> 3), n);
            br->pos += n * 8;
            f->st.out += n;
            f->st.rem -= n;
            f->st.pos = br->pos;
            break;
        }
        default: {
            uint64_t len, dist, avail;
            int ds;

            sym = nx_huff_decode(br, &f->lit);
            if (sym == -1) {
                goto dry;
            }
            if (sym < 0 || sym > 285) {
                return NX_GZIP_CC_MISSING_CODE;
            }
            if (sym < 256) {
                if (!nx_out_room(f, 1)) {
                    return NX_GZIP_CC_TARGET_SPACE;
                }
                f->win[f->hist + f->st.out++] = sym;
                f->st.pos = br->pos;
                break;
            }
            if (sym == 256) {
                f->st.mode = f->st.bfinal ? NX_IN_DONE : NX_IN_HEADER;
                f->blocks++;
                f->st.pos = br->pos;
                break;
            }
            sym -= 257;
            v = nx_get_bits(br, nx_len_extra[sym]);
            if (v < 0) {
                goto dry;
            }
            len = nx_len_base[sym] + v;
            ds = nx_huff_decode(br, &f->dist);
            if (ds == -1) {
                goto dry;
            }
            if (ds < 0 || ds > 29) {
                return NX_GZIP_CC_MISSING_CODE;
            }
            v = nx_get_bits(br, nx_dist_extra[ds]);
            if (v < 0) {
                goto dry;
            }
            dist = nx_dist_base[ds] + v;
            avail = f->hist + f->st.out;
            if (dist > avail || dist > NX_WSIZE) {
                return NX_GZIP_CC_INVALID_DIST;
            }
            if (!nx_out_room(f, len)) {
                return NX_GZIP_CC_TARGET_SPACE;
            }
            while (len--) {
                f->win[avail] = f->win[avail - dist];
                avail++;
            }
            f->st.out = avail - f->hist;
            f->st.pos = br->pos;
            break;
        }
        }
        continue;
dry:
        f->st = ck;
        br->pos = ck.pos;
        return -1;
    }
}

/* ---- Requests ---- */

typedef struct NXReq {
    NXRun *r;
    uint8_t fc;
    uint64_t csb_ea, cpb_ea;
    uint8_t cpb_in[NX_GZIP_CPB_IN_SIZE];
    NXDdl src, tgt;
    uint64_t limit;
    uint64_t tgt_cap;
} NXReq;

/*
 * Checksums to continue from: the CPB input on a resume function, the
 * initial values (crc32 0, adler32 1) otherwise.
 */
static uint32_t nx_crc_init(NXReq *q, bool resume)
{
    return resume ? ldl_le_p(q->cpb_in + NX_GZIP_CPB_IN_CRC) : 0;
}

static uint32_t nx_adler_init(NXReq *q, bool resume)
{
    return resume ? ldl_be_p(q->cpb_in + NX_GZIP_CPB_IN_ADLER) : 1;
}

/* Write the CSB: bytes 1..15, then the flags byte with V. */
static int nx_write_csb(NXRun *r, uint64_t csb_ea, uint8_t cc, uint8_t ce,
                        uint32_t tpbc)
{
    uint8_t csb[16] = { 0 };

    csb[2] = cc;
    csb[3] = ce;
    stl_be_p(csb + 4, tpbc);
    if (nx_write(r, csb_ea + 1, csb + 1, 15)) {
        return NX_FAULT;
    }
    csb[0] = NX_GZIP_CSB_V;
    return nx_write(r, csb_ea, csb, 1);
}

static uint64_t nx_hist_bytes(NXReq *q)
{
    return ((ldl_be_p(q->cpb_in + NX_GZIP_CPB_IN_HISTLEN) >> 20) & 0xfff) * 16;
}

static bool nx_fc_resume(uint8_t fc)
{
    return fc & 0x10 ? (fc & 0x04) != 0 : (fc & 0x08) != 0;
}

/* Source bytes: history, then at most limit bytes of data. */
static int nx_read_source(NXReq *q, uint64_t hist, uint8_t **buf,
                          uint64_t *dlen, bool *truncated)
{
    uint64_t data = q->src.total - hist;
    int rc;

    *truncated = data > q->limit;
    *dlen = MIN(data, q->limit);
    *buf = g_malloc(hist + *dlen + 1);
    rc = nx_ddl_read(q->r, &q->src, 0, *buf, hist + *dlen);
    if (rc) {
        g_free(*buf);
        *buf = NULL;
    }
    return rc;
}

static int nx_compress(NXReq *q, uint8_t *cc, uint8_t *ce, uint32_t *tpbc,
                       uint32_t *spbc)
{
    bool dht = q->fc & 0x02, count = q->fc & 0x04, resume = nx_fc_resume(q->fc);
    uint64_t hist = resume ? nx_hist_bytes(q) : 0, dlen;
    uint8_t ll[288], d[32], cpb_out[0x130] = { 0 };
    uint32_t lz[NX_GZIP_LZCOUNTS] = { 0 };
    uint32_t crc, adler, crc_le;
    uint8_t *buf = NULL;
    NXBitWriter w = { 0 };
    NXEnc e = { 0 };
    bool truncated;
    int rc, i;

    if (hist > NX_GZIP_MAX_HIST_QW * 16 || hist > q->src.total) {
        *cc = NX_GZIP_CC_DATA_LENGTH;
        *ce = NX_GZIP_CE_TERMINATION;
        return 0;
    }
    if (dht) {
        uint32_t dhtlen = ldl_be_p(q->cpb_in + NX_GZIP_CPB_IN_SFBT) & 0xfff;
        NXBitReader br = { q->cpb_in + NX_GZIP_CPB_IN_DHT, 0, 0 };

        br.nbits = MIN(dhtlen, NX_GZIP_DHT_MAX_BYTES * 8);
        if (dhtlen < 3 || dhtlen > NX_GZIP_DHT_MAX_BYTES * 8 ||
            nx_get_bits(&br, 3) >> 1 != 2 || nx_parse_dht(&br, ll, d) ||
            br.pos != dhtlen) {
            *cc = NX_GZIP_CC_INVALID_DHT;
            *ce = NX_GZIP_CE_TERMINATION;
            return 0;
        }
        {
            NXHuff h1, h2;

            if (nx_huff_build(&h1, ll, 288) || nx_huff_build(&h2, d, 32)) {
                *cc = NX_GZIP_CC_INVALID_DHT;
                *ce = NX_GZIP_CE_TERMINATION;
                return 0;
            }
        }
    } else {
        nx_fixed_lengths(ll, d);
    }
    rc = nx_read_source(q, hist, &buf, &dlen, &truncated);
    if (rc) {
        return rc;
    }
    w.cap = q->tgt_cap;
    if (dht) {
        /* The header is the program's table; BFINAL is left 0 as for FHT. */
        const uint8_t *t = q->cpb_in + NX_GZIP_CPB_IN_DHT;
        uint32_t dhtlen = ldl_be_p(q->cpb_in + NX_GZIP_CPB_IN_SFBT) & 0xfff;

        nx_put_bits(&w, 0, 1);
        for (i = 1; i < (int)dhtlen; i++) {
            nx_put_bits(&w, (t[i >> 3] >> (i & 7)) & 1, 1);
        }
    } else {
        nx_put_bits(&w, 2, 3);  /* BFINAL 0, BTYPE 01 */
    }
    e.w = &w;
    e.ll_len = ll;
    e.d_len = d;
    nx_huff_codes(ll, 288, e.ll_code);
    nx_huff_codes(d, 30, e.d_code);
    e.lzcount = count ? lz : NULL;
    nx_lz_encode(&e, buf, hist, dlen);

    if (e.missing) {
        *cc = NX_GZIP_CC_MISSING_CODE;
        *ce = NX_GZIP_CE_TERMINATION;
        rc = 0;
        goto out;
    }
    if (w.overflow) {
        *cc = NX_GZIP_CC_TARGET_SPACE;
        *ce = NX_GZIP_CE_TERMINATION;
        rc = 0;
        goto out;
    }
    *tpbc = (w.nbits + 7) / 8;
    *spbc = hist + dlen;
    crc = crc32(nx_crc_init(q, resume), buf + hist, dlen);
    adler = adler32(nx_adler_init(q, resume), buf + hist, dlen);
    rc = nx_ddl_write(q->r, &q->tgt, w.buf, *tpbc);
    if (rc) {
        goto out;
    }
    stl_be_p(cpb_out + 0, adler);
    stl_le_p(&crc_le, crc);
    memcpy(cpb_out + 4, &crc_le, 4);
    stl_be_p(cpb_out + 8, (w.nbits & 7) << 16);    /* tebc */
    if (nx_write(q->r, q->cpb_ea + NX_GZIP_CPB_OUT_ADLER, cpb_out, 12)) {
        rc = NX_FAULT;
        goto out;
    }
    if (count) {
        uint8_t counts[NX_GZIP_LZCOUNTS * 4], sp[4];

        for (i = 0; i < NX_GZIP_LZCOUNTS; i++) {
            stl_be_p(counts + i * 4, lz[i]);
        }
        stl_be_p(sp, *spbc);
        if (nx_write(q->r, q->cpb_ea + NX_GZIP_CPB_OUT_LZCOUNT, counts,
                     sizeof(counts)) ||
            nx_write(q->r, q->cpb_ea + NX_GZIP_CPB_OUT_SPBC_COUNT, sp, 4)) {
            rc = NX_FAULT;
            goto out;
        }
    } else {
        uint8_t sp[4];

        stl_be_p(sp, *spbc);
        if (nx_write(q->r, q->cpb_ea + NX_GZIP_CPB_OUT_SPBC_COMP, sp, 4)) {
            rc = NX_FAULT;
            goto out;
        }
    }
    if (truncated) {
        /* Stopped at the byte-count limit: a complete block for spbc bytes. */
        *cc = NX_GZIP_CC_DATA_LENGTH;
        *ce = NX_GZIP_CE_PARTIAL | NX_GZIP_CE_TPBC_VALID;
    } else if (*tpbc > dlen) {
        *cc = NX_GZIP_CC_TPBC_GT_SPBC;
        *ce = NX_GZIP_CE_TPBC_VALID;
    } else {
        *cc = NX_GZIP_CC_OK;
        *ce = NX_GZIP_CE_TPBC_VALID;
    }
out:
    g_free(buf);
    g_free(w.buf);
    return rc;
}

static int nx_decompress(NXReq *q, uint8_t *cc, uint8_t *ce, uint32_t *tpbc,
                         uint32_t *spbc)
{
    bool resume = nx_fc_resume(q->fc);
    uint64_t hist = resume ? nx_hist_bytes(q) : 0, dlen, sread;
    uint32_t w_in = ldl_be_p(q->cpb_in + NX_GZIP_CPB_IN_HISTLEN);
    uint32_t w_sfbt = ldl_be_p(q->cpb_in + NX_GZIP_CPB_IN_SFBT);
    uint8_t cpb_out[16] = { 0 }, spbc_be[4];
    uint32_t crc, adler, crc_le, sfbt = 0, word3 = 0;
    NXInflate *f;
    uint8_t *buf = NULL;
    bool truncated;
    int rc;

    if (hist > NX_GZIP_MAX_HIST_QW * 16 || hist > q->src.total) {
        *cc = NX_GZIP_CC_DATA_LENGTH;
        *ce = NX_GZIP_CE_TERMINATION;
        return 0;
    }
    rc = nx_read_source(q, hist, &buf, &dlen, &truncated);
    if (rc) {
        return rc;
    }
    f = g_new0(NXInflate, 1);
    f->hist = hist;
    f->out_cap = q->tgt_cap;
    f->win_alloc = hist + MIN(f->out_cap, 65536) + 1;
    f->win = g_malloc(f->win_alloc);
    memcpy(f->win, buf, hist);
    f->br.buf = buf + hist;
    f->br.nbits = dlen * 8;
    f->st.mode = NX_IN_HEADER;
    f->one_block = q->fc & 0x02;
    if (resume) {
        uint32_t subc = w_in & 7, in_sfbt = (w_sfbt >> 16) & 0xf;
        uint8_t ll[288], d[32];

        f->br.pos = subc ? 8 - subc : 0;
        f->st.pos = f->br.pos;
        f->st.bfinal = in_sfbt & 1;
        switch (in_sfbt & 0xe) {
        case 0x8:
            if (subc) {
                *cc = NX_GZIP_CC_DATA_LENGTH;
                *ce = NX_GZIP_CE_TERMINATION;
                rc = 0;
                goto out;
            }
            f->st.mode = NX_IN_STORED;
            f->st.rem = w_sfbt & 0xffff;
            break;
        case 0xa:
            nx_fixed_lengths(ll, d);
            nx_load_tables(f, ll, d);
            f->st.mode = NX_IN_FIXED;
            break;
        case 0xc: {
            NXBitReader dbr = { q->cpb_in + NX_GZIP_CPB_IN_DHT, 0, 0 };
            uint32_t dhtlen = w_sfbt & 0xfff;

            dbr.nbits = MIN(dhtlen, NX_GZIP_DHT_MAX_BYTES * 8);
            if (dhtlen < 3 || dhtlen > NX_GZIP_DHT_MAX_BYTES * 8 ||
                nx_get_bits(&dbr, 3) >> 1 != 2 || nx_parse_dht(&dbr, ll, d) ||
                dbr.pos != dhtlen || nx_load_tables(f, ll, d)) {
                *cc = NX_GZIP_CC_INVALID_DHT;
                *ce = NX_GZIP_CE_TERMINATION;
                rc = 0;
                goto out;
            }
            f->dhtlen = dhtlen;
            nx_copy_bits(f->dht, q->cpb_in + NX_GZIP_CPB_IN_DHT, 0, dhtlen);
            f->st.mode = NX_IN_DYNAMIC;
            break;
        }
        default:    /* 0xE/0xF: at a block header */
            break;
        }
    }
    rc = nx_inflate(f);
    if (rc > 0) {
        *cc = rc;
        *ce = NX_GZIP_CE_TERMINATION;
        rc = 0;
        goto out;
    }
    rc = 0;
    sread = (f->st.pos + 7) / 8;
    *spbc = hist + sread;
    *tpbc = f->st.out;
    if (f->st.mode == NX_IN_DONE) {
        sfbt = 0;
        if (sread == dlen && !truncated) {
            *cc = NX_GZIP_CC_OK;
            *ce = NX_GZIP_CE_TPBC_VALID;
        } else {
            *cc = NX_GZIP_CC_DATA_LENGTH;
            *ce = NX_GZIP_CE_PARTIAL | NX_GZIP_CE_TPBC_VALID;
        }
    } else {
        *cc = NX_GZIP_CC_DATA_LENGTH;
        *ce = NX_GZIP_CE_PARTIAL | NX_GZIP_CE_TPBC_VALID;
        switch (f->st.mode) {
        case NX_IN_HEADER:
            sfbt = 0xe;
            break;
        case NX_IN_STORED:
            sfbt = 0x8 | f->st.bfinal;
            word3 = f->st.rem;
            break;
        case NX_IN_FIXED:
            sfbt = 0xa | f->st.bfinal;
            break;
        default:
            sfbt = 0xc | f->st.bfinal;
            word3 = f->dhtlen;
            break;
        }
    }
    crc = crc32(nx_crc_init(q, resume), f->win + hist, f->st.out);
    adler = adler32(nx_adler_init(q, resume), f->win + hist, f->st.out);

    rc = nx_ddl_write(q->r, &q->tgt, f->win + hist, f->st.out);
    if (rc) {
        goto out;
    }
    stl_be_p(cpb_out + 0, adler);
    stl_le_p(&crc_le, crc);
    memcpy(cpb_out + 4, &crc_le, 4);
    stl_be_p(cpb_out + 8, sread * 8 - f->st.pos);          /* subc */
    stl_be_p(cpb_out + 12, (sfbt << 16) | word3);
    stl_be_p(spbc_be, *spbc);
    if (nx_write(q->r, q->cpb_ea + NX_GZIP_CPB_OUT_ADLER, cpb_out, 16) ||
        (sfbt == 0xc || sfbt == 0xd ?
         nx_write(q->r, q->cpb_ea + NX_GZIP_CPB_OUT_DHT, f->dht,
                  NX_GZIP_DHT_MAX_BYTES) : 0) ||
        nx_write(q->r, q->cpb_ea + NX_GZIP_CPB_OUT_SPBC_DECOMP, spbc_be, 4)) {
        rc = NX_FAULT;
    }
out:
    g_free(f->win);
    g_free(f);
    g_free(buf);
    return rc;
}

NXGzipResult nx_gzip_run(const NXGzipMemOps *ops, void *opaque,
                         const uint8_t crb[NX_GZIP_CRB_SIZE],
                         uint64_t max_processed_len)
{
    NXGzipResult res = { 0 };
    NXRun r = { ops, opaque, &res };
    NXReq *q = g_new0(NXReq, 1);
    uint64_t csb_addr = ldq_be_p(crb + 0x08);
    uint8_t cc = 0, ce = 0;
    uint32_t tpbc = 0, spbc = 0;
    int rc = 0;

    q->r = &r;
    q->fc = crb[3];
    res.fc = q->fc;
    res.csb_ea = csb_addr & NX_GZIP_CSB_ADDR_MASK;
    res.at = csb_addr & NX_GZIP_CRB_AT;
    res.ccb_valid = csb_addr & NX_GZIP_CRB_C;
    res.ccb_value = ldq_be_p(crb + 0x30);
    res.ccb_addr = ldq_be_p(crb + 0x38) & ~7ULL;
    res.ccb_cm = ldl_be_p(crb + 0x3c) & 7;
    q->csb_ea = res.csb_ea;
    q->cpb_ea = q->csb_ea + NX_GZIP_CPB_OFFSET;
    q->limit = NX_GZIP_MAX_BYTES;
    if (max_processed_len && max_processed_len < q->limit) {
        q->limit = max_processed_len;
    }

    switch (q->fc & ~NX_GZIP_FC_LIMIT_MASK) {
    case NX_GZIP_FC_COMPRESS_FHT:
    case NX_GZIP_FC_COMPRESS_DHT:
    case NX_GZIP_FC_COMPRESS_FHT_COUNT:
    case NX_GZIP_FC_COMPRESS_DHT_COUNT:
    case NX_GZIP_FC_COMPRESS_RESUME_FHT:
    case NX_GZIP_FC_COMPRESS_RESUME_DHT:
    case NX_GZIP_FC_COMPRESS_RESUME_FHT_COUNT:
    case NX_GZIP_FC_COMPRESS_RESUME_DHT_COUNT:
    case NX_GZIP_FC_DECOMPRESS:
    case NX_GZIP_FC_DECOMPRESS_SINGLE_BLK_N_SUSPEND:
    case NX_GZIP_FC_DECOMPRESS_RESUME:
    case NX_GZIP_FC_DECOMPRESS_RESUME_SINGLE_BLK_N_SUSPEND:
        break;
    default:
        /* WRAP (0x1E) and undefined codes are not implemented. */
        qemu_log_mask(LOG_UNIMP, "nx-gzip: function code 0x%02x\n", q->fc);
        cc = NX_GZIP_CC_SUBFUNCTION;
        ce = NX_GZIP_CE_TERMINATION;
        goto csb;
    }
    q->fc &= ~NX_GZIP_FC_LIMIT_MASK;

    rc = nx_read(&r, q->cpb_ea, q->cpb_in, sizeof(q->cpb_in));
    if (rc) {
        goto out;
    }
    rc = nx_parse_dde(&r, crb + 0x10, &q->src);
    if (rc == 0) {
        rc = nx_parse_dde(&r, crb + 0x20, &q->tgt);
    }
    if (rc > 0) {
        cc = rc;
        ce = NX_GZIP_CE_TERMINATION;
        rc = 0;
        goto csb;
    }
    if (rc) {
        goto out;
    }
    q->tgt_cap = MIN(q->tgt.total, (uint64_t)NX_GZIP_MAX_BYTES);
    if (q->fc & 0x10) {
        rc = nx_decompress(q, &cc, &ce, &tpbc, &spbc);
    } else {
        rc = nx_compress(q, &cc, &ce, &tpbc, &spbc);
    }
    if (rc) {
        goto out;
    }
csb:
    if (!(ce & NX_GZIP_CE_TPBC_VALID)) {
        tpbc = 0;
    }
    rc = nx_write_csb(&r, q->csb_ea, cc, ce, tpbc);
out:
    if (rc) {
        res.status = NX_GZIP_FAULTED;
    } else {
        res.status = NX_GZIP_COMPLETED;
        res.cc = cc;
        res.ce = ce;
        res.tpbc = tpbc;
        res.spbc = spbc;
    }
    g_free(q);
    return res;
}
