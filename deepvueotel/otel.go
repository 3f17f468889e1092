// Package deepvueotel reports the calls of a deepvue.Client to OpenTelemetry:
// a span per call, a child span per HTTP attempt following the HTTP client
// semantic conventions, the http.client.request.duration histogram per
// attempt (with url.template, so generate-otp and verify-otp stay apart), the
// deepvue.client.call.duration histogram per call (limiter wait and retries
// included) and a deepvue.client.calls counter.
//
//	client, err := deepvue.NewClient(id, secret, deepvue.WithObserver(deepvueotel.NewObserver()))
//
// It records only what the SDK hands a deepvue.Observer: values made safe
// (url.full with every query value replaced by REDACTED, scrubbed sub_codes
// and transaction ids, outcomes that are sentinel names, never an error's
// text), so no Aadhaar number, OTP, mobile number or secret reaches a span
// or a metric. It is a module of its own, so that users who do not want
// OpenTelemetry never get it.
package deepvueotel

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/deepvue-go/deepvue"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/deepvue-go/deepvue/deepvueotel"

// Version is this module's version, recorded as the instrumentation scope's.
const Version = deepvue.Version

// Attribute keys of the deepvue namespace.
const (
	OperationKey     = attribute.Key("deepvue.operation")
	SubCodeKey       = attribute.Key("deepvue.sub_code")
	TransactionIDKey = attribute.Key("deepvue.transaction_id")
	OutcomeKey       = attribute.Key("deepvue.outcome")
	AttemptsKey      = attribute.Key("deepvue.attempts")
	MaybeSentKey     = attribute.Key("deepvue.maybe_sent")
	LimiterWaitKey   = attribute.Key("deepvue.limiter_wait_ms")
	// OTPStateKey is deepvue.OTPState's String ("sent", "not_sent",
	// "pending", "maybe_sent"), on generate-otp calls only: on the call's
	// span and on the deepvue.client.calls counter.
	OTPStateKey     = attribute.Key("deepvue.otp_state")
	ResponseSizeKey = attribute.Key("http.response.body.size")
	// TenantKey is the Client's deepvue.WithTenant label, on the call's and
	// the attempt's spans and on every metric, when the Client has one.
	TenantKey = attribute.Key("deepvue.tenant")
	// JoinedKey is true on the call span and the deepvue.client.calls point
	// of a double submit (deepvue.CallResult.Joined): a call that shared
	// another's request and sent nothing itself.
	JoinedKey = attribute.Key("deepvue.joined")
)

// CallsMetric is the name of the counter of calls, by operation and outcome
// (and, for generate-otp, OTP state).
const CallsMetric = "deepvue.client.calls"

// CallDurationMetric is the name of the histogram of whole calls, in
// seconds, by operation (deepvue.operation) and outcome (deepvue.outcome):
// from the call's start to its return, rate-limiter wait, every attempt and
// the backoff between retries included.
const CallDurationMetric = "deepvue.client.call.duration"

// callDurationBounds are the call duration histogram's buckets, in seconds:
// from a fast answer to a call that spent its whole 30 s default timeout on
// retries, and beyond for callers who set a longer one.
var callDurationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120}

type config struct {
	tp    trace.TracerProvider
	mp    metric.MeterProvider
	props propagation.TextMapPropagator
}

// Option configures NewObserver.
type Option func(*config)

// WithTracerProvider sets the TracerProvider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets the MeterProvider (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithPropagators sets how the trace context is put into the outgoing
// request's headers (default: the global propagators).
func WithPropagators(p propagation.TextMapPropagator) Option { return func(c *config) { c.props = p } }

type observer struct {
	tracer   trace.Tracer
	noSpans  bool // tracer is trace/noop's: no span is started, none ended
	props    propagation.TextMapPropagator
	duration httpconv.ClientRequestDuration
	callDur  metric.Float64Histogram
	calls    metric.Int64Counter

	// What each call builds of the same few values (its operation, server,
	// tenant, outcome) is built once per observer and kept here.
	callStarts    cache[deepvue.CallInfo, spanStart]
	attemptStarts cache[attemptKey, attemptStart]
	attemptRecs   cache[attemptRecKey, []metric.RecordOption]
	callRecs      cache[callRecKey, callMeasure]
}

