// SPDX-License-Identifier: GPL-2.0
/*
 * faultlab_dma: test driver for the faultlab-dma PCI DMA engine.
 *
 * The engine (qemu-devices/docs/faultlab-dma.md) copies, fills and compares
 * memory with DMA tagged by a PASID. This driver makes that DMA use the
 * address space of a user process through SVA, so that every access to a page
 * the process has not populated stalls in the IOMMU and is resolved by the I/O
 * page fault path of the IOMMU core (iommu_report_device_fault ->
 * iommu_sva_handle_mm -> page response): on arm64 the SMMUv3 stalls the access
 * and the response is a CMD_RESUME; on x86 the access becomes a PCIe page
 * request in the VT-d page request queue and the response a page group
 * response descriptor.
 *
 * Probe enables IOPF and SVA for the device (before 6.16; since then the IOMMU
 * driver enables PASID and PRI when it probes the device and IOPF when it
 * attaches an SVA domain, so probe has nothing to enable and the first bind is
 * where a device without SVA fails). Each open() binds current->mm and
 * takes a free channel; ioctls run commands on it (faultlab_dma_uapi.h).
 * release() cancels a command still running (ABORT register), waits for the
 * channel to stop (an access the IOMMU holds stops only when the IOMMU
 * answers it), waits for the I/O page faults already queued for the device to
 * be processed (iopf_queue_flush_dev) and unbinds.
 *
 * Counters (under the PCI device, directory faultlab/): what the driver saw
 * (commands, completed, faults, stalls, binds, ...) and, through kprobes on
 * iommu_report_device_fault() and the IOMMU driver's page_response op
 * (arm_smmu_page_response() on arm64, intel_iommu_page_response() on x86),
 * the I/O page faults the IOMMU core was given for this device and the page
 * responses it sent back, by response code. The driver's op is used rather
 * than iopf_group_response() because it sees every response for the device,
 * also the ones sent by iopf_error_response() when no handler was found.
 *
 * No lock is held while the driver sleeps for the device: a file's command
 * state is two bits (ACTIVE, WAITER) changed atomically, channel allocation
 * takes a spinlock for a few instructions only.
 */

#include <linux/atomic.h>
#include <linux/bitfield.h>
#include <linux/bitops.h>
#include <linux/device.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/wait.h>

#include "faultlab_dma_uapi.h"

#define FDMA_DRV_NAME		"faultlab_dma"

#define FDMA_REG_ID		0x000
#define FDMA_REG_NCHAN		0x008
#define FDMA_REG_IRQ_STATUS	0x010
#define FDMA_REG_IRQ_MASK	0x018
#define FDMA_CHAN_BASE		0x100
#define FDMA_CHAN_STRIDE	0x80

#define FDMA_CH_PASID		0x00
#define FDMA_CH_SRC		0x08
#define FDMA_CH_DST		0x10
#define FDMA_CH_LEN		0x18
#define FDMA_CH_PATTERN		0x20
#define FDMA_CH_CMD		0x28
#define FDMA_CH_STATUS		0x30
#define FDMA_CH_BYTES_DONE	0x38
#define FDMA_CH_FAULT_ADDR	0x40
#define FDMA_CH_STALLS		0x48
#define FDMA_CH_RESULT		0x50
#define FDMA_CH_ABORT		0x58

#define FDMA_ID_MAGIC		0x464c444dU	/* "FLDM" */
#define FDMA_PASID_PV		BIT_ULL(63)
#define FDMA_PASID_MASK		GENMASK_ULL(19, 0)
#define FDMA_STATUS_STATE	GENMASK_ULL(7, 0)
#define FDMA_STATUS_REASON	GENMASK_ULL(15, 8)
#define FDMA_STATUS_WRITE	BIT_ULL(16)

#define FDMA_MAX_CHANNELS	16
#define FDMA_ABORT_WAIT_MS	2000
#define FDMA_IRQ_GRACE_MS	200

/* fdma_file.flags */
#define FDMA_FILE_ACTIVE	0	/* a command was started, not yet collected */
#define FDMA_FILE_WAITER	1	/* someone waits for it */

struct fdma_counters {
	atomic64_t commands;	/* commands started */
	atomic64_t completed;	/* ended DONE */
	atomic64_t faults;	/* ended FAULT */
	atomic64_t mismatches;	/* ended MISMATCH */
	atomic64_t badcmds;	/* ended BADCMD */
	atomic64_t stalls;	/* sum of the STALLS register of ended commands */
	atomic64_t timeouts;	/* waits that timed out */
	atomic64_t aborts;	/* ABORT written by the driver */
	atomic64_t stuck;	/* channels that did not stop after ABORT */
	atomic64_t lost_irqs;	/* commands found finished without an irq */
	atomic64_t binds;
	atomic64_t unbinds;
	atomic64_t bind_errors;
	/* from the kprobes */
	atomic64_t iopf_reported;
	atomic64_t resp_success;
	atomic64_t resp_invalid;
	atomic64_t resp_failure;
	atomic64_t resp_other;
};

