package deepvue

import (
	"context"
	"fmt"
	"reflect"
)

// Misuse that must neither panic nor lose a call's result: a caller's
// AuditFunc that panics, a typed-nil value where an interface is expected.

// callAudit calls fn and turns a panic in it into an error, so that a
// panicking AuditFunc fails the consent record (nothing is sent) or the
// outcome record (the call's result stands, and the failure is reported
// through the logger and CallResult.AuditFailed) instead of unwinding the
// call and losing its result: the reference id of an OTP that went out.
func callAudit(fn AuditFunc, ctx context.Context, rec AuditRecord) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &auditPanic{value: clip(fmt.Sprint(p), 200)}
		}
	}()
	return fn(ctx, rec)
}

// auditPanic is the error of an AuditFunc that panicked. Its text holds the
// panic's value, clipped; the SDK scrubs it before it reaches a log record
// or an error.
type auditPanic struct{ value string }

func (e *auditPanic) Error() string { return "the AuditFunc panicked: " + e.value }

// isTypedNil reports whether v is an interface holding a nil pointer, func,
// map, slice or channel: a value whose methods may dereference nil.
func isTypedNil(v any) bool {
	if v == nil {
		return false
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}
