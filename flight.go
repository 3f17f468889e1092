package deepvue

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Double submits. A customer's double click, two browser tabs or a front
// end that retries make the same call twice at once: two GenerateOTP for one
// number are two requests (Deepvue answers the second with 409, or sends a
// second SMS), two VerifyOTP for one reference one success and one "wrong
// OTP". So a call identical to one in flight on the same Client sends
// nothing of its own: it joins that call and returns its result, as
// golang.org/x/sync/singleflight does.
//
// Identical means the same operation and the same query: for GenerateOTP
// the number, consent and purpose; for VerifyOTP the reference id, OTP,
// consent, purpose, mobile number and GeneratePDF; the credentials the call
// read (a call that starts after SetCredentials never joins one that sends
// the old pair); and the consent evidence the call carries
// (WithConsentEvidence), if any. A call with another purpose or other
// evidence for the same number is a call of its own. Calls
// are found by a keyed hash of what they send (hash/maphash under a random
// seed of the Client's), never by the number or the OTP, and a call joins
// only after comparing what it sends with what the call in flight sends
// (which that call's record holds anyway): the hash finds, the comparison
// decides, so two different calls whose hashes collide never share a
// request (the second sends its own, not found by later double submits).
//
// The first call (the leader) runs the story; the others (joiners) wait for
// its end and get its result: the same error, or a copy of the same result
// struct (its byte slices, Photo and PDF, are shared: read them only). A
// joiner writes no audit records (the leader's pair stands for the one
// request sent); its Observer sees the call, with CallResult.Joined set and
// no attempt. The request runs on the flight, a context with the leader's
// values and deadline (or the Client's default), which the joiners share: a
// joiner whose own deadline lies later still gets the leader's deadline
// error. Whoever's context ends leaves: a joiner at once (its error wraps
// its context's, and may have been sent, since the leader's request may be
// on its way), the leader when its request ends; the request itself is
// cancelled only when every caller waiting for it has left. Once the
// leader's request has its result (anything but an error that matches
// ErrNotSent), an identical call joins it until the leader has ended
// (written its outcome record), even if every caller's context has ended.

// flights are the calls in flight on one Client, by the keyed hash of what
// they send. A flight whose leader's context has no deadline gets the
// Client's default (WithTimeout), which the Client's one timer enforces
// (deadline.go): no timer per call.
type flights struct {
	seed maphash.Seed
	mu   sync.Mutex
	m    map[uint64]*flight
}

// newFlights returns the flights of a Client.
func newFlights() (*flights, error) {
	return &flights{seed: maphash.MakeSeed(), m: map[uint64]*flight{}}, nil
}

// flight is one request, the calls waiting for it, and the context it runs
// on. As a context.Context it has the leader's values and deadline (the
// Client's default when the leader has none) and it ends at that deadline,
// when cancel is called (the call's end, the send-once guard), or once no
// caller waits for the request any more: the leader leaves when its own
// context ends, but while a joiner waits, that ends nothing. Err and Done
// decide when asked, so a leader alone sees its own cancel at once, as it
// would on its own context (a default deadline ends it when the Client's
// timer fires, as a context.WithDeadline's timer would). It lives in the
// leader's call record.
type flight struct {
	key    uint64
	lead   *call // the leader's record: what it sends (sameRequest)
	result any   // set before landed is closed
	err    error

	parent     context.Context // the leader's
	deadline   time.Time
	ownTimer   bool         // the deadline is the Client's default: the Client's timer enforces it (deadline.go)
	dl         deadlineNode // its place in the Client's list of default deadlines
	stopParent func() bool  // unregisters the context.AfterFunc on parent (nil if parent never ends)

	mu       sync.Mutex
	timer    *time.Timer   // ends the flight at its deadline
	timerOf  *flightRef    // what the timer's function holds: cut at the end
	joiners  int           // joiners still waiting
	landed   chan struct{} // made by the first joiner; closed once result and err are set
	isDone   bool          // land was called
	answered bool          // the leader's story ended with what a joiner may share (answerShared), before its end step
	unlisted bool          // not in the Client's map: another request has its key
	ended    error         // why the flight's context ended, once it has
	endCh    chan struct{} // closed when ended is set; made when first asked for
	after1   func()        // the first function AfterFunc registered (net/http's, for the request), until stopped
	used1    bool          // after1's place was taken once: later ones go to afters
	afters   map[*func()]struct{}
}

