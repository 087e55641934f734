package flow

import (
	"context"
	"log/slog"
	"time"
)

// keySender sends DTMF keys to one leg of a bridge as RFC 4733 events, one
// SendDigits at a time and in order: <Number sendDigits> first, then the keys
// the other party sends by SIP INFO (RFC 4733 keys cross the bridge in the
// media already). Its goroutine owns the SendDigits calls on to.
type keySender struct {
	keys   chan string
	cancel context.CancelFunc
	done   chan struct{}
}

// keyBuffer is how many relayed keys may wait; a party cannot outpace 100 ms
// tones for long, so beyond it a key is dropped.
const keyBuffer = 32

// keyReceiver is a party keys are sent to: a media.Session, a Dial's dialParty.
type keyReceiver interface {
	SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error
}

func startKeySender(to keyReceiver, first string, log *slog.Logger) *keySender {
	ctx, cancel := context.WithCancel(context.Background())
	k := &keySender{keys: make(chan string, keyBuffer), cancel: cancel, done: make(chan struct{})}
	if first != "" {
		k.keys <- first
	}
	go func() {
		defer close(k.done)
		for {
			select {
			case <-ctx.Done():
				return
			case keys := <-k.keys:
				if err := to.SendDigits(ctx, keys, 0); err != nil {
					log.Info("dial: keys not sent to the other party", "digits", keys, "err", err)
					if ctx.Err() != nil {
						return
					}
				}
			}
		}
	}()
	return k
}

// send queues one key; it never blocks (a sipgo goroutine calls it).
func (k *keySender) send(key byte) {
	select {
	case k.keys <- string(key):
	default:
	}
}

// stop ends sending (a key on the wire gets its end packets) and waits.
func (k *keySender) stop() {
	k.cancel()
	<-k.done
}
