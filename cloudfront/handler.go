package cloudfront

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/privates3/privates3"
)

// DefaultReissueBelow is the part of the cookies' life below which [Signer.CookieHandler]
// reissues them when CookieHandlerOptions.ReissueBelow is zero.
const DefaultReissueBelow = 0.5

// CookieHandlerOptions configures [Signer.CookieHandler].
type CookieHandlerOptions struct {
	// Cookie is what the handler issues: the resource pattern, expiry, window and attributes.
	// Cookie.Resource is required.
	Cookie CookieOptions
	// Authorize, if not nil, is called with every request before anything is signed, like
	// privates3.HandlerOptions.Authorize: an error refuses the request with 401 Unauthorized
	// (and the Challenge header) if it wraps privates3.ErrUnauthorized, else 403 Forbidden. The
	// error's text is not sent to the client. If nil, every request gets cookies.
	Authorize func(r *http.Request) error
	// Challenge is the WWW-Authenticate header of 401 answers. If empty, `Bearer`.
	Challenge string
	// ReissueBelow is the part of the cookies' life (Cookie.Expiry) below which the handler
	// replaces valid cookies the request carries: with 0.5 and a 1h expiry, a page that calls
	// the handler gets new cookies once the ones it has have less than 30 minutes left. Cookies
	// that are missing, not valid signatures of the Signer's current key, or for other options
	// are always replaced. It must be between 0 and 1 (exclusive). If zero,
	// DefaultReissueBelow (0.5).
	ReissueBelow float64
	// Logger receives a line when signing fails (never a key or cookie value). If nil,
	// slog.Default().
	Logger *slog.Logger
}

// CookieStatus is the JSON body of the cookie handler's answers, for the page to schedule its
// next call.
type CookieStatus struct {
	// Expires is when CloudFront stops accepting the cookies the browser now holds.
	Expires time.Time `json:"expires"`
	// Refresh is when the handler will start reissuing them: call it again at that time.
	Refresh time.Time `json:"refresh"`
	// Issued reports whether this answer set new cookies.
	Issued bool `json:"issued"`
}

// CookieHandler returns a handler that gives authorized callers the signed cookies of
// opts.Cookie. It answers GET, HEAD and POST (405 with Allow otherwise) with 200, a
// [CookieStatus] JSON body and Cache-Control: no-store; it sets the cookies (Set-Cookie) unless
// the request already carries valid ones from the current key with at least ReissueBelow of
// their life left. Mount it on the application's origin, with CookieOptions.Domain covering the
// distribution's host. Invalid options are an error wrapping [ErrInvalidOption].
func (s *Signer) CookieHandler(opts CookieHandlerOptions) (http.Handler, error) {
	if err := cookieAttrs(opts.Cookie); err != nil {
		return nil, err
	}
	t, err := windowAt(s.now(), opts.Cookie.Expiry, opts.Cookie.Window, "CookieHandlerOptions.Cookie")
	if err != nil {
		return nil, err
	}
	if _, err := parseConditions(opts.Cookie.NotBefore, opts.Cookie.IPAddress, t.deadline, "CookieHandlerOptions.Cookie"); err != nil {
		return nil, err
	}
	if opts.ReissueBelow == 0 {
		opts.ReissueBelow = DefaultReissueBelow
	}
	if !(opts.ReissueBelow > 0 && opts.ReissueBelow < 1) {
		return nil, fmt.Errorf("%w: CookieHandlerOptions.ReissueBelow must be between 0 and 1 (got %v)", ErrInvalidOption, opts.ReissueBelow)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &cookieHandler{s: s, opts: opts, margin: time.Duration(opts.ReissueBelow * float64(t.expiry))}, nil
}

type cookieHandler struct {
	s      *Signer
	opts   CookieHandlerOptions
	margin time.Duration // reissue when less than this is left
}

func (h *cookieHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		privates3.WriteError(w, http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if h.opts.Authorize != nil {
		if err := h.opts.Authorize(r); err != nil {
			privates3.WriteDenied(w, err, h.opts.Challenge)
			return
		}
	}
	now := h.s.now()
	st := CookieStatus{}
	if exp, ok := h.held(r, now); ok && exp.Sub(now) >= h.margin {
		st.Expires = exp
	} else {
		c, err := h.s.signCookies(h.opts.Cookie, now)
		if err != nil {
			// Options were checked in CookieHandler, so this is the key (an HSM or KMS signer).
			h.opts.Logger.Error("cloudfront: cookie signing failed", "key_id", h.s.KeyID(), "err", err)
			privates3.WriteError(w, http.StatusServiceUnavailable)
			return
		}
		for _, ck := range c.Cookies {
			http.SetCookie(w, ck)
		}
		st.Expires, st.Issued = c.Expires, true
	}
	st.Refresh = st.Expires.Add(-h.margin)
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(st)
}

// signedPolicy returns the policy of r's cookies if the current key signed them.
func (h *cookieHandler) signedPolicy(r *http.Request) ([]byte, bool) {
	get := func(name string) string {
		c, err := r.Cookie(name)
		if err != nil {
			return ""
		}
		return c.Value
	}
	k := h.s.current.Load()
	if get(CookieKeyPairID) != k.ID {
		return nil, false
	}
	pol, err1 := decodeAWS64(get(CookiePolicy))
	sig, err2 := decodeAWS64(get(CookieSignature))
	pub, ok := k.Signer.Public().(*rsa.PublicKey)
	if err1 != nil || err2 != nil || !ok {
		return nil, false
	}
	sum := sha1.Sum(pol)
	return pol, rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig) == nil
}

// held returns the deadline of the signed cookies r carries if they are a valid signature by
// the current key of a policy for exactly the handler's options.
func (h *cookieHandler) held(r *http.Request, now time.Time) (time.Time, bool) {
	pol, ok := h.signedPolicy(r)
	if !ok {
		return time.Time{}, false
	}
	var p struct {
		Statement []struct {
			Resource  string
			Condition struct {
				DateLessThan    *epoch
				DateGreaterThan *epoch
				IpAddress       *struct {
					SourceIP string `json:"AWS:SourceIp"`
				}
			}
		}
	}
	if json.Unmarshal(pol, &p) != nil || len(p.Statement) != 1 {
		return time.Time{}, false
	}
	st := p.Statement[0]
	o := h.opts.Cookie
	if st.Resource != o.Resource || st.Condition.DateLessThan == nil {
		return time.Time{}, false
	}
	want, _ := parseConditions(o.NotBefore, o.IPAddress, st.Condition.DateLessThan.t(), "")
	var got conditions
	if st.Condition.DateGreaterThan != nil {
		got.notBefore = st.Condition.DateGreaterThan.t()
	}
	if st.Condition.IpAddress != nil {
		got.ip = st.Condition.IpAddress.SourceIP
	}
	if got.ip != want.ip || !got.notBefore.Equal(want.notBefore) {
		return time.Time{}, false
	}
	exp := st.Condition.DateLessThan.t()
	if !exp.After(now) {
		return time.Time{}, false
	}
	return exp, true
}

// epoch is a policy time, {"AWS:EpochTime": seconds}.
type epoch struct {
	Sec int64 `json:"AWS:EpochTime"`
}

func (e *epoch) t() time.Time { return time.Unix(e.Sec, 0).UTC() }

// decodeAWS64 decodes CloudFront's URL-safe base64 (- for +, _ for =, ~ for /).
func decodeAWS64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.StdEncoding.DecodeString(strings.NewReplacer("-", "+", "_", "=", "~", "/").Replace(s))
}