// spanStart is a span's name and start options, built once.
type spanStart struct {
	name string
	opts []trace.SpanStartOption
}

// attemptStart is an attempt's span start and url.template.
type attemptStart struct {
	spanStart
	template string
}

type attemptKey struct {
	info    deepvue.CallInfo
	method  string
	url     string
	attempt int
}

type attemptRecKey struct {
	info        deepvue.CallInfo
	method, url string
	status      int
	errType     string
}

type callRecKey struct {
	info     deepvue.CallInfo
	outcome  string
	joined   bool
	otpState string
}

// callMeasure is the options of a call's count and duration (slices, so
// that passing them allocates nothing).
type callMeasure struct {
	count []metric.AddOption
	dur   []metric.RecordOption
}

// maxCached bounds each cache: beyond it (many tenants, say), the options
// are built per call, as without a cache.
const maxCached = 512

// cache is a map read without a lock (a new copy is stored for each entry
// added): its keys are few, and read on every call.
type cache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]*V]
	mu sync.Mutex
}

// get returns the value of k, building it with build the first time.
func (c *cache[K, V]) get(k K, build func() V) *V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	v := build()
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if have, ok := (*old)[k]; ok {
			return have
		}
		if len(*old) >= maxCached {
			return &v
		}
	}
	m := make(map[K]*V, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[k] = &v
	c.m.Store(&m)
	return &v
}

func lenOf[K comparable, V any](m *map[K]*V) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// NewObserver returns a *deepvue.Observer that records traces and metrics
// (all four of its functions are set). Providers and propagators not given
// are the global ones at this call. With trace/noop's and metric/noop's
// providers, which record nothing, only StartAttempt is set: it puts the
// caller's trace context into the request, as a no-op span would.
func NewObserver(opts ...Option) *deepvue.Observer {
	cfg := config{}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	if cfg.props == nil {
		cfg.props = otel.GetTextMapPropagator()
	}
	meter := cfg.mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version),
		metric.WithSchemaURL(semconv.SchemaURL))
	o := &observer{
		tracer: cfg.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version),
			trace.WithSchemaURL(semconv.SchemaURL)),
		props: cfg.props,
	}
	// trace/noop's tracer makes spans that record nothing and carry their
	// parent's span context: starting none is the same, for nothing.
	switch o.tracer.(type) {
	case tracenoop.Tracer, *tracenoop.Tracer:
		o.noSpans = true
	}
	// A failure to create an instrument leaves a no-op one: recording must
	// never fail a KYC call.
	o.duration, _ = httpconv.NewClientRequestDuration(meter)
	o.callDur, _ = meter.Float64Histogram(CallDurationMetric, metric.WithUnit("s"),
		metric.WithDescription("Duration of deepvue-go SDK calls, rate-limiter wait and retries included, by operation and outcome."),
		metric.WithExplicitBucketBoundaries(callDurationBounds...))
	o.calls, _ = meter.Int64Counter(CallsMetric, metric.WithUnit("{call}"),
		metric.WithDescription("Calls of the deepvue-go SDK, by operation and outcome."))
	if o.noSpans {
		switch meter.(type) {
		case metricnoop.Meter, *metricnoop.Meter:
			// Nothing records: the SDK skips what it would tell the
			// other three (a call's result, each attempt's).
			return &deepvue.Observer{StartAttempt: o.StartAttempt}
		}
	}
	return &deepvue.Observer{StartCall: o.StartCall, StartAttempt: o.StartAttempt, EndAttempt: o.EndAttempt, EndCall: o.EndCall}
}

// StartCall starts the call's span, a child of the caller's.
func (o *observer) StartCall(ctx context.Context, c deepvue.CallInfo) context.Context {
	if o.noSpans {
		return ctx
	}
	st := o.callStarts.get(c, func() spanStart {
		attrs := []attribute.KeyValue{OperationKey.String(c.Operation),
			semconv.ServerAddress(c.ServerAddress), semconv.ServerPort(c.ServerPort)}
		if c.Tenant != "" {
			attrs = append(attrs, TenantKey.String(c.Tenant))
		}
		return spanStart{name: "deepvue " + c.Operation,
			opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}}
	})
	ctx, _ = o.tracer.Start(ctx, st.name, st.opts...)
	return ctx
}

