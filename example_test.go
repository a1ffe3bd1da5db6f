package privates3_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

func ExampleNew() {
	// A fake S3 and STS; with real AWS, the Config names the bucket and the role to assume.
	srv := privates3test.NewServer()
	defer srv.Close()

	ctx := context.Background()
	c, err := privates3.New(ctx, srv.Config("tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("STS calls:", c.Stats().STSCalls)

	// An invalid Config is rejected before anything is sent.
	_, err = privates3.New(ctx, privates3.Config{Bucket: "Tiles!"})
	fmt.Println(errors.Is(err, privates3.ErrInvalidConfig))
	// Output:
	// STS calls: 1
	// true
}

func ExampleClient_GetObject() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "3/4/2.png", []byte("PNG..."), privates3test.ContentType("image/png"))

	ctx := context.Background()
	c, err := privates3.New(ctx, srv.Config("tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for range 3 {
		obj, err := c.GetObject(ctx, "3/4/2.png")
		if err != nil {
			log.Fatal(err)
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(obj.ContentType, obj.Size, string(b))
	}
	st := c.Stats()
	fmt.Println("upstream GETs:", st.UpstreamGets, "cache hits:", st.CacheHits)

	_, err = c.GetObject(ctx, "9/9/9.png")
	fmt.Println(errors.Is(err, privates3.ErrNotFound))
	_, err = c.GetObject(ctx, "../etc/passwd")
	fmt.Println(errors.Is(err, privates3.ErrInvalidKey))
	// Output:
	// image/png 6 PNG...
	// image/png 6 PNG...
	// image/png 6 PNG...
	// upstream GETs: 1 cache hits: 2
	// true
	// true
}

func ExampleClient_Handler() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "3/4/2.png", []byte("\x89PNG..."), privates3test.ContentType("image/png"))

	c, err := privates3.New(context.Background(), srv.Config("tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Mount the handler under /tiles/: the rest of the path is the key.
	mux := http.NewServeMux()
	mux.Handle("/tiles/", http.StripPrefix("/tiles/", c.Handler(nil)))
	web := httptest.NewServer(mux)
	defer web.Close()

	for _, path := range []string{"/tiles/3/4/2.png", "/tiles/3/4/9.png", "/tiles/3/4/2.png"} {
		resp, err := http.Get(web.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	fmt.Println("upstream GETs:", srv.CountKey(privates3test.OpGetObject, "3/4/2.png"))
	// Output:
	// /tiles/3/4/2.png 200 image/png
	// /tiles/3/4/9.png 404 text/plain; charset=utf-8
	// /tiles/3/4/2.png 200 image/png
	// upstream GETs: 1
}

func ExampleClient_Presign() {
	ctx := context.Background()
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "3/4/2.png", []byte("PNG tile"), privates3test.ContentType("image/png"))

	c, err := privates3.New(ctx, srv.Config("tiles"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	opts := &privates3.PresignOptions{
		Expiry:                     time.Hour,        // the default
		Window:                     15 * time.Minute, // the default for a 1h expiry
		ResponseContentDisposition: `attachment; filename="2.png"`,
	}
	// Within the window, the same request gives the same URL (browsers and CDNs can cache it),
	// valid for at least Expiry-Window from now. (Should a window boundary pass between two
	// calls, the second URL is signed exactly one window later; ask again.)
	var u, again privates3.PresignedURL
	for {
		u, err = c.Presign(ctx, "3/4/2.png", opts)
		if err != nil {
			fmt.Println(err)
			return
		}
		again, _ = c.Presign(ctx, "3/4/2.png", opts)
		if again.URL == u.URL || !again.SignedAt.Equal(u.SignedAt.Add(opts.Window)) {
			break
		}
	}
	fmt.Println("same URL:", again.URL == u.URL)
	fmt.Println("signed at a window start:", u.SignedAt.Equal(u.SignedAt.Truncate(15*time.Minute)))
	fmt.Println("valid for at least 45m:", time.Until(u.Deadline) >= 45*time.Minute-time.Second)

	// Anyone holding the URL can fetch the object until u.Deadline.
	resp, err := http.Get(u.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, resp.Header.Get("Content-Disposition"), string(body))

	// Bad input is refused before anything is sent to AWS.
	_, err = c.Presign(ctx, "3/4/2.png", &privates3.PresignOptions{Expiry: 8 * 24 * time.Hour})
	fmt.Println(errors.Is(err, privates3.ErrInvalidOption))
	// Output:
	// same URL: true
	// signed at a window start: true
	// valid for at least 45m: true
	// 200 OK attachment; filename="2.png" PNG tile
	// true
}

func ExampleClient_ScopedCredentials() {
	ctx := context.Background()
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("docs", "users/alice/notes.txt", []byte("alice's notes"))
	srv.PutObject("docs", "users/bob/notes.txt", []byte("bob's notes"))

	cfg := srv.Config("docs")
	cfg.Prefix = "users/"
	c, err := privates3.New(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	// Credentials for a client that reads alice's files from S3 itself.
	sc, err := c.ScopedCredentials(ctx, "alice/", 30*time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sc.Bucket, sc.Prefix)
	fmt.Println("secret in fmt output:", strings.Contains(fmt.Sprint(sc), sc.SecretAccessKey))

	// The client uses them with any S3 SDK.
	awsCfg := srv.AWSConfig()
	awsCfg.Region = sc.Region
	awsCfg.Credentials = credentials.NewStaticCredentialsProvider(sc.AccessKeyID, sc.SecretAccessKey, sc.SessionToken)
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, key := range []string{"users/alice/notes.txt", "users/bob/notes.txt"} {
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(sc.Bucket), Key: aws.String(key)})
		var ae smithy.APIError
		switch {
		case errors.As(err, &ae):
			fmt.Printf("%s: %s\n", key, ae.ErrorCode())
		case err != nil:
			fmt.Println(err)
		default:
			body, _ := io.ReadAll(out.Body)
			out.Body.Close()
			fmt.Printf("%s: %s\n", key, body)
		}
	}
	// Output:
	// docs users/alice/
	// secret in fmt output: false
	// users/alice/notes.txt: alice's notes
	// users/bob/notes.txt: AccessDenied
}

func ExampleClient_CredentialsHandler() {
	srv := privates3test.NewServer()
	defer srv.Close()
	cfg := srv.Config("docs")
	cfg.Prefix = "users/"
	c, err := privates3.New(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	h := c.CredentialsHandler(&privates3.CredentialsHandlerOptions{
		// A real server would take the user from its session; the prefix confines them.
		Authorize: func(r *http.Request) (string, error) {
			user := r.Header.Get("X-User")
			if user == "" {
				return "", errors.New("not logged in")
			}
			return user + "/", nil
		},
	})

	for _, user := range []string{"", "alice"} {
		r := httptest.NewRequest(http.MethodGet, "/credentials", nil)
		r.Header.Set("X-User", user)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("Cache-Control"))
		if w.Code == http.StatusOK {
			var m map[string]string
			_ = json.Unmarshal(w.Body.Bytes(), &m)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			fmt.Println(keys)
			fmt.Println(m["bucket"], m["prefix"])
		}
	}
	// Output:
	// 403 no-store
	// 200 no-store
	// [accessKeyId bucket expiration prefix region secretAccessKey sessionToken]
	// docs users/alice/
}

// A server's own handler answers its authorization check as the package's handlers do: 401 with
// the challenge for missing credentials, 403 for a caller that may not read the key, and neither
// body names the error.
func ExampleWriteDenied() {
	for _, c := range []struct {
		err       error
		challenge string
	}{
		{fmt.Errorf("no bearer token: %w", privates3.ErrUnauthorized), `Bearer realm="tiles"`},
		{privates3.ErrUnauthorized, ""}, // the default challenge
		{errors.New("user 42 may not read secret/plan.pdf"), `Bearer realm="tiles"`},
	} {
		rec := httptest.NewRecorder()
		privates3.WriteDenied(rec, c.err, c.challenge)
		fmt.Printf("%d %q %q\n", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String())
	}
	// Output:
	// 401 "Bearer realm=\"tiles\"" "Unauthorized\n"
	// 401 "Bearer" "Unauthorized\n"
	// 403 "" "Forbidden\n"
}
