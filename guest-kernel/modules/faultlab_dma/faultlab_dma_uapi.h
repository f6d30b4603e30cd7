/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * faultlab_dma: user interface of the faultlab-dma test driver.
 *
 * Each open() of /dev/faultlab-dma (first device; /dev/faultlab-dmaN for the
 * others) binds the calling process's address space to the device with SVA
 * (its PASID tags the channel's DMA) and takes one free channel of the device
 * for this file. Commands use the caller's virtual addresses.
 *
 *  FAULTLAB_DMA_IOC_INFO    the file's PASID, channel and the device's name.
 *  FAULTLAB_DMA_IOC_RUN     submit run.cmd and wait for it; run.done is filled.
 *  FAULTLAB_DMA_IOC_SUBMIT  start a command and return at once.
 *  FAULTLAB_DMA_IOC_WAIT    wait for the command SUBMIT started (run.cmd's
 *                           timeout_ms is the wait's timeout; the rest of
 *                           run.cmd is ignored); run.done is filled.
 *
 * RUN and WAIT return 0 when the device finished the command, whatever its
 * final state (DONE, FAULT, MISMATCH, BADCMD: see done.state). When the
 * timeout expires (or a signal arrives) the driver cancels the command with
 * the device's ABORT register, waits for the channel to stop, fills run.done
 * (flags TIMED_OUT or INTERRUPTED, plus ABORTED) and returns -1 with errno
 * ETIMEDOUT or EINTR. If the channel does not stop after ABORT the channel is
 * retired (flag STUCK, errno EIO). close() cancels a command still running
 * the same way before it unbinds the address space.
 */
#ifndef _UAPI_FAULTLAB_DMA_H
#define _UAPI_FAULTLAB_DMA_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define FAULTLAB_DMA_OP_COPY		1	/* src -> dst */
#define FAULTLAB_DMA_OP_FILL		2	/* pattern -> dst */
#define FAULTLAB_DMA_OP_COMPARE		3	/* src with dst */

#define FAULTLAB_DMA_MAX_LEN		(16u << 20)
#define FAULTLAB_DMA_DEFAULT_TIMEOUT_MS	10000u

/* done.state: the device's STATUS bits 7:0 */
#define FAULTLAB_DMA_STATE_IDLE		0
#define FAULTLAB_DMA_STATE_RUNNING	1
#define FAULTLAB_DMA_STATE_STALLED	2
#define FAULTLAB_DMA_STATE_DONE		3
#define FAULTLAB_DMA_STATE_FAULT	4
#define FAULTLAB_DMA_STATE_MISMATCH	5
#define FAULTLAB_DMA_STATE_BADCMD	6

/* done.reason: STATUS bits 15:8 */
#define FAULTLAB_DMA_REASON_NONE	0
#define FAULTLAB_DMA_REASON_NOSTALL	1	/* translation fault, no stall */
#define FAULTLAB_DMA_REASON_ABORTED	2	/* stall answered with abort */
#define FAULTLAB_DMA_REASON_TERMINATED	3	/* stall terminated */
#define FAULTLAB_DMA_REASON_CANCELLED	4	/* ABORT register */
#define FAULTLAB_DMA_REASON_INJECTED	5
#define FAULTLAB_DMA_REASON_BUS		6	/* error completion, master off */

/* done.flags */
#define FAULTLAB_DMA_F_TIMED_OUT	(1u << 0)
#define FAULTLAB_DMA_F_INTERRUPTED	(1u << 1)
#define FAULTLAB_DMA_F_ABORTED		(1u << 2)	/* driver wrote ABORT */
#define FAULTLAB_DMA_F_STUCK		(1u << 3)	/* did not stop */
#define FAULTLAB_DMA_F_NO_IRQ		(1u << 4)	/* finished, no irq seen */

struct faultlab_dma_cmd {
	__u32 op;		/* FAULTLAB_DMA_OP_* */
	__u32 timeout_ms;	/* 0: FAULTLAB_DMA_DEFAULT_TIMEOUT_MS */
	__u64 src;		/* caller's virtual addresses */
	__u64 dst;
	__u64 len;		/* 1 .. FAULTLAB_DMA_MAX_LEN */
	__u64 pattern;		/* FILL */
};

struct faultlab_dma_completion {
	__u32 state;		/* FAULTLAB_DMA_STATE_* */
	__u32 reason;		/* FAULTLAB_DMA_REASON_* */
	__u32 fault_write;	/* the aborted access was a write */
	__u32 flags;		/* FAULTLAB_DMA_F_* */
	__u64 bytes_done;
	__u64 fault_addr;
	__u64 stalls;		/* stalls this command went through */
	__u64 result;		/* COMPARE: first differing offset, or ~0 */
	__u64 elapsed_ns;	/* submit to completion (or to abort) */
};

struct faultlab_dma_run {
	struct faultlab_dma_cmd cmd;
	struct faultlab_dma_completion done;
};

struct faultlab_dma_info {
	__u32 pasid;
	__u32 channel;
	__u32 nchan;
	__u32 version;		/* the device's ID register, bits 63:32 */
	char device[32];	/* PCI name, e.g. "0000:00:02.0" */
};

#define FAULTLAB_DMA_IOC_MAGIC	0xfd
#define FAULTLAB_DMA_IOC_INFO	_IOR(FAULTLAB_DMA_IOC_MAGIC, 0, struct faultlab_dma_info)
#define FAULTLAB_DMA_IOC_RUN	_IOWR(FAULTLAB_DMA_IOC_MAGIC, 1, struct faultlab_dma_run)
#define FAULTLAB_DMA_IOC_SUBMIT	_IOW(FAULTLAB_DMA_IOC_MAGIC, 2, struct faultlab_dma_cmd)
#define FAULTLAB_DMA_IOC_WAIT	_IOWR(FAULTLAB_DMA_IOC_MAGIC, 3, struct faultlab_dma_run)

#endif /* _UAPI_FAULTLAB_DMA_H */
