//go:build linux

package media

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A send clock hands the kernel a whole tick's reads, then its sends, through an io_uring: one
// system call for a slot's sessions instead of one each. A system call is where this engine's
// time goes: on a VM with page-table isolation an empty one costs about 1 µs and flushes the TLB,
// so a sendto took 2.7 µs and a recvmmsg 1.3 µs, against 0.5 µs an operation in a batch
// (bench/README.md, "Batched system calls"). Every operation is non-blocking (MSG_DONTWAIT),
// so the kernel completes it while submitting and it holds nothing of ours once submit returns.

// The ABI of <linux/io_uring.h>, the parts used here.
const (
	uringOpSendmsg = 9
	uringOpRecvmsg = 10

	uringOffSQRing = 0
	uringOffSQEs   = 0x10000000

	uringFeatSingleMmap = 1 << 0
	uringEnterGetEvents = 1 << 0
	uringSetupSubmitAll = 1 << 7 // go on submitting after an operation fails
	uringSetupCoopTask  = 1 << 8 // no interrupt for completion work: there is none, all complete inline
)

type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// uringEntries is a ring's submission queue: the operations one submit can carry. A slot of
// 2,000 calls on two clocks is 50 sessions, 100 reads.
const uringEntries = 256

// uring is one send clock's ring; only that clock's goroutine uses it.
type uring struct {
	fd     int
	ring   []byte // the mapped submission and completion rings
	sqeMem []byte // the mapped submission entries

	sqHead, sqTail *uint32
	sqMask         uint32
	sqes           []uringSQE
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []uringCQE

	queued uint32 // entries written since the last submit
}

// errURingOff says the ring was turned off by configuration.
var errURingOff = errors.New("io_uring is off (rtp.io_uring)")

// newURing sets up a ring, or says why the kernel would not: ENOSYS or EPERM under a seccomp
// filter or kernel.io_uring_disabled, EINVAL before Linux 5.19 (uringSetupCoopTask).
func newURing() (*uring, error) {
	var p uringParams
	p.flags = uringSetupSubmitAll | uringSetupCoopTask
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uringEntries, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, os.NewSyscallError("io_uring_setup", errno)
	}
	r := &uring{fd: int(fd)}
	if p.features&uringFeatSingleMmap == 0 {
		r.close()
		return nil, errors.New("io_uring: the kernel maps its rings apart (older than 5.4)")
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	var err error
	if r.ring, err = unix.Mmap(r.fd, uringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, os.NewSyscallError("mmap io_uring", err)
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(uringSQE{}))
	if r.sqeMem, err = unix.Mmap(r.fd, uringOffSQEs, sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, os.NewSyscallError("mmap io_uring entries", err)
	}
	base := unsafe.Pointer(&r.ring[0])
	r.sqHead = (*uint32)(unsafe.Add(base, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	// Entry i of the submission queue is always sqes[i]: the array is the identity.
	array := unsafe.Slice((*uint32)(unsafe.Add(base, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	return r, nil
}

// room is how many more operations the next submit can take.
func (r *uring) room() int { return len(r.sqes) - int(r.queued) }

// push queues a sendmsg or recvmsg of msg on fd, without waiting (MSG_DONTWAIT); its result goes
// to res[id] at the next submit. msg and what it points to must stay put until then. The caller
// checks room first.
func (r *uring) push(op uint8, fd int, msg *unix.Msghdr, id int) {
	tail := *r.sqTail + r.queued
	r.sqes[tail&r.sqMask] = uringSQE{
		opcode:   op,
		fd:       int32(fd),
		addr:     uint64(uintptr(unsafe.Pointer(msg))),
		msgFlags: unix.MSG_DONTWAIT,
		userData: uint64(id),
	}
	r.queued++
}

// submit hands the kernel what push queued and waits for all of it to complete, which
// non-blocking socket operations do while being submitted. Each result (a length, or a negated
// errno) goes to res at its id. An error means the ring failed: the results not written are
// left as they were, and the ring must not be used again.
func (r *uring) submit(res []int32) error {
	want := r.queued
	if want == 0 {
		return nil
	}
	atomic.StoreUint32(r.sqTail, *r.sqTail+want) // release: the entries before the tail
	r.queued = 0
	pending := want // submitted or not, each is owed a completion
	for stalls := 0; pending > 0; {
		toSubmit := atomic.LoadUint32(r.sqTail) - atomic.LoadUint32(r.sqHead)
		_, _, errno := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(pending),
			uringEnterGetEvents, 0, 0)
		if errno != 0 && errno != unix.EINTR && errno != unix.EAGAIN && errno != unix.EBUSY {
			return os.NewSyscallError("io_uring_enter", errno)
		}
		done := r.reap(res)
		pending -= done
		if done > 0 {
			stalls = 0
			continue
		}
		if stalls++; stalls == uringMaxStalls {
			last := "none"
			if errno != 0 {
				last = errno.Error()
			}
			return fmt.Errorf("io_uring_enter: %d of %d operations not completed after %d enters (last error: %s)", pending, want, stalls, last)
		}
	}
	return nil
}

// uringMaxStalls bounds the enters in a row, interrupted, refused or simply without a completion,
// that submit retries.
const uringMaxStalls = 100

// reap moves the completions waiting in the ring to res and says how many there were.
func (r *uring) reap(res []int32) uint32 {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail) // acquire: the entries before the tail
	for i := head; i != tail; i++ {
		c := &r.cqes[i&r.cqMask]
		if c.userData < uint64(len(res)) {
			res[c.userData] = c.res
		}
	}
	atomic.StoreUint32(r.cqHead, tail)
	return tail - head
}

func (r *uring) close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.ring != nil {
		unix.Munmap(r.ring)
	}
	unix.Close(r.fd)
}