struct fdma_dev;

struct fdma_chan {
	struct fdma_dev *fdev;
	void __iomem *regs;
	unsigned int idx;
	wait_queue_head_t wq;
	bool irq_seen;		/* set by the irq handler */
	bool in_use;		/* owned by a file; fdev->lock */
	bool broken;		/* did not stop after ABORT: never reused */
};

struct fdma_dev {
	struct pci_dev *pdev;
	void __iomem *bar;
	struct list_head node;	/* fdma_devices (RCU) */
	struct miscdevice misc;
	char name[24];
	int index;
	unsigned int nchan;
	u32 version;
	spinlock_t lock;	/* in_use, open_files, removed */
	unsigned int open_files;
	wait_queue_head_t files_wq;
	bool removed;
	u64 last_fault_addr;	/* last address reported to the IOMMU core */
	struct fdma_chan chan[FDMA_MAX_CHANNELS];
	struct fdma_counters cnt;
};

struct fdma_file {
	struct fdma_dev *fdev;
	struct fdma_chan *chan;
	struct iommu_sva *sva;
	struct mm_struct *mm;	/* compared only, no reference */
	u32 pasid;
	unsigned long flags;
	u64 started_ns;
};

static DEFINE_IDA(fdma_ida);
static LIST_HEAD(fdma_devices);
static DEFINE_SPINLOCK(fdma_devices_lock);

/* -- kprobes: the IOMMU core's view of this device's I/O page faults ------ */

static struct fdma_dev *fdma_find_rcu(struct device *dev)
{
	struct fdma_dev *fdev;

	list_for_each_entry_rcu(fdev, &fdma_devices, node) {
		if (&fdev->pdev->dev == dev)
			return fdev;
	}
	return NULL;
}

/* int iommu_report_device_fault(struct device *dev, struct iopf_fault *evt) */
static int fdma_kp_report(struct kprobe *p, struct pt_regs *regs)
{
	struct device *dev = (struct device *)regs_get_kernel_argument(regs, 0);
	struct iopf_fault *evt = (struct iopf_fault *)regs_get_kernel_argument(regs, 1);
	struct fdma_dev *fdev;

	rcu_read_lock();
	fdev = fdma_find_rcu(dev);
	if (fdev) {
		atomic64_inc(&fdev->cnt.iopf_reported);
		if (evt && evt->fault.type == IOMMU_FAULT_PAGE_REQ)
			WRITE_ONCE(fdev->last_fault_addr, evt->fault.prm.addr);
	}
	rcu_read_unlock();
	return 0;
}

/*
 * The IOMMU driver's page_response op (struct iommu_ops):
 * void (*page_response)(struct device *dev, struct iopf_fault *evt,
 *                       struct iommu_page_response *msg)
 */
static int fdma_kp_response(struct kprobe *p, struct pt_regs *regs)
{
	struct device *dev = (struct device *)regs_get_kernel_argument(regs, 0);
	struct iommu_page_response *resp =
		(struct iommu_page_response *)regs_get_kernel_argument(regs, 2);
	struct fdma_dev *fdev;

	rcu_read_lock();
	fdev = fdma_find_rcu(dev);
	if (fdev && resp) {
		switch (resp->code) {
		case IOMMU_PAGE_RESP_SUCCESS:
			atomic64_inc(&fdev->cnt.resp_success);
			break;
		case IOMMU_PAGE_RESP_INVALID:
			atomic64_inc(&fdev->cnt.resp_invalid);
			break;
		case IOMMU_PAGE_RESP_FAILURE:
			atomic64_inc(&fdev->cnt.resp_failure);
			break;
		default:
			atomic64_inc(&fdev->cnt.resp_other);
			break;
		}
	}
	rcu_read_unlock();
	return 0;
}

static struct kprobe fdma_kp_report_probe = {
	.symbol_name = "iommu_report_device_fault",
	.pre_handler = fdma_kp_report,
};

/*
 * The page_response op of the IOMMU driver the device sits behind:
 * arm_smmu_page_response() (static, arm-smmu-v3.c) on arm64,
 * intel_iommu_page_response() (prq.c, writes the page group response
 * descriptor) on x86. Both are only ever called through the op pointer, so
 * they are never inlined and kallsyms has them.
 */