// join is the story's join step, after the input was checked. A call
// identical to one in flight joins it and reports true; any other call
// leads a new flight (cl.fl, its context from now on) and reports false.
func (c *Client) join(ctx context.Context, cl *call) bool {
	fs := c.flights
	key := cl.in.flightKey(fs.seed)
	if cl.evidence != nil {
		// Only calls with the same consent evidence share a request: the
		// leader's audit records carry its evidence alone.
		key = maphash.Bytes(fs.seed, flightEvidence(key, cl.evidence))
	}
	// Only calls that send the same credentials share a request: a call
	// that starts after SetCredentials sends the new pair (and gets the
	// answer to it), even while one with the old pair is in flight.
	key ^= cl.creds.flight
	fs.mu.Lock()
	f := fs.m[key]
	if f != nil && !f.lead.sameRequestAs(cl) {
		// Another request with the same hash: this call sends its own,
		// which the map cannot hold beside the other.
		f = nil
		key, cl.fl.unlisted = 0, true
	}
	if f != nil {
		f.mu.Lock()
		// Alive, or answered already: a request that went out is never
		// sent again because its leader left while writing its outcome.
		alive := f.answered || f.endLocked() == nil // else every caller left, or its deadline passed
		if alive {
			f.joiners++
			if f.landed == nil {
				f.landed = make(chan struct{})
			}
			cl.landed = f.landed
		}
		f.mu.Unlock()
		if alive {
			fs.mu.Unlock()
			cl.flight, cl.joined = f, true
			return true
		}
	}
	// A new flight, set up before others can find it.
	f = &cl.fl
	f.key, f.lead, f.parent = key, cl, ctx
	d, ok := ctx.Deadline()
	if !ok {
		d, f.ownTimer = c.deadlines.add(deadlineCall, &f.dl, f, c.timeout), true
	}
	f.deadline = d
	if !f.unlisted {
		fs.m[key] = f
	}
	fs.mu.Unlock()
	cl.flight = f
	if ctx.Done() != nil {
		f.stopParent = context.AfterFunc(ctx, f.check)
	}
	return false
}

// sameRequestAs reports whether other sends what cl sends, with the same
// credentials and consent evidence (what join's key hashes).
func (cl *call) sameRequestAs(other *call) bool {
	if !cl.in.sameRequest(other.in) || cl.creds.clientID != other.creds.clientID || cl.creds.secret != other.creds.secret {
		return false
	}
	a, b := cl.evidence, other.evidence
	if a == nil || b == nil {
		return a == b
	}
	return a.NoticeID == b.NoticeID && a.NoticeVersion == b.NoticeVersion && a.NoticeSHA256 == b.NoticeSHA256 &&
		a.Language == b.Language && a.Channel == b.Channel && a.Operator == b.Operator &&
		a.CustomerRef == b.CustomerRef && a.AlternativesOffered == b.AlternativesOffered &&
		a.DecidedAt.UnixNano() == b.DecidedAt.UnixNano()
}

// flightEvidence is what identifies the consent evidence of a call, after the
// hash of its request.
func flightEvidence(key uint64, e *ConsentEvidence) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 256), key)
	for _, f := range [...]string{e.NoticeID, e.NoticeVersion, e.NoticeSHA256, e.Language, e.Channel, e.Operator, e.CustomerRef} {
		b = append(b, 0)
		b = append(b, f...)
	}
	b = append(b, 0)
	if e.AlternativesOffered {
		b = append(b, 1)
	}
	b = append(b, 0)
	return strconv.AppendInt(b, e.DecidedAt.UnixNano(), 10)
}

// Deadline is the leader's, or the Client's default.
func (f *flight) Deadline() (time.Time, bool) { return f.deadline, true }

// Value is the leader's context's.
func (f *flight) Value(key any) any { return f.parent.Value(key) }

// Done is closed when the flight's context ends.
func (f *flight) Done() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endLocked()
	if f.endCh == nil {
		f.endCh = make(chan struct{})
	}
	return f.endCh
}

// Err says why the flight's context ended, nil while it has not.
func (f *flight) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.endLocked()
}

// AfterFunc calls fn in its own goroutine once the flight's context ends:
// a context derived from the flight (context.WithCancel, net.Dialer) uses
// it rather than a goroutine of its own. stop unregisters fn, and reports
// whether it did so before fn ran.
func (f *flight) AfterFunc(fn func()) (stop func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.endLocked() != nil {
		go fn()
		return func() bool { return false }
	}
	if !f.used1 {
		// The common case, net/http's one registration for the request:
		// no map, no pointer of its own.
		f.after1, f.used1 = fn, true
		return f.stop1
	}
	if f.afters == nil {
		f.afters = map[*func()]struct{}{}
	}
	p := &fn
	f.afters[p] = struct{}{}
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, ok := f.afters[p]
		delete(f.afters, p)
		return ok
	}
}

// deadlinePassed ends the flight at its default deadline (the Client's
// timer, deadline.go).
func (f *flight) deadlinePassed() {
	f.mu.Lock()
	f.endWithLocked(context.DeadlineExceeded)
	f.mu.Unlock()
}

