package privates3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/smithy-go"
)

// Sentinel errors. See the package documentation, section Errors.
var (
	ErrInvalidConfig       = errors.New("privates3: invalid config")
	ErrInvalidKey          = errors.New("privates3: invalid key")
	ErrInvalidOption       = errors.New("privates3: invalid option")
	ErrNotFound            = errors.New("privates3: object not found")
	ErrAccessDenied        = errors.New("privates3: access denied")
	ErrThrottled           = errors.New("privates3: throttled")
	ErrTimeout             = errors.New("privates3: upstream timeout")
	ErrCredentials         = errors.New("privates3: credentials unavailable")
	ErrUpstream            = errors.New("privates3: upstream failure")
	ErrClosed              = errors.New("privates3: client closed")
	ErrPreconditionFailed  = errors.New("privates3: precondition failed")
	ErrRangeNotSatisfiable = errors.New("privates3: range not satisfiable")

	// ErrUnauthorized makes a handler answer 401 Unauthorized instead of 403 Forbidden when
	// [HandlerOptions].Authorize returns it (or an error wrapping it): return it when the request
	// carries no or invalid credentials, and any other error when the credentials are valid but
	// not allowed to read the key.
	ErrUnauthorized = errors.New("privates3: unauthorized")
)

// errFetchTimeout is the cancellation cause of an upstream call that exceeded its own timeout
// (Config.FetchTimeout or Config.STSTimeout).
var errFetchTimeout = errors.New("privates3: upstream call timed out")

// codeKinds classifies the error codes of S3 and STS. Codes not listed are classified by their
// HTTP status (statusKind).
var codeKinds = map[string]error{
	"NoSuchKey": ErrNotFound, "NotFound": ErrNotFound, "NoSuchBucket": ErrNotFound,

	// S3 rejected the credentials: refresh them once and retry (see credentialCode).
	"ExpiredToken": ErrCredentials, "ExpiredTokenException": ErrCredentials, "InvalidToken": ErrCredentials,
	"InvalidAccessKeyId": ErrCredentials, "TokenRefreshRequired": ErrCredentials,
	"InvalidClientTokenId": ErrCredentials,

	"AccessDenied": ErrAccessDenied, "AccessDeniedException": ErrAccessDenied, "AllAccessDisabled": ErrAccessDenied,

	"SlowDown": ErrThrottled, "Throttling": ErrThrottled, "ThrottlingException": ErrThrottled,
	"RequestLimitExceeded": ErrThrottled, "TooManyRequests": ErrThrottled,
	"TooManyRequestsException": ErrThrottled, "RequestThrottled": ErrThrottled,
	"RequestThrottledException": ErrThrottled, "ServiceUnavailable": ErrThrottled,

	"InvalidRange":       ErrRangeNotSatisfiable,
	"PreconditionFailed": ErrPreconditionFailed,
	"RequestTimeout":     ErrTimeout,
}

// credentialCode reports whether code says that S3 rejected the request's credentials, so that
// they are renewed and the request retried once.
func credentialCode(code string) bool {
	return codeKinds[code] == ErrCredentials && code != "InvalidClientTokenId"
}

// statusKind classifies an HTTP status of an answer without a known error code.
func statusKind(status int) error {
	switch status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusForbidden:
		return ErrAccessDenied
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return ErrThrottled
	case http.StatusRequestedRangeNotSatisfiable:
		return ErrRangeNotSatisfiable
	case http.StatusPreconditionFailed:
		return ErrPreconditionFailed
	case http.StatusGatewayTimeout:
		return ErrTimeout
	}
	return nil
}

// opError is the error of one upstream operation. Its text is ours: the sentinel, the operation,
// its subject (the key or the role) and AWS's error code and HTTP status, never S3's message
// (which may quote signed headers). It wraps the sentinel and the cause.
type opError struct {
	kind    error
	op      string // "GetObject", "AssumeRole", ...
	subject string // the caller's key (quoted) or the role ARN
	detail  string
	cause   error
}

func (e *opError) Error() string {
	s := e.kind.Error() + ": " + e.op
	if e.subject != "" {
		s += " " + e.subject
	}
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

func (e *opError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// code returns the AWS error code of err and the HTTP status of its answer ("" and 0 if none).
func code(err error) (string, int) {
	var c string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		c = ae.ErrorCode()
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return c, re.HTTPStatusCode()
	}
	return c, 0
}

// upstreamError is the one place where failures of S3 and STS calls become the package's
// errors. err is the error of op on subject, made with ctx (the call's context: its cause says
// whether the call's own timeout or Close ended it). timeout is the call's own bound, for the
// text. STS messages (which never carry secrets) are kept; S3's are not.
func upstreamError(ctx context.Context, op, subject string, err error, timeout time.Duration) error {
	e := &opError{op: op, subject: subject, cause: err}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errFetchTimeout):
		e.kind, e.detail, e.cause = ErrTimeout, "no answer within "+timeout.String(), context.DeadlineExceeded
		return e
	case errors.Is(cause, ErrClosed):
		e.kind, e.cause = ErrClosed, nil
		return e
	case cause != nil: // the caller's own context
		return callerError(ctx, subject)
	}
	e.detail, e.kind = classify(op, err)
	if e.kind == ErrNotFound && op != "AssumeRole" {
		e.op, e.detail = "", "" // "privates3: object not found: "key""
	}
	return e
}