#ifdef CONFIG_X86
#define FDMA_RESP_SYMBOL "intel_iommu_page_response"
#else
#define FDMA_RESP_SYMBOL "arm_smmu_page_response"
#endif

static struct kprobe fdma_kp_response_probe = {
	.symbol_name = FDMA_RESP_SYMBOL,
	.pre_handler = fdma_kp_response,
};

static int fdma_kp_report_err = -ENODEV;
static int fdma_kp_response_err = -ENODEV;

/* -- channels ------------------------------------------------------------- */

static inline u64 fdma_chan_read(struct fdma_chan *ch, unsigned int reg)
{
	return readq(ch->regs + reg);
}

static inline void fdma_chan_write(struct fdma_chan *ch, unsigned int reg,
				   u64 val)
{
	writeq(val, ch->regs + reg);
}

static bool fdma_state_final(u32 state)
{
	switch (state) {
	case FAULTLAB_DMA_STATE_DONE:
	case FAULTLAB_DMA_STATE_FAULT:
	case FAULTLAB_DMA_STATE_MISMATCH:
	case FAULTLAB_DMA_STATE_BADCMD:
		return true;
	default:
		return false;
	}
}

/* The command on @ch ended (the device left RUNNING/STALLED for good). */
static bool fdma_chan_finished(struct fdma_chan *ch)
{
	return fdma_state_final(FIELD_GET(FDMA_STATUS_STATE,
					  fdma_chan_read(ch, FDMA_CH_STATUS)));
}

static irqreturn_t fdma_irq(int irq, void *data)
{
	struct fdma_dev *fdev = data;
	unsigned long status;
	unsigned int i;

	status = readq(fdev->bar + FDMA_REG_IRQ_STATUS) &
		 GENMASK_ULL(fdev->nchan - 1, 0);
	if (!status)
		return IRQ_NONE;
	writeq(status, fdev->bar + FDMA_REG_IRQ_STATUS);
	for_each_set_bit(i, &status, fdev->nchan) {
		struct fdma_chan *ch = &fdev->chan[i];

		WRITE_ONCE(ch->irq_seen, true);
		wake_up(&ch->wq);
	}
	return IRQ_HANDLED;
}

/* Cancel the command on @ch and wait (bounded) until the channel stops. */
static void fdma_chan_abort(struct fdma_chan *ch,
			    struct faultlab_dma_completion *done)
{
	struct fdma_dev *fdev = ch->fdev;

	fdma_chan_write(ch, FDMA_CH_ABORT, 1);
	atomic64_inc(&fdev->cnt.aborts);
	done->flags |= FAULTLAB_DMA_F_ABORTED;
	if (wait_event_timeout(ch->wq, fdma_chan_finished(ch),
			       msecs_to_jiffies(FDMA_ABORT_WAIT_MS)))
		return;
	done->flags |= FAULTLAB_DMA_F_STUCK;
	WRITE_ONCE(ch->broken, true);
	atomic64_inc(&fdev->cnt.stuck);
	dev_err(&fdev->pdev->dev,
		"channel %u did not stop %d ms after ABORT (status %#llx): retired\n",
		ch->idx, FDMA_ABORT_WAIT_MS,
		fdma_chan_read(ch, FDMA_CH_STATUS));
}

/* Read the outcome of the command on @ch into @done and count it. */
static void fdma_chan_collect(struct fdma_file *ff,
			      struct faultlab_dma_completion *done)
{
	struct fdma_chan *ch = ff->chan;
	struct fdma_counters *cnt = &ff->fdev->cnt;
	u64 status = fdma_chan_read(ch, FDMA_CH_STATUS);

	done->state = FIELD_GET(FDMA_STATUS_STATE, status);
	done->reason = FIELD_GET(FDMA_STATUS_REASON, status);
	done->fault_write = !!(status & FDMA_STATUS_WRITE);
	done->bytes_done = fdma_chan_read(ch, FDMA_CH_BYTES_DONE);
	done->fault_addr = fdma_chan_read(ch, FDMA_CH_FAULT_ADDR);
	done->stalls = fdma_chan_read(ch, FDMA_CH_STALLS);
	done->result = fdma_chan_read(ch, FDMA_CH_RESULT);
	done->elapsed_ns = ktime_get_ns() - ff->started_ns;

