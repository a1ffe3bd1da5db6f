package privates3test_test

import (
	"crypto"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/privates3/privates3/privates3test"
)

// FuzzEdgeRequest sends arbitrary queries and cookies to the edge: it never panics, never lets
// an unsigned request through, and answers refusals with CloudFront's XML error.
func FuzzEdgeRequest(f *testing.F) {
	f.Add("Expires=1&Signature=AAAA&Key-Pair-Id="+edgeKeyID, "")
	f.Add("Policy=eyJTdGF0ZW1lbnQiOltdfQ__&Signature=~~&Key-Pair-Id="+edgeKeyID, "")
	f.Add("", "CloudFront-Policy=e30_; CloudFront-Signature=AA; CloudFront-Key-Pair-Id="+edgeKeyID)
	f.Add("a=1&Key-Pair-Id=&Hash-Algorithm=SHA256", "CloudFront-Expires=x")
	f.Add("Key-Pair-Id=%zz", "")
	origin := &staticOrigin{}
	e := privates3test.NewEdge(privates3test.EdgeConfig{
		PublicKeys: map[string]crypto.PublicKey{edgeKeyID: edgeKey().Public()},
		Origin:     origin,
	})
	f.Cleanup(e.Close)
	f.Fuzz(func(t *testing.T, query, cookie string) {
		if strings.ContainsAny(query, " #\r\n\x00") {
			return
		}
		r, err := http.NewRequest(http.MethodGet, "http://edge.test/tiles/a.png?"+query, nil)
		if err != nil {
			return
		}
		r.RemoteAddr = "127.0.0.1:1234"
		r.RequestURI = "/tiles/a.png?" + query
		r.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		e.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusForbidden || !strings.HasPrefix(w.Body.String(), `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`) {
			t.Fatalf("query %q cookie %q: %d %q", query, cookie, w.Code, w.Body)
		}
	})
}
