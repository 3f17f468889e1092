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

	"github.com/deepvue-go/deepvue"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
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
	props    propagation.TextMapPropagator
	duration httpconv.ClientRequestDuration
	callDur  metric.Float64Histogram
	calls    metric.Int64Counter
}

// NewObserver returns a *deepvue.Observer that records traces and metrics
// (all four of its functions are set). Providers and propagators not given
// are the global ones at this call.
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
	// A failure to create an instrument leaves a no-op one: recording must
	// never fail a KYC call.
	o.duration, _ = httpconv.NewClientRequestDuration(meter)
	o.callDur, _ = meter.Float64Histogram(CallDurationMetric, metric.WithUnit("s"),
		metric.WithDescription("Duration of deepvue-go SDK calls, rate-limiter wait and retries included, by operation and outcome."),
		metric.WithExplicitBucketBoundaries(callDurationBounds...))
	o.calls, _ = meter.Int64Counter(CallsMetric, metric.WithUnit("{call}"),
		metric.WithDescription("Calls of the deepvue-go SDK, by operation and outcome."))
	return &deepvue.Observer{StartCall: o.StartCall, StartAttempt: o.StartAttempt, EndAttempt: o.EndAttempt, EndCall: o.EndCall}
}

// StartCall starts the call's span, a child of the caller's.
func (o *observer) StartCall(ctx context.Context, c deepvue.CallInfo) context.Context {
	attrs := []attribute.KeyValue{OperationKey.String(c.Operation),
		semconv.ServerAddress(c.ServerAddress), semconv.ServerPort(c.ServerPort)}
	if c.Tenant != "" {
		attrs = append(attrs, TenantKey.String(c.Tenant))
	}
	ctx, _ = o.tracer.Start(ctx, "deepvue "+c.Operation, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrs...))
	return ctx
}

// StartAttempt starts the attempt's span and puts its trace context into
// the request's headers.
func (o *observer) StartAttempt(ctx context.Context, a deepvue.AttemptInfo, header http.Header) context.Context {
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
	ctx, _ = o.tracer.Start(ctx, a.Method+" "+path, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	o.props.Inject(ctx, propagation.HeaderCarrier(header))
	return ctx
}

// urlTemplate is the path of a redacted URL: the endpoint's fixed path
// (with the base URL's prefix, if any), never a query.
func urlTemplate(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		return u.Path
	}
	return "/"
}

// EndAttempt ends the attempt's span and records its duration, with
// url.template (the endpoint's path) among the metric's attributes.
func (o *observer) EndAttempt(ctx context.Context, a deepvue.AttemptInfo, r deepvue.AttemptResult) {
	span := trace.SpanFromContext(ctx)
	var errType string
	switch {
	case r.StatusCode >= 400:
		errType = strconv.Itoa(r.StatusCode) // the semantic conventions' error.type for an HTTP error status
	case r.Outcome != "ok":
		errType = r.Outcome
	}
	metricAttrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(a.Method),
		semconv.ServerAddress(a.ServerAddress),
		semconv.ServerPort(a.ServerPort),
		semconv.URLTemplate(urlTemplate(a.URL)),
	}
	if a.Tenant != "" {
		metricAttrs = append(metricAttrs, TenantKey.String(a.Tenant))
	}
	common := len(metricAttrs) // the attributes above, already on the span
	if r.StatusCode != 0 {
		metricAttrs = append(metricAttrs, semconv.HTTPResponseStatusCode(r.StatusCode))
	}
	if errType != "" {
		metricAttrs = append(metricAttrs, semconv.ErrorTypeKey.String(errType))
	}
	spanAttrs := append(metricAttrs[common:len(metricAttrs):len(metricAttrs)],
		OutcomeKey.String(r.Outcome), MaybeSentKey.Bool(r.MaybeSent), ResponseSizeKey.Int64(r.ResponseBytes))
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
	span.End()
	o.duration.Inst().Record(ctx, r.Duration.Seconds(), metric.WithAttributeSet(attribute.NewSet(metricAttrs...)))
}

// EndCall ends the call's span, counts the call and records its duration.
func (o *observer) EndCall(ctx context.Context, c deepvue.CallInfo, r deepvue.CallResult) {
	span := trace.SpanFromContext(ctx)
	attrs := []attribute.KeyValue{
		OutcomeKey.String(r.Outcome),
		AttemptsKey.Int(r.Attempts),
		MaybeSentKey.Bool(r.MaybeSent),
	}
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
		span.SetStatus(codes.Error, r.Outcome)
	}
	counted := []attribute.KeyValue{OperationKey.String(c.Operation), OutcomeKey.String(r.Outcome)}
	if c.Tenant != "" {
		counted = append(counted, TenantKey.String(c.Tenant)) // on the span since StartCall
	}
	timed := attribute.NewSet(counted...)
	if r.Joined {
		attrs = append(attrs, JoinedKey.Bool(true))
		counted = append(counted, JoinedKey.Bool(true))
	}
	if c.Operation == "generate-otp" {
		state := OTPStateKey.String(r.OTPState.String())
		attrs = append(attrs, state)
		counted = append(counted, state)
	}
	span.SetAttributes(attrs...)
	span.End()
	o.calls.Add(ctx, 1, metric.WithAttributes(counted...))
	o.callDur.Record(ctx, r.Duration.Seconds(), metric.WithAttributeSet(timed))
}