	atomic64_add(done->stalls, &cnt->stalls);
	switch (done->state) {
	case FAULTLAB_DMA_STATE_DONE:
		atomic64_inc(&cnt->completed);
		break;
	case FAULTLAB_DMA_STATE_FAULT:
		atomic64_inc(&cnt->faults);
		break;
	case FAULTLAB_DMA_STATE_MISMATCH:
		atomic64_inc(&cnt->mismatches);
		break;
	case FAULTLAB_DMA_STATE_BADCMD:
		atomic64_inc(&cnt->badcmds);
		break;
	default:
		break;
	}
}

/* -- file operations ------------------------------------------------------ */

static int fdma_start(struct fdma_file *ff, const struct faultlab_dma_cmd *cmd)
{
	struct fdma_chan *ch = ff->chan;

	if (cmd->op < FAULTLAB_DMA_OP_COPY || cmd->op > FAULTLAB_DMA_OP_COMPARE)
		return -EINVAL;
	if (!cmd->len || cmd->len > FAULTLAB_DMA_MAX_LEN)
		return -EINVAL;
	if (test_and_set_bit(FDMA_FILE_ACTIVE, &ff->flags))
		return -EBUSY;
	if (READ_ONCE(ch->broken)) {
		clear_bit(FDMA_FILE_ACTIVE, &ff->flags);
		return -EIO;
	}

	fdma_chan_write(ch, FDMA_CH_PASID, FDMA_PASID_PV | ff->pasid);
	fdma_chan_write(ch, FDMA_CH_SRC, cmd->src);
	fdma_chan_write(ch, FDMA_CH_DST, cmd->dst);
	fdma_chan_write(ch, FDMA_CH_LEN, cmd->len);
	fdma_chan_write(ch, FDMA_CH_PATTERN, cmd->pattern);
	WRITE_ONCE(ch->irq_seen, false);
	ff->started_ns = ktime_get_ns();
	atomic64_inc(&ff->fdev->cnt.commands);
	fdma_chan_write(ch, FDMA_CH_CMD, cmd->op);
	return 0;
}

static int fdma_wait(struct fdma_file *ff, u32 timeout_ms,
		     struct faultlab_dma_completion *done)
{
	struct fdma_chan *ch = ff->chan;
	unsigned long tmo;
	long left;
	int err = 0;

	if (!test_bit(FDMA_FILE_ACTIVE, &ff->flags))
		return -ENOENT;
	if (test_and_set_bit(FDMA_FILE_WAITER, &ff->flags))
		return -EBUSY;

	memset(done, 0, sizeof(*done));
	tmo = msecs_to_jiffies(timeout_ms ?: FAULTLAB_DMA_DEFAULT_TIMEOUT_MS);
	left = wait_event_interruptible_timeout(ch->wq, fdma_chan_finished(ch),
						tmo);
	if (left <= 0 && fdma_chan_finished(ch))
		left = 1;	/* it ended as the wait gave up */
	if (left > 0) {
		/* The state can be read before the interrupt is handled. */
		if (!READ_ONCE(ch->irq_seen) &&
		    !wait_event_timeout(ch->wq, READ_ONCE(ch->irq_seen),
					msecs_to_jiffies(FDMA_IRQ_GRACE_MS))) {
			done->flags |= FAULTLAB_DMA_F_NO_IRQ;
			atomic64_inc(&ff->fdev->cnt.lost_irqs);
		}
	} else {
		if (left == 0) {
			done->flags |= FAULTLAB_DMA_F_TIMED_OUT;
			atomic64_inc(&ff->fdev->cnt.timeouts);
			err = -ETIMEDOUT;
		} else {
			done->flags |= FAULTLAB_DMA_F_INTERRUPTED;
			err = -EINTR;
		}
		fdma_chan_abort(ch, done);
		if (done->flags & FAULTLAB_DMA_F_STUCK)
			err = -EIO;
	}
	fdma_chan_collect(ff, done);
	clear_bit(FDMA_FILE_WAITER, &ff->flags);
	clear_bit_unlock(FDMA_FILE_ACTIVE, &ff->flags);
	return err;
}