// classify returns the detail for the text of an error of op that is not its context's (AWS's
// code and HTTP status, and STS's message) and its sentinel.
func classify(op string, err error) (string, error) {
	// The credentials provider's errors carry their own sentinel (and may wrap STS's answer).
	for _, kind := range []error{ErrCredentials, ErrAccessDenied, ErrThrottled, ErrTimeout, ErrClosed, ErrInvalidOption} {
		if errors.Is(err, kind) {
			return err.Error(), kind
		}
	}
	c, status := code(err)
	if c == "" && status == 0 {
		if ne := net.Error(nil); errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return "network timeout", ErrTimeout
		}
		return err.Error(), ErrUpstream
	}
	kind := codeKinds[c]
	if kind == nil {
		kind = statusKind(status)
	}
	if kind == nil {
		kind = ErrUpstream
	}
	var ae smithy.APIError
	if op == "AssumeRole" && errors.As(err, &ae) {
		msg := ae.ErrorMessage()
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return c + ": " + msg, kind
	}
	return fmt.Sprintf("%s (HTTP %d)", c, status), kind
}

// notFoundError is the error of a key known not to exist.
func notFoundError(key string) error {
	return &opError{kind: ErrNotFound, subject: strconv.Quote(key)}
}

// callerError is the error of a caller whose ctx is done: ErrTimeout and the deadline for an
// expired deadline, else ctx's error.
func callerError(ctx context.Context, subject string) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return &opError{kind: ErrTimeout, op: "waiting for", subject: subject, detail: "caller's deadline exceeded", cause: err}
	}
	return fmt.Errorf("privates3: waiting for %s: %w", subject, err)
}

// HTTPStatus returns the HTTP status that the package's handlers answer err with: 400 for
// [ErrInvalidKey], 404 [ErrNotFound], 403 [ErrAccessDenied], 503 [ErrThrottled] and
// [ErrClosed], 504 [ErrTimeout], 412 [ErrPreconditionFailed], 416 [ErrRangeNotSatisfiable], 500
// [ErrInvalidOption] and [ErrInvalidConfig] (the server's options, not the client's request),
// 502 [ErrCredentials] (504 if STS hung, 503 if it throttled) and any other failure. It is the
// package's one table from errors to statuses; handlers built on a Client elsewhere (package
// pmtiles, a server's own) use it with [WriteError] to answer alike.
func HTTPStatus(err error) int {
	for _, k := range kinds {
		if !errors.Is(err, k.err) {
			continue
		}
		if k.err == ErrCredentials {
			// The Client has no valid credentials (STS refused, failed or hung): an upstream
			// failure, not the client's fault, whatever STS's own code was.
			switch {
			case errors.Is(err, ErrTimeout):
				return http.StatusGatewayTimeout
			case errors.Is(err, ErrThrottled):
				return http.StatusServiceUnavailable
			}
		}
		return k.status
	}
	return http.StatusBadGateway
}

// errorClass is the error.type attribute of a failed upstream call in the metrics (metrics.go):
// the sentinel err wraps, in snake case; "upstream" for any other failure, "" for nil.
func errorClass(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.class
		}
	}
	return "upstream"
}

// kinds is the package's one table of error kinds, in the order they are tested (the first that
// err wraps wins): the HTTP status a handler answers and the error.type attribute of a metric.
var kinds = []struct {
	err    error
	status int
	class  string
}{
	{ErrInvalidKey, http.StatusBadRequest, "invalid_key"},
	{ErrNotFound, http.StatusNotFound, "not_found"},
	{ErrCredentials, http.StatusBadGateway, "credentials"}, // see HTTPStatus
	{ErrAccessDenied, http.StatusForbidden, "access_denied"},
	{ErrThrottled, http.StatusServiceUnavailable, "throttled"},
	{ErrClosed, http.StatusServiceUnavailable, "closed"},
	{ErrInvalidOption, http.StatusInternalServerError, "invalid_option"}, // the server's options,
	{ErrInvalidConfig, http.StatusInternalServerError, "invalid_config"}, // not the client's request
	{ErrPreconditionFailed, http.StatusPreconditionFailed, "precondition_failed"},
	{ErrRangeNotSatisfiable, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable"},
	{ErrTimeout, http.StatusGatewayTimeout, "timeout"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
	{context.Canceled, http.StatusBadGateway, "canceled"},
}

// Fixed parts of error answers.
const (
	defaultChallenge  = "Bearer"
	retryAfterSeconds = "1"
	textPlain         = "text/plain; charset=utf-8"
)

// WriteError writes an error answer of status: its standard text as a plain-text body (never an
// error's text, which may name keys and AWS codes), Cache-Control: no-store, and Retry-After with
// a 503.
func WriteError(w http.ResponseWriter, status int) {
	hdr := w.Header()
	if status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", retryAfterSeconds)
	}
	hdr.Set("Content-Type", textPlain)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, http.StatusText(status)+"\n")
}

// WriteDenied answers a request that an authorization hook refused with err: 401 Unauthorized
// with the WWW-Authenticate header challenge ("Bearer" if empty) if err is or wraps
// [ErrUnauthorized] (no or invalid credentials), else 403 Forbidden (valid credentials, not
// allowed). The body is WriteError's:
// err's text is never sent. The package's handlers, pmtiles' and cloudfront's answer their
// Authorize hooks with it.
func WriteDenied(w http.ResponseWriter, err error, challenge string) {
	if errors.Is(err, ErrUnauthorized) {
		if challenge == "" {
			challenge = defaultChallenge
		}
		w.Header().Set("WWW-Authenticate", challenge)
		WriteError(w, http.StatusUnauthorized)
		return
	}
	WriteError(w, http.StatusForbidden)
}