// StartAttempt starts the attempt's span and puts its trace context into
// the request's headers.
func (o *observer) StartAttempt(ctx context.Context, a deepvue.AttemptInfo, header http.Header) context.Context {
	if o.noSpans {
		o.props.Inject(ctx, propagation.HeaderCarrier(header)) // the caller's trace context, as a no-op span carries it
		return ctx
	}
	st := o.attemptStart(a)
	sctx, span := o.tracer.Start(ctx, st.name, st.opts...)
	if !span.IsRecording() {
		if parent := trace.SpanFromContext(ctx); !parent.IsRecording() && sameSpan(span.SpanContext(), parent.SpanContext()) {
			// A span that records nothing and carries the call's span
			// context (no-op providers): the request keeps the call's
			// context, which propagates the same trace context.
			sctx = ctx
		}
	}
	o.props.Inject(sctx, propagation.HeaderCarrier(header))
	return sctx
}

// sameSpan reports whether a and b identify the same span (or are both
// invalid): a tracer that returns its parent's span context made no span.
func sameSpan(a, b trace.SpanContext) bool {
	return a.SpanID() == b.SpanID() && a.TraceID() == b.TraceID()
}

// attemptStart returns the span name, start options and url.template of
// an attempt.
func (o *observer) attemptStart(a deepvue.AttemptInfo) *attemptStart {
	return o.attemptStarts.get(attemptKey{a.CallInfo, a.Method, a.URL, a.Attempt}, func() attemptStart {
		path := urlTemplate(a.URL)
		attrs := []attribute.KeyValue{
			semconv.HTTPRequestMethodKey.String(a.Method),
			semconv.ServerAddress(a.ServerAddress),
			semconv.ServerPort(a.ServerPort),
			semconv.URLFull(a.URL), // every query value is REDACTED
			semconv.URLTemplate(path),
			OperationKey.String(a.Operation),
		}
		if a.Tenant != "" {
			attrs = append(attrs, TenantKey.String(a.Tenant))
		}
		if a.Attempt > 1 {
			// The SDK resends only after a 500 SOURCE_FAILURE: attempt n is resend n-1.
			attrs = append(attrs, semconv.HTTPRequestResendCount(a.Attempt-1))
		}
		return attemptStart{spanStart: spanStart{name: a.Method + " " + path,
			opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}},
			template: path}
	})
}

// urlTemplate is the path of a redacted URL: the endpoint's fixed path
// (with the base URL's prefix, if any), never a query. It is parsed once
// per URL (attemptStart's cache).
func urlTemplate(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		return u.Path
	}
	return "/"
}

// EndAttempt ends the attempt's span and records its duration, with
// url.template (the endpoint's path) among the metric's attributes. A span
// that does not record gets no attributes.
func (o *observer) EndAttempt(ctx context.Context, a deepvue.AttemptInfo, r deepvue.AttemptResult) {
	var errType string
	switch {
	case r.StatusCode >= 400:
		errType = strconv.Itoa(r.StatusCode) // the semantic conventions' error.type for an HTTP error status
	case r.Outcome != "ok":
		errType = r.Outcome
	}
	if !o.noSpans {
		o.endAttemptSpan(trace.SpanFromContext(ctx), r, errType)
	}
	h := o.duration.Inst()
	if !h.Enabled(ctx) {
		return
	}
	opt := o.attemptRecs.get(attemptRecKey{info: a.CallInfo, method: a.Method, url: a.URL, status: r.StatusCode, errType: errType},
		func() []metric.RecordOption {
			attrs := []attribute.KeyValue{
				semconv.HTTPRequestMethodKey.String(a.Method),
				semconv.ServerAddress(a.ServerAddress),
				semconv.ServerPort(a.ServerPort),
				semconv.URLTemplate(o.attemptStart(a).template),
			}
			if a.Tenant != "" {
				attrs = append(attrs, TenantKey.String(a.Tenant))
			}
			if r.StatusCode != 0 {
				attrs = append(attrs, semconv.HTTPResponseStatusCode(r.StatusCode))
			}
			if errType != "" {
				attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
			}
			return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
		})
	h.Record(ctx, r.Duration.Seconds(), *opt...)
}