static int fdma_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct fdma_dev *fdev = container_of(misc, struct fdma_dev, misc);
	struct fdma_chan *ch = NULL;
	struct fdma_file *ff;
	struct iommu_sva *sva;
	unsigned int i;
	int err;

	if (!current->mm)
		return -EINVAL;
	ff = kzalloc(sizeof(*ff), GFP_KERNEL);
	if (!ff)
		return -ENOMEM;

	spin_lock(&fdev->lock);
	if (fdev->removed) {
		spin_unlock(&fdev->lock);
		kfree(ff);
		return -ENODEV;
	}
	for (i = 0; i < fdev->nchan; i++) {
		if (!fdev->chan[i].in_use && !fdev->chan[i].broken) {
			ch = &fdev->chan[i];
			ch->in_use = true;
			fdev->open_files++;
			break;
		}
	}
	spin_unlock(&fdev->lock);
	if (!ch) {
		kfree(ff);
		return -EBUSY;
	}

	sva = iommu_sva_bind_device(&fdev->pdev->dev, current->mm);
	if (IS_ERR(sva)) {
		err = PTR_ERR(sva);
		atomic64_inc(&fdev->cnt.bind_errors);
		dev_warn(&fdev->pdev->dev, "SVA bind of pid %d failed: %d\n",
			 task_pid_nr(current), err);
		goto err_put_chan;
	}
	ff->fdev = fdev;
	ff->chan = ch;
	ff->sva = sva;
	ff->mm = current->mm;
	ff->pasid = iommu_sva_get_pasid(sva);
	if (ff->pasid == IOMMU_PASID_INVALID || ff->pasid > FDMA_PASID_MASK) {
		err = -ENOSPC;
		iommu_sva_unbind_device(sva);
		atomic64_inc(&fdev->cnt.bind_errors);
		goto err_put_chan;
	}
	atomic64_inc(&fdev->cnt.binds);
	file->private_data = ff;
	return stream_open(inode, file);

err_put_chan:
	spin_lock(&fdev->lock);
	ch->in_use = false;
	fdev->open_files--;
	spin_unlock(&fdev->lock);
	wake_up(&fdev->files_wq);
	kfree(ff);
	return err;
}

/*
 * Wait until the IOMMU core has processed every I/O page fault it queued for
 * the device (its IOPF workqueue is flushed). Called with an SVA domain still
 * attached, so the device's fault parameter exists (6.12: IOPF enabled at
 * probe; since 6.16 the IOMMU driver adds the device to its IOPF queue when
 * the first SVA domain is attached).
 */
static void fdma_flush_faults(struct fdma_dev *fdev)
{
	int err = iopf_queue_flush_dev(&fdev->pdev->dev);

	if (err)
		dev_warn_once(&fdev->pdev->dev,
			      "cannot flush the I/O page fault queue: %d\n", err);
}

static int fdma_release(struct inode *inode, struct file *file)
{
	struct fdma_file *ff = file->private_data;
	struct fdma_dev *fdev = ff->fdev;
	struct fdma_chan *ch = ff->chan;

	/* No ioctl can run any more: nobody else touches ff->flags. */
	if (test_bit(FDMA_FILE_ACTIVE, &ff->flags)) {
		struct faultlab_dma_completion done = {};

		if (!fdma_chan_finished(ch))
			fdma_chan_abort(ch, &done);
		fdma_chan_collect(ff, &done);
		dev_dbg(&fdev->pdev->dev,
			"release: channel %u command ended in state %u reason %u\n",
			ch->idx, done.state, done.reason);
	}
	if (!READ_ONCE(ch->broken))
		fdma_chan_write(ch, FDMA_CH_PASID, 0);
	/*
	 * iommu_sva_unbind_device(): "The device should not be issuing any
	 * more transaction for this PASID. All outstanding page requests for
	 * this PASID must have been flushed to the IOMMU." The channel has
	 * stopped: an access the IOMMU held was answered first (a stalled
	 * transaction ends only through the SMMU's CMD_RESUME/CMD_STALL_TERM,
	 * so ABORT waited for the I/O page fault handler's response). The
	 * handler's work item may still be running (it dereferences the SVA
	 * attach handle that the unbind frees): wait for every fault already
	 * queued for this device to be processed. arm-smmu-v3 does not do this
	 * itself when a PASID is detached (intel-iommu does, in
	 * intel_iommu_drain_pasid_prq()).
	 */
	fdma_flush_faults(fdev);
	iommu_sva_unbind_device(ff->sva);
	atomic64_inc(&fdev->cnt.unbinds);

	spin_lock(&fdev->lock);
	ch->in_use = false;
	fdev->open_files--;
	spin_unlock(&fdev->lock);
	wake_up(&fdev->files_wq);
	kfree(ff);
	return 0;
}

