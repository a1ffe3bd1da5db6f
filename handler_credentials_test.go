package privates3_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// When the Client's credentials expired and STS refuses or hangs, the handler answers as for any
// upstream failure (502, or 504 for a timeout): the client did nothing wrong, so never 403, and
// never STS's message or a secret.
func TestHandlerCredentialsUnavailable(t *testing.T) {
	tests := []struct {
		name  string
		fault privates3test.Fault
		want  int
	}{
		{"sts denies", privates3test.Fault{Op: privates3test.OpAssumeRole, Status: http.StatusForbidden, Code: "AccessDenied"}, http.StatusBadGateway},
		{"sts fails", privates3test.Fault{Op: privates3test.OpAssumeRole, Status: http.StatusInternalServerError, Code: "InternalFailure"}, http.StatusBadGateway},
		{"sts hangs", privates3test.Fault{Op: privates3test.OpAssumeRole, Hang: true}, http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHandlerEnv(t, nil, func(cfg *privates3.Config) {
				cfg.STSTimeout = 500 * time.Millisecond
				cfg.AWS.Retryer = hNoRetries
			})
			e.srv.PutObject(bucket, "a.txt", []byte("hello"))
			if resp := e.do(t, http.MethodGet, "a.txt", nil); resp.status != http.StatusOK {
				t.Fatalf("before expiry: status %d, want 200", resp.status)
			}
			e.srv.InjectFault(tt.fault)
			// The session token expires on the fake's clock: S3 answers ExpiredToken, the Client
			// forces a refresh, and STS fails it.
			e.srv.Advance(2 * time.Hour)
			e.srv.PutObject(bucket, "b.txt", []byte("world"))
			resp := e.do(t, http.MethodGet, "b.txt", nil)
			if resp.status != tt.want {
				t.Fatalf("status %d, want %d (body %q)", resp.status, tt.want, resp.body)
			}
			if want := http.StatusText(tt.want) + "\n"; string(resp.body) != want {
				t.Errorf("body %q, want the fixed text %q", resp.body, want)
			}
			hCheckClean(t, e.srv, resp)
			if logs := e.logs.String(); strings.Contains(logs, e.srv.BaseCredentials().SecretAccessKey) {
				t.Errorf("log contains the base secret key:\n%s", logs)
			}
		})
	}
}
