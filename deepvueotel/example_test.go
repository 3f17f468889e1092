package deepvueotel_test

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueotel"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// A Client that reports spans and metrics to OpenTelemetry. In a service,
// pass your own providers (or set the global ones) and drop deepvuetest.
func ExampleNewObserver() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider()
	defer mp.Shutdown(context.Background())
	defer tp.Shutdown(context.Background())

	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithObserver(deepvueotel.NewObserver(
			deepvueotel.WithMeterProvider(mp), deepvueotel.WithTracerProvider(tp))))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	ctx := context.Background()
	otp, err := client.GenerateOTP(ctx, deepvuetest.NewNumber(), deepvue.ConsentYes, "Loan onboarding KYC")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.VerifyOTP(ctx, deepvue.VerifyOTPRequest{ReferenceID: otp.ReferenceID, OTP: deepvuetest.OTPValid,
		Consent: deepvue.ConsentYes, Purpose: "Loan onboarding KYC"})
	fmt.Println("verify:", deepvue.Outcome(err))

	// What was recorded: each metric, and the main attributes of each series.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var series []string
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					series = append(series, attrs(p.Attributes.ToSlice()))
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					series = append(series, attrs(p.Attributes.ToSlice()))
				}
			}
			sort.Strings(series)
			fmt.Printf("%s (%s)\n", m.Name, m.Unit)
			for _, s := range series {
				fmt.Println("  ", s)
			}
		}
	}
	// Output:
	// verify: ok
	// http.client.request.duration (s)
	//    http.response.status_code=200 url.template=/v2/ekyc/aadhaar/generate-otp
	//    http.response.status_code=200 url.template=/v2/ekyc/aadhaar/verify-otp
	// deepvue.client.call.duration (s)
	//    deepvue.operation=generate-otp deepvue.outcome=ok
	//    deepvue.operation=verify-otp deepvue.outcome=ok
	// deepvue.client.calls ({call})
	//    deepvue.operation=generate-otp deepvue.outcome=ok
	//    deepvue.operation=verify-otp deepvue.outcome=ok
}

// attrs prints the main attributes of a series (not the fake's random
// port, for one).
func attrs(kvs []attribute.KeyValue) string {
	var parts []string
	for _, a := range kvs {
		switch a.Key {
		case "deepvue.operation", "deepvue.outcome", "url.template", "http.response.status_code":
			parts = append(parts, string(a.Key)+"="+a.Value.String())
		}
	}
	return strings.Join(parts, " ")
}