static long fdma_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct fdma_file *ff = file->private_data;
	struct fdma_dev *fdev = ff->fdev;
	void __user *uarg = (void __user *)arg;
	struct faultlab_dma_run run;
	struct faultlab_dma_info info;
	int err;

	if (READ_ONCE(fdev->removed))
		return -ENODEV;
	/* The PASID belongs to the address space bound at open(). */
	if (current->mm != ff->mm)
		return -EPERM;

	switch (cmd) {
	case FAULTLAB_DMA_IOC_INFO:
		memset(&info, 0, sizeof(info));
		info.pasid = ff->pasid;
		info.channel = ff->chan->idx;
		info.nchan = fdev->nchan;
		info.version = fdev->version;
		strscpy(info.device, pci_name(fdev->pdev), sizeof(info.device));
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	case FAULTLAB_DMA_IOC_SUBMIT:
		if (copy_from_user(&run.cmd, uarg, sizeof(run.cmd)))
			return -EFAULT;
		return fdma_start(ff, &run.cmd);
	case FAULTLAB_DMA_IOC_RUN:
	case FAULTLAB_DMA_IOC_WAIT:
		if (copy_from_user(&run, uarg, sizeof(run)))
			return -EFAULT;
		if (cmd == FAULTLAB_DMA_IOC_RUN) {
			err = fdma_start(ff, &run.cmd);
			if (err)
				return err;
		}
		err = fdma_wait(ff, run.cmd.timeout_ms, &run.done);
		if (err == -ENOENT || err == -EBUSY)
			return err;
		/* The completion is copied out also when the wait failed. */
		if (copy_to_user(uarg, &run, sizeof(run)))
			return -EFAULT;
		return err;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations fdma_fops = {
	.owner = THIS_MODULE,
	.open = fdma_open,
	.release = fdma_release,
	.unlocked_ioctl = fdma_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

/* -- sysfs: <pci device>/faultlab/<counter> ------------------------------- */

#define FDMA_COUNTER_ATTR(_name)						\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct fdma_dev *fdev = dev_get_drvdata(dev);			\
									\
	return sysfs_emit(buf, "%lld\n",				\
			  (long long)atomic64_read(&fdev->cnt._name));	\
}									\
static DEVICE_ATTR_RO(_name)

FDMA_COUNTER_ATTR(commands);
FDMA_COUNTER_ATTR(completed);
FDMA_COUNTER_ATTR(faults);
FDMA_COUNTER_ATTR(mismatches);
FDMA_COUNTER_ATTR(badcmds);
FDMA_COUNTER_ATTR(stalls);
FDMA_COUNTER_ATTR(timeouts);
FDMA_COUNTER_ATTR(aborts);
FDMA_COUNTER_ATTR(stuck);
FDMA_COUNTER_ATTR(lost_irqs);
FDMA_COUNTER_ATTR(binds);
FDMA_COUNTER_ATTR(unbinds);
FDMA_COUNTER_ATTR(bind_errors);
FDMA_COUNTER_ATTR(iopf_reported);
FDMA_COUNTER_ATTR(resp_success);
FDMA_COUNTER_ATTR(resp_invalid);
FDMA_COUNTER_ATTR(resp_failure);
FDMA_COUNTER_ATTR(resp_other);

static ssize_t open_files_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct fdma_dev *fdev = dev_get_drvdata(dev);
	unsigned int n;

	spin_lock(&fdev->lock);
	n = fdev->open_files;
	spin_unlock(&fdev->lock);
	return sysfs_emit(buf, "%u\n", n);
}
static DEVICE_ATTR_RO(open_files);

static ssize_t nchan_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct fdma_dev *fdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", fdev->nchan);
}
static DEVICE_ATTR_RO(nchan);

static ssize_t last_fault_addr_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct fdma_dev *fdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%#llx\n", READ_ONCE(fdev->last_fault_addr));
}
static DEVICE_ATTR_RO(last_fault_addr);

/* 0 when the kprobe is armed, else the error register_kprobe() returned. */
static ssize_t kprobes_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "iommu_report_device_fault=%d " FDMA_RESP_SYMBOL "=%d\n",
			  fdma_kp_report_err, fdma_kp_response_err);
}
static DEVICE_ATTR_RO(kprobes);

static struct attribute *fdma_attrs[] = {
	&dev_attr_commands.attr,
	&dev_attr_completed.attr,
	&dev_attr_faults.attr,
	&dev_attr_mismatches.attr,
	&dev_attr_badcmds.attr,
	&dev_attr_stalls.attr,
	&dev_attr_timeouts.attr,
	&dev_attr_aborts.attr,
	&dev_attr_stuck.attr,
	&dev_attr_lost_irqs.attr,
	&dev_attr_binds.attr,
	&dev_attr_unbinds.attr,
	&dev_attr_bind_errors.attr,
	&dev_attr_iopf_reported.attr,
	&dev_attr_resp_success.attr,
	&dev_attr_resp_invalid.attr,
	&dev_attr_resp_failure.attr,
	&dev_attr_resp_other.attr,
	&dev_attr_open_files.attr,
	&dev_attr_nchan.attr,
	&dev_attr_last_fault_addr.attr,
	&dev_attr_kprobes.attr,
	NULL,
};

