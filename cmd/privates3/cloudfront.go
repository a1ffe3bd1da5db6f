package main

// -mode cloudfront: the demo bucket behind a fake CloudFront edge (privates3test.Edge) that
// reads it with SigV4 as an Origin Access Control does and admits only requests with signed
// cookies, which this server issues (cloudfront.Signer.CookieHandler).

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/privates3/privates3/cloudfront"
	"github.com/privates3/privates3/privates3test"
)

const (
	// demoKeyID is the ID of the demo's key pair, generated at start-up and known only to this
	// process and its fake edge.
	demoKeyID = "KPRIVATES3DEMO"
	// demoEdgeMinTTL is the minimum TTL of the fake distribution's cache policy: the demo tiles
	// say "private, max-age=3600", which CloudFront caches only with a minimum TTL.
	demoEdgeMinTTL = time.Hour
	// cookiesPath is where the viewer gets its signed cookies.
	cookiesPath = "/cloudfront-cookies"
)

// cloudFrontDemo is the fake edge and the signer of -mode cloudfront.
type cloudFrontDemo struct {
	edge    *privates3test.Edge
	signer  *cloudfront.Signer
	cookies http.Handler
}

// startCloudFront starts the fake edge in front of the demo bucket on the host of the server's
// listener (cookies are per host, not per port, so the cookies this server sets reach the edge),
// with a new RSA-2048 key as its key group.
func (a *app) startCloudFront() (*cloudFrontDemo, error) {
	host, _, err := net.SplitHostPort(a.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-mode cloudfront needs a loopback -addr (the fake edge listens next to the server), got %s", host)
	}
	key, err := rsa.GenerateKey(rand.Reader, cloudfront.KeyBits)
	if err != nil {
		return nil, fmt.Errorf("generating the demo key pair: %w", err)
	}
	signer, err := cloudfront.New(cloudfront.Config{Keys: []cloudfront.Key{{ID: demoKeyID, Signer: key}}})
	if err != nil {
		return nil, err
	}
	oac := privates3test.OACOrigin(a.fake, demoBucket)
	// Origin requests for tiles of zoom levels still rendering wait for them (demoTiles.wait
	// reads the zoom from a path relative to the tiles).
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := r.Clone(r.Context())
		rel.URL.Path = strings.TrimPrefix(r.URL.Path, "/"+demoPrefix)
		a.demo.wait(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { oac.ServeHTTP(w, r) })).ServeHTTP(w, rel)
	})
	edge, err := privates3test.StartEdge(privates3test.EdgeConfig{
		PublicKeys:  signer.PublicKeys(),
		Origin:      origin,
		Clock:       a.fake.Now,
		MinTTL:      demoEdgeMinTTL,
		AllowOrigin: strings.TrimSuffix(a.url, "/"),
		Addr:        net.JoinHostPort(host, "0"),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the fake CloudFront edge: %w", err)
	}
	cookies, err := signer.CookieHandler(cloudfront.CookieHandlerOptions{
		// One cookie for every tile of the distribution. Insecure: the demo is plain HTTP.
		Cookie: cloudfront.CookieOptions{Resource: edge.URL + "/" + demoPrefix + "*", Insecure: true},
		// The demo lets every viewer in; a real application checks its session here.
		Authorize: nil,
		Logger:    a.log,
	})
	if err != nil {
		edge.Close()
		return nil, err
	}
	return &cloudFrontDemo{edge: edge, signer: signer, cookies: cookies}, nil
}

// tiles is the viewer's tile URL template: on the edge.
func (d *cloudFrontDemo) tiles() string { return d.edge.URL + "/" + demoPrefix + "{z}/{x}/{y}.png" }

func (d *cloudFrontDemo) close() { d.edge.Close() }
