package cloudfront

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3"
)

func TestSignCookiesAttributes(t *testing.T) {
	s, _ := newTestSigner(t, t0)
	res := "https://tiles.example.com/tiles/*"
	c, err := s.SignCookies(CookieOptions{Resource: res, Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Cookies) != 3 || c.KeyID != keyA {
		t.Fatalf("cookies %v, key %s", c.Cookies, c.KeyID)
	}
	for i, name := range []string{CookiePolicy, CookieSignature, CookieKeyPairID} {
		ck := c.Cookies[i]
		line := ck.String()
		if ck.Name != name || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "example.com" || !ck.Expires.IsZero() {
			t.Errorf("cookie %d: %s", i, line)
		}
		if ck.Valid() != nil {
			t.Errorf("cookie %s not valid: %v", name, ck.Valid())
		}
	}
	c, err = s.SignCookies(CookieOptions{Resource: res, Path: "/tiles", Insecure: true, ScriptReadable: true, SameSite: http.SameSiteStrictMode, Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	ck := c.Cookies[0]
	if ck.Secure || ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/tiles" || !ck.Expires.Equal(c.Expires) {
		t.Fatalf("options not applied: %s", ck)
	}
	for _, o := range []CookieOptions{
		{},
		{Resource: "tiles/*"},
		{Resource: res, SameSite: http.SameSiteNoneMode, Insecure: true},
		{Resource: res, Domain: "exa mple.com"},
		{Resource: res, Path: "tiles"},
		{Resource: res, Path: "/a;b"},
		{Resource: res, Expiry: time.Minute, Window: time.Hour},
		{Resource: res, IPAddress: "nope"},
	} {
		if _, err := s.SignCookies(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%+v: err = %v, want ErrInvalidOption", o, err)
		}
	}
}

// serveCookies calls h with the cookies and returns the status, the Set-Cookie cookies and the
// JSON status.
func serveCookies(t *testing.T, h http.Handler, method string, cookies []*http.Cookie) (int, []*http.Cookie, CookieStatus) {
	t.Helper()
	r := httptest.NewRequest(method, "https://app.example.com/cookies", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var st CookieStatus
	if w.Code == http.StatusOK && method != http.MethodHead {
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
			t.Fatalf("body %q: %v", w.Body, err)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", w.Header().Get("Cache-Control"))
		}
	}
	return w.Code, w.Result().Cookies(), st
}

func TestCookieHandler(t *testing.T) {
	s, clk := newTestSigner(t, t0)
	opts := CookieOptions{Resource: "https://tiles.example.com/tiles/*", Expiry: time.Hour, Window: 5 * time.Minute, Domain: "example.com"}
	h, err := s.CookieHandler(CookieHandlerOptions{Cookie: opts})
	if err != nil {
		t.Fatal(err)
	}
	code, set, st := serveCookies(t, h, http.MethodPost, nil)
	if code != http.StatusOK || len(set) != 3 || !st.Issued {
		t.Fatalf("first call: %d, %d cookies, %+v", code, len(set), st)
	}
	if !st.Refresh.Equal(st.Expires.Add(-30 * time.Minute)) {
		t.Fatalf("refresh %v, expires %v", st.Refresh, st.Expires)
	}
	// Within the refresh margin: the cookies the browser holds are kept.
	clk.advance(25 * time.Minute)
	code, again, st2 := serveCookies(t, h, http.MethodGet, set)
	if code != http.StatusOK || len(again) != 0 || st2.Issued || !st2.Expires.Equal(st.Expires) {
		t.Fatalf("second call: %d, %d cookies, %+v", code, len(again), st2)
	}
	// Less than half the life left: reissued with a later deadline.
	clk.set(st.Refresh.Add(time.Second))
	code, renewed, st3 := serveCookies(t, h, http.MethodGet, set)
	if code != http.StatusOK || len(renewed) != 3 || !st3.Issued || !st3.Expires.After(st.Expires) {
		t.Fatalf("near expiry: %d, %d cookies, %+v", code, len(renewed), st3)
	}
	// Tampered signature, another resource, missing cookies: replaced.
	bad := []*http.Cookie{renewed[0], {Name: CookieSignature, Value: flip(renewed[1].Value)}, renewed[2]}
	if _, c, st := serveCookies(t, h, http.MethodGet, bad); len(c) != 3 || !st.Issued {
		t.Fatalf("tampered signature not replaced: %+v", st)
	}
	other, err := s.SignCookies(CookieOptions{Resource: "https://tiles.example.com/*", Expiry: time.Hour, Window: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, c, st := serveCookies(t, h, http.MethodGet, other.Cookies); len(c) != 3 || !st.Issued {
		t.Fatalf("cookies for another resource not replaced: %+v", st)
	}
	// Rotation: cookies of the old key are replaced by the new key's.
	if err := s.SetCurrent(keyB); err != nil {
		t.Fatal(err)
	}
	_, rotated, st4 := serveCookies(t, h, http.MethodGet, renewed)
	if len(rotated) != 3 || !st4.Issued || rotated[2].Value != keyB {
		t.Fatalf("after rotation: %v %+v", rotated, st4)
	}
	if code, _, _ := serveCookies(t, h, http.MethodPut, nil); code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", code)
	}
	if code, c, _ := serveCookies(t, h, http.MethodHead, nil); code != http.StatusOK || len(c) != 3 {
		t.Fatalf("HEAD: %d, %d cookies", code, len(c))
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func TestCookieHandlerAuthorize(t *testing.T) {
	s, _ := newTestSigner(t, t0)
	opts := CookieOptions{Resource: "https://tiles.example.com/tiles/*"}
	h, err := s.CookieHandler(CookieHandlerOptions{Cookie: opts, Challenge: `Basic realm="tiles"`, Authorize: func(r *http.Request) error {
		switch r.Header.Get("Authorization") {
		case "":
			return fmt.Errorf("no credentials: %w", privates3.ErrUnauthorized)
		case "Bearer good":
			return nil
		}
		return errors.New("secret reason never shown")
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		auth      string
		code      int
		challenge string
	}{{"", 401, `Basic realm="tiles"`}, {"Bearer bad", 403, ""}, {"Bearer good", 200, ""}} {
		r := httptest.NewRequest(http.MethodGet, "/cookies", nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		cookies := w.Result().Cookies()
		if w.Code != c.code || w.Header().Get("WWW-Authenticate") != c.challenge || (c.code != 200) != (len(cookies) == 0) || strings.Contains(w.Body.String(), "secret") {
			t.Errorf("%q: %d %q %d cookies %q", c.auth, w.Code, w.Header().Get("WWW-Authenticate"), len(cookies), w.Body)
		}
	}
	for _, o := range []CookieHandlerOptions{
		{},
		{Cookie: opts, ReissueBelow: 1},
		{Cookie: opts, ReissueBelow: -0.1},
		{Cookie: CookieOptions{Resource: opts.Resource, Window: -1}},
	} {
		if _, err := s.CookieHandler(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%+v: err = %v, want ErrInvalidOption", o, err)
		}
	}
}

// failingSigner is an RSA key whose signing fails, as a remote signer (KMS, HSM) may.
type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("hsm unavailable")
}

func TestCookieHandlerSigningFailureLogsNoSecrets(t *testing.T) {
	ks := testKeys()
	s, err := New(Config{Keys: []Key{{ID: keyA, Signer: failingSigner{ks[0]}}, {ID: keyB, Signer: ks[1]}}})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	opts := CookieOptions{Resource: "https://tiles.example.com/tiles/*"}
	h, err := s.CookieHandler(CookieHandlerOptions{Cookie: opts, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// The browser holds valid cookies of key B (not current): the handler must re-sign, fails.
	if err := s.SetCurrent(keyB); err != nil {
		t.Fatal(err)
	}
	good, err := s.SignCookies(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCurrent(keyA); err != nil {
		t.Fatal(err)
	}
	code, set, _ := serveCookies(t, h, http.MethodGet, good.Cookies)
	if code != http.StatusServiceUnavailable || len(set) != 0 {
		t.Fatalf("%d, %d cookies", code, len(set))
	}
	if !strings.Contains(logs.String(), "hsm unavailable") || !strings.Contains(logs.String(), keyA) {
		t.Fatalf("log %q does not say what failed", logs.String())
	}
	for _, c := range good.Cookies[:2] {
		if strings.Contains(logs.String(), c.Value[:20]) {
			t.Fatalf("log contains a cookie value: %q", logs.String())
		}
	}
}

// TestCookieHandlerConditions: cookies with IpAddress and DateGreaterThan are recognised as the
// handler's own (not reissued on every call).
func TestCookieHandlerConditions(t *testing.T) {
	s, _ := newTestSigner(t, t0)
	opts := CookieOptions{Resource: "https://tiles.example.com/tiles/*", IPAddress: "192.0.2.0/24", NotBefore: t0.Add(-time.Hour)}
	h, err := s.CookieHandler(CookieHandlerOptions{Cookie: opts})
	if err != nil {
		t.Fatal(err)
	}
	_, set, st := serveCookies(t, h, http.MethodPost, nil)
	if len(set) != 3 || !st.Issued {
		t.Fatalf("first call: %d cookies %+v", len(set), st)
	}
	if _, again, st := serveCookies(t, h, http.MethodPost, set); len(again) != 0 || st.Issued {
		t.Fatalf("second call reissued: %+v", st)
	}
}