static const struct attribute_group fdma_group = {
	.name = "faultlab",
	.attrs = fdma_attrs,
};

static const struct attribute_group *fdma_groups[] = {
	&fdma_group,
	NULL,
};

/* -- PCI driver ----------------------------------------------------------- */

static int fdma_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct fdma_dev *fdev;
	unsigned int i;
	u64 idreg, nchan;
	int irq, err;

	fdev = devm_kzalloc(dev, sizeof(*fdev), GFP_KERNEL);
	if (!fdev)
		return -ENOMEM;
	fdev->pdev = pdev;
	spin_lock_init(&fdev->lock);
	init_waitqueue_head(&fdev->files_wq);

	err = pcim_enable_device(pdev);
	if (err)
		return dev_err_probe(dev, err, "cannot enable the device\n");
	fdev->bar = pcim_iomap_region(pdev, 0, FDMA_DRV_NAME);
	if (IS_ERR(fdev->bar))
		return dev_err_probe(dev, PTR_ERR(fdev->bar), "cannot map BAR0\n");

	idreg = readq(fdev->bar + FDMA_REG_ID);
	if (lower_32_bits(idreg) != FDMA_ID_MAGIC)
		return dev_err_probe(dev, -ENODEV, "bad ID register %#llx\n", idreg);
	fdev->version = upper_32_bits(idreg);
	nchan = readq(fdev->bar + FDMA_REG_NCHAN);
	if (!nchan || nchan > FDMA_MAX_CHANNELS)
		return dev_err_probe(dev, -ENODEV, "bad channel count %llu\n", nchan);
	fdev->nchan = nchan;
	for (i = 0; i < fdev->nchan; i++) {
		struct fdma_chan *ch = &fdev->chan[i];

		ch->fdev = fdev;
		ch->idx = i;
		ch->regs = fdev->bar + FDMA_CHAN_BASE + i * FDMA_CHAN_STRIDE;
		init_waitqueue_head(&ch->wq);
	}

	pci_set_master(pdev);
	err = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI | PCI_IRQ_INTX);
	if (err < 0)
		return dev_err_probe(dev, err, "no interrupt\n");
	irq = pci_irq_vector(pdev, 0);
	writeq(0, fdev->bar + FDMA_REG_IRQ_MASK);
	writeq(GENMASK_ULL(fdev->nchan - 1, 0), fdev->bar + FDMA_REG_IRQ_STATUS);

	fdev->index = ida_alloc(&fdma_ida, GFP_KERNEL);
	if (fdev->index < 0)
		return fdev->index;
	if (fdev->index == 0)
		strscpy(fdev->name, "faultlab-dma", sizeof(fdev->name));
	else
		snprintf(fdev->name, sizeof(fdev->name), "faultlab-dma%d",
			 fdev->index);

	err = devm_request_irq(dev, irq, fdma_irq, IRQF_SHARED, fdev->name, fdev);
	if (err) {
		dev_err_probe(dev, err, "cannot request irq %d\n", irq);
		goto err_ida;
	}

	/* iommu_dev_enable_feature() gone in 6.16: the IOMMU driver enables IOPF at SVA attach */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0)
	err = iommu_dev_enable_feature(dev, IOMMU_DEV_FEAT_IOPF);
	if (err) {
		dev_err_probe(dev, err, "cannot enable I/O page faults (IOPF)\n");
		goto err_ida;
	}
	err = iommu_dev_enable_feature(dev, IOMMU_DEV_FEAT_SVA);
	if (err) {
		dev_err_probe(dev, err, "cannot enable SVA\n");
		goto err_iopf;
	}
#endif

	pci_set_drvdata(pdev, fdev);
	spin_lock(&fdma_devices_lock);
	list_add_tail_rcu(&fdev->node, &fdma_devices);
	spin_unlock(&fdma_devices_lock);

	writeq(GENMASK_ULL(fdev->nchan - 1, 0), fdev->bar + FDMA_REG_IRQ_MASK);

	fdev->misc.minor = MISC_DYNAMIC_MINOR;
	fdev->misc.name = fdev->name;
	fdev->misc.fops = &fdma_fops;
	fdev->misc.parent = dev;
	fdev->misc.mode = 0666;
	err = misc_register(&fdev->misc);
	if (err) {
		dev_err_probe(dev, err, "cannot register /dev/%s\n", fdev->name);
		goto err_list;
	}

	dev_info(dev, "faultlab-dma v%u: %u channels, %s irq %d, IOPF and SVA enabled, /dev/%s\n",
		 fdev->version, fdev->nchan,
		 pdev->msi_enabled ? "MSI" : "INTx", irq, fdev->name);
	return 0;

