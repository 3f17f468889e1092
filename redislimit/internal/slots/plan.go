package slots

import "time"

// Margin is how much longer than Deepvue's window d the SDK's limiters make
// each window: 100 ms plus 0.1 % of d (101 ms for a second, 160 ms for a
// minute, 86.5 s for a day). Requests admitted at the limiter reach Deepvue
// a little later, by an amount that varies (a new connection, a retry, the
// network); two requests admitted a window apart can arrive closer than
// that, and Deepvue counts arrivals. The margin absorbs that jitter, and the
// drift of clocks over a day.
func Margin(d time.Duration) time.Duration { return 100*time.Millisecond + d/1000 }

// PlanWindows returns the windows of a plan with these limits that are
// enforced (a limit of zero or less is not), in this order: per second, per
// minute, per day. Each has Base set to Deepvue's window and Per to Base
// widened by Margin. redislimit's windows are these, as the core's NewPlanLimiter's are.
func PlanWindows(perSecond, perMinute, perDay int) []Window {
	var out []Window
	for _, w := range [...]Window{{Limit: perSecond, Base: time.Second}, {Limit: perMinute, Base: time.Minute},
		{Limit: perDay, Base: 24 * time.Hour}} {
		if w.Limit > 0 {
			w.Per = w.Base + Margin(w.Base)
			out = append(out, w)
		}
	}
	return out
}