// endAttemptSpan sets the attempt's result on its span, if it records, and
// ends it.
func (o *observer) endAttemptSpan(span trace.Span, r deepvue.AttemptResult, errType string) {
	if span.IsRecording() {
		spanAttrs := make([]attribute.KeyValue, 0, 7)
		if r.StatusCode != 0 {
			spanAttrs = append(spanAttrs, semconv.HTTPResponseStatusCode(r.StatusCode))
		}
		if errType != "" {
			spanAttrs = append(spanAttrs, semconv.ErrorTypeKey.String(errType))
		}
		spanAttrs = append(spanAttrs, OutcomeKey.String(r.Outcome), MaybeSentKey.Bool(r.MaybeSent), ResponseSizeKey.Int64(r.ResponseBytes))
		if r.SubCode != "" {
			spanAttrs = append(spanAttrs, SubCodeKey.String(r.SubCode))
		}
		if r.TransactionID != "" {
			spanAttrs = append(spanAttrs, TransactionIDKey.String(r.TransactionID))
		}
		span.SetAttributes(spanAttrs...)
		if errType != "" {
			span.SetStatus(codes.Error, r.Outcome) // a fixed name, never an error's text
		}
	}
	span.End()
}

// EndCall ends the call's span, counts the call and records its duration.
// A span that does not record gets no attributes.
func (o *observer) EndCall(ctx context.Context, c deepvue.CallInfo, r deepvue.CallResult) {
	state := ""
	if c.Operation == "generate-otp" {
		state = r.OTPState.String()
	}
	if !o.noSpans {
		o.endCallSpan(trace.SpanFromContext(ctx), r, state)
	}
	countOn, durOn := o.calls.Enabled(ctx), o.callDur.Enabled(ctx)
	if !countOn && !durOn {
		return
	}
	m := o.callRecs.get(callRecKey{info: c, outcome: r.Outcome, joined: r.Joined, otpState: state}, func() callMeasure {
		counted := []attribute.KeyValue{OperationKey.String(c.Operation), OutcomeKey.String(r.Outcome)}
		if c.Tenant != "" {
			counted = append(counted, TenantKey.String(c.Tenant)) // on the span since StartCall
		}
		timed := attribute.NewSet(counted...)
		if r.Joined {
			counted = append(counted, JoinedKey.Bool(true))
		}
		if state != "" {
			counted = append(counted, OTPStateKey.String(state))
		}
		return callMeasure{count: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(counted...))},
			dur: []metric.RecordOption{metric.WithAttributeSet(timed)}}
	})
	if countOn {
		o.calls.Add(ctx, 1, m.count...)
	}
	if durOn {
		o.callDur.Record(ctx, r.Duration.Seconds(), m.dur...)
	}
}

// endCallSpan sets the call's result on its span, if it records, and ends
// it.
func (o *observer) endCallSpan(span trace.Span, r deepvue.CallResult, state string) {
	if span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 10)
		attrs = append(attrs, OutcomeKey.String(r.Outcome), AttemptsKey.Int(r.Attempts), MaybeSentKey.Bool(r.MaybeSent))
		if r.StatusCode != 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(r.StatusCode))
		}
		if r.SubCode != "" {
			attrs = append(attrs, SubCodeKey.String(r.SubCode))
		}
		if r.TransactionID != "" {
			attrs = append(attrs, TransactionIDKey.String(r.TransactionID))
		}
		if r.LimiterWait > 0 {
			attrs = append(attrs, LimiterWaitKey.Int64(r.LimiterWait.Milliseconds()))
		}
		if r.Outcome != "ok" {
			attrs = append(attrs, semconv.ErrorTypeKey.String(r.Outcome))
		}
		if r.Joined {
			attrs = append(attrs, JoinedKey.Bool(true))
		}
		if state != "" {
			attrs = append(attrs, OTPStateKey.String(state))
		}
		span.SetAttributes(attrs...)
	}
	if r.Outcome != "ok" {
		span.SetStatus(codes.Error, r.Outcome)
	}
	span.End()
}