err_list:
	writeq(0, fdev->bar + FDMA_REG_IRQ_MASK);
	spin_lock(&fdma_devices_lock);
	list_del_rcu(&fdev->node);
	spin_unlock(&fdma_devices_lock);
	synchronize_rcu();
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0) /* iommu_dev_disable_feature() removed in 6.16 */
	iommu_dev_disable_feature(dev, IOMMU_DEV_FEAT_SVA);
err_iopf:
	iommu_dev_disable_feature(dev, IOMMU_DEV_FEAT_IOPF);
#endif
err_ida:
	ida_free(&fdma_ida, fdev->index);
	return err;
}

static unsigned int fdma_open_files(struct fdma_dev *fdev)
{
	unsigned int n;

	spin_lock(&fdev->lock);
	n = fdev->open_files;
	spin_unlock(&fdev->lock);
	return n;
}

static void fdma_remove(struct pci_dev *pdev)
{
	struct fdma_dev *fdev = pci_get_drvdata(pdev);
	unsigned int i;

	spin_lock(&fdev->lock);
	fdev->removed = true;
	spin_unlock(&fdev->lock);
	misc_deregister(&fdev->misc);

	/*
	 * Files still open keep their binding and channel until they are
	 * closed: cancel what runs and wait for them (the module itself cannot
	 * go while files are open; this is a sysfs unbind).
	 */
	for (i = 0; i < fdev->nchan; i++) {
		if (fdev->chan[i].in_use && !fdma_chan_finished(&fdev->chan[i]))
			fdma_chan_write(&fdev->chan[i], FDMA_CH_ABORT, 1);
	}
	while (!wait_event_timeout(fdev->files_wq, !fdma_open_files(fdev),
				   10 * HZ))
		dev_warn(&pdev->dev, "unbind waits for %u open files\n",
			 fdma_open_files(fdev));

	writeq(0, fdev->bar + FDMA_REG_IRQ_MASK);
	spin_lock(&fdma_devices_lock);
	list_del_rcu(&fdev->node);
	spin_unlock(&fdma_devices_lock);
	synchronize_rcu();
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0) /* iommu_dev_disable_feature() removed in 6.16 */
	iommu_dev_disable_feature(&pdev->dev, IOMMU_DEV_FEAT_SVA);
	iommu_dev_disable_feature(&pdev->dev, IOMMU_DEV_FEAT_IOPF);
#endif
	ida_free(&fdma_ida, fdev->index);
}

static const struct pci_device_id fdma_ids[] = {
	{ PCI_DEVICE(0x1234, 0xfa01) },
	{ }
};
MODULE_DEVICE_TABLE(pci, fdma_ids);

static struct pci_driver fdma_driver = {
	.name = FDMA_DRV_NAME,
	.id_table = fdma_ids,
	.probe = fdma_probe,
	.remove = fdma_remove,
	.dev_groups = fdma_groups,
};

static int __init fdma_init(void)
{
	int err;

	/* Armed before any device exists, so that no fault goes uncounted. */
	fdma_kp_report_err = register_kprobe(&fdma_kp_report_probe);
	if (fdma_kp_report_err)
		pr_warn(FDMA_DRV_NAME ": kprobe on %s: %d (I/O page faults not counted)\n",
			fdma_kp_report_probe.symbol_name, fdma_kp_report_err);
	fdma_kp_response_err = register_kprobe(&fdma_kp_response_probe);
	if (fdma_kp_response_err)
		pr_warn(FDMA_DRV_NAME ": kprobe on %s: %d (page responses not counted)\n",
			fdma_kp_response_probe.symbol_name, fdma_kp_response_err);

	err = pci_register_driver(&fdma_driver);
	if (err) {
		if (!fdma_kp_response_err)
			unregister_kprobe(&fdma_kp_response_probe);
		if (!fdma_kp_report_err)
			unregister_kprobe(&fdma_kp_report_probe);
	}
	return err;
}

static void __exit fdma_exit(void)
{
	pci_unregister_driver(&fdma_driver);
	if (!fdma_kp_response_err)
		unregister_kprobe(&fdma_kp_response_probe);
	if (!fdma_kp_report_err)
		unregister_kprobe(&fdma_kp_report_probe);
}

module_init(fdma_init);
module_exit(fdma_exit);

MODULE_DESCRIPTION("faultlab-dma test engine: SVA commands with I/O page faults");
MODULE_AUTHOR("faultlab");
MODULE_LICENSE("GPL");
