package privates3test

import (
	"net/http"
	"time"
)

// Fault describes how the server misbehaves for matching requests; see [Server.InjectFault].
// A fault applies after the request is counted and before it is authenticated.
type Fault struct {
	// Op limits the fault to one operation (one of the Op constants). If empty, every operation.
	Op string
	// Key limits the fault to S3 requests for this key (of any bucket). If empty, any key; STS
	// requests match only faults without Key.
	Key string
	// Times is how many matching requests the fault affects; then it is removed. If zero, it stays
	// until removed.
	Times int
	// Status, if not zero, answers with this HTTP status and an AWS XML error with Code. If zero,
	// the request is answered normally (after Latency).
	Status int
	// Code is the AWS error code of the answer, such as "SlowDown", "InternalError",
	// "Throttling" or "AccessDenied". If empty, "InternalError" for S3 and "InternalFailure" for
	// STS.
	Code string
	// Latency delays the answer (on the real clock, or the bubble's clock in synctest). The
	// delay ends early if the client gives up or the server is closed.
	Latency time.Duration
	// Hang blocks the request until the client gives up (its context or connection ends) or the
	// server is closed; nothing is answered.
	Hang bool
	// Drop closes the connection without answering.
	Drop bool
}

type faultEntry struct {
	Fault
	left int // remaining uses if Times > 0
}

// InjectFault adds f; the first matching fault (in order of injection) applies to a request.
// The returned function removes f (if still present); it is idempotent.
func (s *Server) InjectFault(f Fault) (remove func()) {
	e := &faultEntry{Fault: f, left: f.Times}
	s.mu.Lock()
	s.faults = append(s.faults, e)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.removeFaultLocked(e)
	}
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) removeFaultLocked(e *faultEntry) {
	for i, f := range s.faults {
		if f == e {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			return
		}
	}
}

// takeFault returns the fault that applies to a request for op and key (key is "" for STS), and
// uses it up once; nil if none.
func (s *Server) takeFault(op, key string, isS3 bool) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.faults {
		if e.Op != "" && e.Op != op {
			continue
		}
		if e.Key != "" && (!isS3 || e.Key != key) {
			continue
		}
		f := e.Fault
		if e.Times > 0 {
			e.left--
			if e.left <= 0 {
				s.removeFaultLocked(e)
			}
		}
		return &f
	}
	return nil
}

// applyFault carries out f. It reports whether the request was answered (or dropped) and must
// not be served further.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault, reqID string, isS3 bool) bool {
	if f.Drop {
		dropConnection(w)
		return true
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		dropConnection(w)
		return true
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			dropConnection(w)
			return true
		case <-s.closing:
			dropConnection(w)
			return true
		}
	}
	if f.Status == 0 {
		return false
	}
	code := f.Code
	if code == "" {
		code = "InternalError"
		if !isS3 {
			code = "InternalFailure"
		}
	}
	e := newError(f.Status, code, messageFor(code))
	if isS3 {
		writeS3Error(w, r, reqID, e)
	} else {
		writeSTSError(w, reqID, e)
	}
	return true
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// net/http aborts the connection without logging when a handler panics with this value.
	panic(http.ErrAbortHandler)
}
