package cloudfront

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privates3/privates3/privates3test"
)

// edgeSetup is a fake bucket behind a fake edge that trusts the Signer's keys; the Signer runs
// on the fake's clock.
type edgeSetup struct {
	srv  *privates3test.Server
	edge *privates3test.Edge
	s    *Signer
}

func newEdgeSetup(t *testing.T, tiles int) *edgeSetup {
	t.Helper()
	srv := privates3test.NewServer()
	t.Cleanup(srv.Close)
	for i := range tiles {
		srv.PutObject("tiles", fmt.Sprintf("tiles/3/%d/2.png", i), []byte(fmt.Sprintf("tile %d", i)),
			privates3test.ContentType("image/png"), privates3test.CacheControl("public, max-age=3600"))
	}
	srv.PutObject("tiles", "private/secret.txt", []byte("secret"))
	s, _ := newTestSigner(t, t0)
	s.now = srv.Now
	edge := privates3test.NewEdge(privates3test.EdgeConfig{PublicKeys: s.PublicKeys(), Origin: privates3test.OACOrigin(srv, "tiles"), Clock: srv.Now})
	t.Cleanup(edge.Close)
	return &edgeSetup{srv: srv, edge: edge, s: s}
}

func (e *edgeSetup) status(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(e.edge.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestEdgeOneCookieManyClients: N browser-like clients (each with a cookie jar) that got their
// cookies from the cookie handler load M tiles concurrently: M origin requests in all.
func TestEdgeOneCookieManyClients(t *testing.T) {
	const clients, tiles = 8, 12
	e := newEdgeSetup(t, tiles)
	h, err := e.s.CookieHandler(CookieHandlerOptions{Cookie: CookieOptions{Resource: e.edge.URL + "/tiles/*", Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	// The application: on 127.0.0.1 like the edge; cookies ignore ports, so its host-only
	// cookies reach the edge.
	app := httptest.NewServer(h)
	defer app.Close()
	values := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, clients*tiles)
	for range clients {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Post(app.URL+"/cookies", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(e.edge.URL)
		var vs []string
		for _, ck := range jar.Cookies(u) {
			vs = append(vs, ck.Name+"="+ck.Value)
		}
		if len(vs) != 3 {
			t.Fatalf("the jar sends %d cookies to the edge", len(vs))
		}
		mu.Lock()
		values[strings.Join(vs, ";")] = true
		mu.Unlock()
		for i := range tiles {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := c.Get(fmt.Sprintf("%s/tiles/3/%d/2.png", e.edge.URL, i))
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(b) != fmt.Sprintf("tile %d", i) {
					errs <- fmt.Errorf("tile %d: %d %q", i, resp.StatusCode, b)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(values) != 1 {
		t.Fatalf("%d clients got %d distinct cookie values", clients, len(values))
	}
	st := e.edge.Stats()
	if st.OriginRequests != tiles || e.srv.Count(privates3test.OpGetObject) != tiles {
		t.Fatalf("%d origin requests, %d S3 GETs for %d clients x %d tiles; want %d", st.OriginRequests, e.srv.Count(privates3test.OpGetObject), clients, tiles, tiles)
	}
	if st.Hits+st.Misses != clients*tiles {
		t.Fatalf("stats %+v", st)
	}
}

func TestEdgeCookieScopeAndExpiry(t *testing.T) {
	e := newEdgeSetup(t, 1)
	c, err := e.s.SignCookies(CookieOptions{Resource: e.edge.URL + "/tiles/*", Expiry: time.Hour, Window: 5 * time.Minute, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(e.edge.URL)
	jar.SetCookies(u, c.Cookies)
	client := &http.Client{Jar: jar}
	if code, body := e.status(t, client, "/tiles/3/0/2.png"); code != 200 || body != "tile 0" {
		t.Fatalf("tile: %d %q", code, body)
	}
	if code, body := e.status(t, client, "/private/secret.txt"); code != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Fatalf("/private with a /tiles/* cookie: %d %q", code, body)
	}
	if e.srv.CountKey(privates3test.OpGetObject, "private/secret.txt") != 0 {
		t.Fatal("the refused request reached S3")
	}
	// Just before the exact deadline it works (uncached path), at the deadline it does not.
	e.srv.Advance(c.Expires.Sub(e.srv.Now()) - 2*time.Second)
	e.edge.Purge()
	if code, _ := e.status(t, client, "/tiles/3/0/2.png"); code != 200 {
		t.Fatalf("2s before Expires: %d", code)
	}
	e.srv.Advance(2 * time.Second)
	if code, body := e.status(t, client, "/tiles/3/0/2.png"); code != 403 {
		t.Fatalf("at Expires: %d %q", code, body)
	}
}

// TestEdgeSignedURLsAndRotation: URLs from SignURL (canned, wildcard, IP) pass the edge, one
// byte changed does not; after a key rotation old and new URLs work while the group trusts
// both, and old ones stop when the old key leaves the group.
func TestEdgeSignedURLsAndRotation(t *testing.T) {
	e := newEdgeSetup(t, 2)
	tile := e.edge.URL + "/tiles/3/0/2.png"
	sign := func(o *URLOptions) string {
		u, err := e.s.SignURL(tile, o)
		if err != nil {
			t.Fatal(err)
		}
		return u.URL
	}
	get := func(u string) int {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	urls := map[string]int{
		sign(nil): 200,
		sign(&URLOptions{Resource: e.edge.URL + "/tiles/*"}):                            200,
		sign(&URLOptions{IPAddress: "127.0.0.1"}):                                       200,
		sign(&URLOptions{IPAddress: "192.0.2.0/24"}):                                    403,
		sign(&URLOptions{NotBefore: e.srv.Now().Add(10 * time.Minute)}):                 403,
		sign(&URLOptions{Custom: true, NotBefore: e.srv.Now().Add(-time.Minute)}):       200,
		strings.Replace(sign(nil), "/3/0/2.png", "/3/1/2.png", 1):                       403,
		strings.Replace(sign(&URLOptions{Custom: true}), "Policy=eyJ", "Policy=eyK", 1): 403,
	}
	for u, want := range urls {
		if got := get(u); got != want {
			t.Errorf("%s: %d, want %d", u, got, want)
		}
	}
	old := sign(nil)
	if err := e.s.SetCurrent(keyB); err != nil {
		t.Fatal(err)
	}
	fresh := sign(nil)
	if get(old) != 200 || get(fresh) != 200 || old == fresh {
		t.Fatal("during rotation both keys' URLs must work")
	}
	pub := e.s.PublicKeys()
	delete(pub, keyA)
	if err := e.edge.SetPublicKeys(pub); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(old)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "<Code>InvalidKey</Code>") || get(fresh) != 200 {
		t.Fatalf("after removing key A: old %d %s", resp.StatusCode, b)
	}
}
