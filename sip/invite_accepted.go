package sip

import (
	"reflect"
	"time"

	"github.com/emiago/sipgo/sip"
)

// An INVITE answered with 2xx keeps its server transaction in RFC 6026's "Accepted" state for Timer
// L (64×T1, 32 s on UDP) after the 200: it absorbs the INVITE's retransmissions and passes its ACKs
// up. sipgo v1.7.2 ends that transaction when the call's BYE comes or goes, but its end stops every
// timer but Timer L (sip/transaction_server_tx.go, delete), so the timer keeps it, and through it
// the INVITE, our 200 and the dialog with its copy of the INVITE, until it fires: about 4.5 KB a
// call for 32 s after the 200, however soon the call ended. At 1,000 calls a second that is 150 MB of
// live heap for every garbage collection to mark, and a cycle that long leaves a 2-core box short
// of a CPU for the call setups meanwhile. And once the transaction is gone, a retransmitted INVITE
// is no longer absorbed but taken for a new call.
//
// So the server remembers the INVITE as it sends our 200, for Timer L at least (endedMemory: a
// retransmission that finds no transaction is absorbed, as the Accepted state would), and once both
// the call is over and our 200 is no longer being sent, it ends the transaction if no BYE did and
// stops its Timer L.

// acceptedHolders is how many hold an answered INVITE's transaction: the goroutine sending our 200,
// until sipgo's WriteResponse returns (the ACK came, or never will), and the call, until it is over.
const acceptedHolders = 2

// releaseAccepted lets go of the INVITE's transaction for one holder; the last ends it. A call that
// was not answered has no holders, and its transaction ends by itself: a final error response is
// retransmitted until its ACK (RFC 3261 §17.2.1), which an early end would cut short.
func (c *InboundCall) releaseAccepted() {
	if c.acceptedHeld.Add(-1) != 0 {
		return
	}
	c.tx.Terminate()
	if t := timerL(c.tx); t != nil {
		t.Stop()
	}
}

// timerL is the Timer L of sipgo's INVITE server transaction tx, which sipgo v1.7.2 keeps in an
// unexported field; nil before a 2xx armed it, or when a sipgo upgrade moved it
// (TestRetransmissionsAreAnsweredAfterTheirRequestsAreForgotten fails then).
func timerL(tx sip.ServerTransaction) *time.Timer {
	stx, ok := tx.(*sip.ServerTx)
	if !ok {
		return nil
	}
	f := reflect.ValueOf(stx).Elem().FieldByName("timer_l")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*time.Timer]() {
		return nil
	}
	return (*time.Timer)(f.UnsafePointer())
}
