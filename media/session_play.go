package media

import (
	"context"
	"sync/atomic"

	"github.com/pivotua/pivotua/codec"
)

// playback is one Play handed to the clock.
type playback struct {
	prompt *codec.Prompt // immutable

	// Clock-owned after Play publishes the playback (Play sets them first).
	law    codec.Law
	frames [][]byte
	pos    int

	stop  atomic.Bool   // set by Play when its ctx ends or the session closes, or by Interrupt; the clock then sends silence
	ended atomic.Bool   // done is closed (finish)
	done  chan struct{} // closed after the last frame was written (by the clock), or by Interrupt
}

// finish closes done, once: the clock after the last frame, or Interrupt, whichever comes first.
func (pb *playback) finish() {
	if pb.ended.CompareAndSwap(false, true) {
		close(pb.done)
	}
}

// nextFrame returns the next frame in law and whether it is the last one.
func (pb *playback) nextFrame(law codec.Law) ([]byte, bool) {
	if law != pb.law { // re-INVITE changed the law mid-prompt; Start encoded it already
		pb.law = law
		pb.frames = pb.prompt.Frames(law)
		if pb.pos >= len(pb.frames) {
			pb.pos = len(pb.frames) - 1
		}
	}
	f := pb.frames[pb.pos]
	pb.pos++
	return f, pb.pos >= len(pb.frames)
}

// Play sends p's frames on the shared clock, in place of silence, and returns
// nil once the last frame was sent. If ctx ends first, Play returns ctx's
// error and the prompt stops at the next frame (silence follows); if the
// session ends, it returns Err. Prompts on hold (SetSending(false)) advance
// as if sent.
//
// Callers serialise Play: while one runs, another returns ErrBusy. The
// session must be started.
func (s *Session) Play(ctx context.Context, p *codec.Prompt) error {
	if s.finished.Load() {
		return s.errOrClosed()
	}
	cfg := s.cfg.Load()
	if cfg == nil {
		return ErrNotStarted
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if p == nil {
		return nil
	}
	frames := p.Frames(cfg.law) // encoded here, on the caller, never on the clock
	if len(frames) == 0 {
		return nil
	}
	pb := &playback{prompt: p, law: cfg.law, frames: frames, done: make(chan struct{})}
	if !s.play.CompareAndSwap(nil, pb) {
		return ErrBusy
	}
	select {
	case <-pb.done:
		return nil
	case <-ctx.Done():
		err := ctx.Err()
		s.abandon(pb)
		select {
		case <-pb.done:
			return nil // the last frame went out meanwhile
		default:
			return err
		}
	case <-s.done:
		s.abandon(pb)
		return s.errOrClosed()
	}
}

// Interrupt stops the prompt being played: its Play returns nil at once, as when the prompt ends,
// and the clock sends silence from its next frame. Without a prompt playing it does nothing. A stop
// key (barge-in) ends a prompt this way, so a prompt needs no context of its own to be stoppable.
func (s *Session) Interrupt() {
	if pb := s.play.Load(); pb != nil {
		s.abandon(pb)
		pb.finish()
	}
}

func (s *Session) abandon(pb *playback) {
	pb.stop.Store(true)
	s.play.CompareAndSwap(pb, nil)
}