// stop1 unregisters the function in after1.
func (f *flight) stop1() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok := f.after1 != nil
	f.after1 = nil
	return ok
}

// check ends the flight's context if it must end now (the parent's end, the
// deadline's timer).
func (f *flight) check() {
	f.mu.Lock()
	f.endLocked()
	f.mu.Unlock()
}

// cancel ends the flight's context (the call's end, or the send-once guard).
func (f *flight) cancel() {
	f.mu.Lock()
	f.endWithLocked(context.Canceled)
	f.mu.Unlock()
}

// flightRef is what a flight's timer holds: a stopped timer may stay in the
// runtime's heap for a while, and the flight lives in its leader's call
// record, answer and result included; the flight's end cuts the link.
type flightRef struct{ f atomic.Pointer[flight] }

func (r *flightRef) check() {
	if f := r.f.Load(); f != nil {
		f.check()
	}
}

// startTimerLocked makes a timer end the flight at its deadline.
func (f *flight) startTimerLocked() {
	f.timerOf = &flightRef{}
	f.timerOf.f.Store(f)
	f.timer = time.AfterFunc(time.Until(f.deadline), f.timerOf.check)
}

// endLocked ends the flight's context if it must end, and returns why: its
// deadline passed, or no one waits for it (the leader's context ended with
// no joiner waiting). A leader that left while joiners wait no longer
// watches its own deadline: the flight's timer takes over.
//
// A default deadline is the Client's timer's to enforce (deadline.go),
// without a clock read here: the flight ends at it as a context.WithDeadline
// does, when the timer fires.
func (f *flight) endLocked() error {
	if f.ended != nil {
		return f.ended
	}
	if !f.ownTimer && !time.Now().Before(f.deadline) {
		f.endWithLocked(context.DeadlineExceeded)
	} else if err := f.parent.Err(); err != nil {
		if f.joiners == 0 {
			f.endWithLocked(err)
		} else if !f.ownTimer && f.timer == nil {
			f.startTimerLocked()
		}
	}
	return f.ended
}

// endWithLocked ends the flight's context with err, once.
func (f *flight) endWithLocked(err error) {
	if f.ended != nil {
		return
	}
	f.ended = err
	if f.endCh == nil {
		f.endCh = make(chan struct{})
	}
	close(f.endCh)
	if f.timer != nil {
		f.timer.Stop()
		f.timerOf.f.Store(nil)
	}
	if f.after1 != nil {
		go f.after1()
		f.after1 = nil
	}
	for fn := range f.afters {
		go (*fn)()
	}
	f.afters = nil
}

// await is a joiner's story: it waits for the flight's end, or for its own
// context's.
func (cl *call) await(ctx context.Context) (any, error) {
	f := cl.flight
	select {
	case <-cl.landed:
		return f.result, f.err
	case <-ctx.Done():
	}
	f.mu.Lock()
	if f.isDone { // both at once: the result is there
		f.mu.Unlock()
		<-cl.landed
		return f.result, f.err
	}
	f.joiners--
	f.endLocked()
	f.mu.Unlock()
	return nil, cl.transportError("waiting for the same call made at the same time by another caller", ctx.Err(), false)
}

// answered marks the flight of a leader whose story (do) ended: from now on
// until land, an identical call joins it whatever its context says, unless
// the result is an error that left nothing at Deepvue (ErrNotSent: often
// the leader's own context, which is not the newcomer's), for which the
// newcomer sends its own. The leader's end step (its outcome record, its
// Observer) may take a while, and the request it stands for may have sent
// an SMS: a call made then would be a second generate-otp.
func (c *Client) answered(cl *call, err error) {
	f := cl.flight
	if f == nil || cl.joined || (err != nil && errors.Is(err, ErrNotSent)) {
		return
	}
	f.mu.Lock()
	f.answered = true
	f.mu.Unlock()
}

// land ends a flight its leader ran: the flight leaves the Client's map (a
// call made from now on sends a request of its own), its context ends, and
// the joiners get result and err.
func (c *Client) land(cl *call, result any, err error) {
	f := cl.flight
	if f == nil || cl.joined {
		return
	}
	c.flights.mu.Lock()
	if c.flights.m[f.key] == f {
		delete(c.flights.m, f.key)
	}
	c.flights.mu.Unlock()
	c.deadlines.remove(deadlineCall, &f.dl)
	if f.stopParent != nil {
		f.stopParent()
	}
	f.mu.Lock()
	f.endWithLocked(context.Canceled)
	landed := f.landed
	if landed != nil { // kept for the joiners only
		f.result, f.err = result, err
	}
	f.isDone = true
	f.mu.Unlock()
	if landed != nil {
		close(landed)
	}
}
