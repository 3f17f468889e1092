package deepvue

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
)

// The retry policy: everything go-retryablehttp needs from the SDK.
//
// Only a 500 whose sub_code is SOURCE_FAILURE is retried: Deepvue documents
// it as "the source is unavailable", so no OTP was sent. Nothing else is,
// above all not a connection that broke after the request left: a second
// attempt could send a second SMS.

// isRetryable is the decision: a 500 SOURCE_FAILURE. It classifies exactly
// the sub_code and detail the final error would carry (newAPIError's,
// scrubbed and clipped with the call's secrets sec), so the two cannot
// drift: a sub_code that reads SOURCE_FAILURE only before the clip (after
// 50 spaces) is resent by neither.
func isRetryable(status int, env *envelope, sec *secrets) bool {
	return status == http.StatusInternalServerError && env != nil &&
		classify(status, apiSubCode(env, sec), apiDetail(env, sec)) == ErrSourceFailure
}

// checkRetry is go-retryablehttp's CheckRetry, called after every attempt.
// It counts the attempt and, for a 500, reads the answer (bounded, within
// the memory budget) to decide. An answer it does not retry goes back to
// the story on the response, as a keptAnswer body; a failure to read it, as
// a *readError. It never retries once the context has ended or the retries
// are spent.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	cl, _ := ctx.Value(callKey{}).(*call)
	if cl == nil {
		return false, nil
	}
	cl.attempts++
	if err != nil || resp == nil || resp.StatusCode != http.StatusInternalServerError || ctx.Err() != nil {
		return false, nil
	}
	a := &cl.ans // one answer is held at a time: a retried one is released below
	rerr := readAnswer(ctx, c.budget, resp, MaxResponseBytes, a)
	resp.Body.Close()
	resp.Body = http.NoBody
	if rerr != nil {
		return false, &readError{status: resp.StatusCode, err: rerr}
	}
	if dec, ok := decodeEnvelope(a.body); ok {
		a.env = &dec
	}
	if !isRetryable(a.status, a.env, &cl.sec) || cl.attempts > c.retryMax {
		resp.Body = &keptAnswer{a} // decoded once, by the operation
		return false, nil
	}
	txn := cl.sec.ScrubIdent(a.env.TransactionID.s, 128)
	a.release()
	c.endAttempt(cl, a.status, cl.sec.ScrubIdent(a.env.SubCode.s, 64), txn, "ErrSourceFailure", a.size, true)
	if c.logger != nil {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "deepvue: retrying after SOURCE_FAILURE",
			slog.String("operation", cl.op),
			slog.Int("attempt", cl.attempts),
			slog.Int("status", a.status),
			slog.String("transaction_id", txn))
	}
	return true, nil
}

// prepareRetry is go-retryablehttp's PrepareRetry: a retry waits on the
// rate limiter too.
func (c *Client) prepareRetry(req *http.Request) error {
	cl, _ := req.Context().Value(callKey{}).(*call)
	if cl == nil {
		return nil
	}
	return c.waitLimiter(req.Context(), cl)
}

// backoff returns a wait drawn uniformly between min and
// min(max, min*2^attempt): exponential, with full jitter above min.
// Retry-After is not documented by Deepvue and is ignored.
func backoff(min, max time.Duration, attempt int, _ *http.Response) time.Duration {
	ceil := max
	if attempt < 30 {
		if c := min << uint(attempt); c > 0 && c < max {
			ceil = c
		}
	}
	if ceil <= min {
		return min
	}
	return min + time.Duration(rand.Int64N(int64(ceil-min)+1))
}
