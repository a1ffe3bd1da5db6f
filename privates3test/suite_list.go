package privates3test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The behaviour suite's cases for listings and bucket operations.

// listFixture is the set of objects the listing cases read: names under dir.
type listFixture struct {
	dir   string   // full prefix of the objects, ending in "/"
	names []string // their names under dir, in order
}

// full returns the full keys of the names ns under l.dir.
func (l listFixture) full(ns ...string) []string {
	var out []string
	for _, n := range ns {
		out = append(out, l.dir+n)
	}
	return out
}

// runListing puts the objects of the listing cases and runs the cases for listings and buckets.
func (tg *target) runListing(t *testing.T) {
	l := listFixture{dir: tg.prefix + "list/", names: []string{"a", "b/1", "b/2", "c d", "e+f"}}
	for _, n := range l.names {
		tg.put(t, "list/"+n, []byte(n), nil)
	}
	for _, c := range []struct {
		name string
		run  func(*testing.T, listFixture)
	}{
		{"ListObjectsV2", tg.checkListObjectsV2},
		{"ListObjectsV2URLEncoding", tg.checkListURLEncoding},
		{"ListObjectsV1", tg.checkListObjectsV1},
		{"ListingAuthorization", tg.checkListingAuthorization},
		{"HeadBucket", tg.checkHeadBucket},
		{"GetBucketLocation", tg.checkGetBucketLocation},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, l) })
	}
}

// checkListObjectsV2 checks ListObjectsV2 through the SDK: with a delimiter, in pages, after a
// key, and under an empty prefix.
func (tg *target) checkListObjectsV2(t *testing.T, l listFixture) {
	tg.checkListDelimited(t, l)
	tg.checkListPages(t, l)
	ctx := context.Background()
	out, err := tg.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: &l.dir, StartAfter: aws.String(l.dir + "b/1")})
	if err != nil || !slices.Equal(objectKeys(out.Contents), l.full("b/2", "c d", "e+f")) {
		t.Errorf("start-after: %q, %v", objectKeys(out.Contents), err)
	}
	out, err = tg.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: aws.String(l.dir + "zzz")})
	if err != nil || len(out.Contents) != 0 || aws.ToInt32(out.KeyCount) != 0 {
		t.Errorf("empty prefix: %v, %v", out, err)
	}
}

// checkListDelimited checks a ListObjectsV2 with the delimiter "/": keys, common prefixes, and
// each entry's fields.
func (tg *target) checkListDelimited(t *testing.T, l listFixture) {
	out, err := tg.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: &l.dir, Delimiter: aws.String("/")})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	if keys, cps := objectKeys(out.Contents), prefixes(out.CommonPrefixes); !slices.Equal(keys, l.full("a", "c d", "e+f")) ||
		!slices.Equal(cps, l.full("b/")) || aws.ToInt32(out.KeyCount) != 4 || aws.ToBool(out.IsTruncated) {
		t.Errorf("with delimiter: keys %q, common prefixes %q, KeyCount %d, truncated %v", keys, cps, aws.ToInt32(out.KeyCount), aws.ToBool(out.IsTruncated))
	}
	for _, o := range out.Contents {
		if aws.ToInt64(o.Size) != int64(len(strings.TrimPrefix(*o.Key, l.dir))) || len(aws.ToString(o.ETag)) != 34 || o.LastModified == nil || o.Owner != nil {
			t.Errorf("entry %s: size %d, ETag %s, LastModified %v, Owner %v (without fetch-owner)", *o.Key, aws.ToInt64(o.Size), aws.ToString(o.ETag), o.LastModified, o.Owner)
		}
	}
}

// checkListPages checks a ListObjectsV2 in pages of two, in order, with continuation tokens and
// fetch-owner.
func (tg *target) checkListPages(t *testing.T, l listFixture) {
	var got []string
	pages := 0
	p := s3.NewListObjectsV2Paginator(tg.s3, &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: &l.dir, MaxKeys: aws.Int32(2), FetchOwner: aws.Bool(true)})
	for p.HasMorePages() && pages < 10 {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		got = append(got, objectKeys(page.Contents)...)
		if len(page.Contents) > 0 && (page.Contents[0].Owner == nil || aws.ToString(page.Contents[0].Owner.ID) == "") {
			t.Errorf("fetch-owner: no owner ID")
		}
	}
	if !slices.Equal(got, l.full(l.names...)) || pages != 3 {
		t.Errorf("paginated listing: %q in %d pages, want %q in 3", got, pages, l.full(l.names...))
	}
}

// checkListURLEncoding checks a ListObjectsV2 with encoding-type=url: every key URL-encoded.
func (tg *target) checkListURLEncoding(t *testing.T, l listFixture) {
	r := tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+tg.bucket+"?list-type=2&encoding-type=url&prefix="+url.QueryEscape(l.dir), nil, tg.base, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.code)
	}
	var res struct {
		EncodingType string   `xml:"EncodingType"`
		Keys         []string `xml:"Contents>Key"`
	}
	if err := xml.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range res.Keys {
		d, err := url.QueryUnescape(k)
		if err != nil {
			t.Errorf("key %q is not URL-encoded: %v", k, err)
		}
		keys = append(keys, d)
	}
	if res.EncodingType != "url" || !slices.Equal(keys, l.full(l.names...)) || !strings.HasSuffix(res.Keys[len(res.Keys)-1], "e%2Bf") {
		t.Errorf("encoding-type=url: %q (%s)", res.Keys, res.EncodingType)
	}
}

// checkListObjectsV1 checks ListObjects (version 1) in two pages, with a delimiter and a marker.
func (tg *target) checkListObjectsV1(t *testing.T, l listFixture) {
	ctx := context.Background()
	out, err := tg.s3.ListObjects(ctx, &s3.ListObjectsInput{Bucket: &tg.bucket, Prefix: &l.dir, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	if keys, cps := objectKeys(out.Contents), prefixes(out.CommonPrefixes); !slices.Equal(keys, l.full("a")) || !slices.Equal(cps, l.full("b/")) ||
		!aws.ToBool(out.IsTruncated) || aws.ToString(out.NextMarker) != l.dir+"b/" {
		t.Errorf("page 1: keys %q, prefixes %q, truncated %v, NextMarker %q", keys, cps, aws.ToBool(out.IsTruncated), aws.ToString(out.NextMarker))
	}
	out, err = tg.s3.ListObjects(ctx, &s3.ListObjectsInput{Bucket: &tg.bucket, Prefix: &l.dir, Delimiter: aws.String("/"), Marker: out.NextMarker})
	if err != nil || !slices.Equal(objectKeys(out.Contents), l.full("c d", "e+f")) || len(out.CommonPrefixes) != 0 || aws.ToBool(out.IsTruncated) {
		t.Errorf("page 2 after the marker: %q %v, %v", objectKeys(out.Contents), prefixes(out.CommonPrefixes), err)
	}
}

// checkListingAuthorization checks who may list, and the answers to invalid listing parameters
// and a missing bucket.
func (tg *target) checkListingAuthorization(t *testing.T, l listFixture) {
	list := tg.endpoint + "/" + tg.bucket + "?list-type=2&prefix=" + url.QueryEscape(l.dir)
	expect(t, "reader role (s3:ListBucket)", tg.s3Do(t, http.MethodGet, list, nil, tg.reader, nil), 200, "")
	getOnly := tg.assume(t, getOnlyPolicy)
	expect(t, "ListObjectsV2 without s3:ListBucket", tg.s3Do(t, http.MethodGet, list, nil, getOnly, nil), 403, "AccessDenied")
	expect(t, "ListObjects without s3:ListBucket", tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+tg.bucket+"?prefix="+url.QueryEscape(l.dir), nil, getOnly, nil), 403, "AccessDenied")
	expect(t, "max-keys not a number", tg.s3Do(t, http.MethodGet, list+"&max-keys=x", nil, tg.base, nil), 400, "InvalidArgument")
	expect(t, "unknown encoding-type", tg.s3Do(t, http.MethodGet, list+"&encoding-type=base64", nil, tg.base, nil), 400, "InvalidArgument")
	expect(t, "bad continuation-token", tg.s3Do(t, http.MethodGet, list+"&continuation-token=%21%21", nil, tg.base, nil), 400, "InvalidArgument")
	missing := "privates3test-no-such-bucket-" + randomHex(10)
	expect(t, "listing a missing bucket", tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+missing+"?list-type=2", nil, tg.base, nil), 404, "NoSuchBucket")
}

// checkHeadBucket checks HeadBucket with and without s3:ListBucket, of a missing bucket, and
// through the SDK.
func (tg *target) checkHeadBucket(t *testing.T, _ listFixture) {
	for name, creds := range map[string]aws.Credentials{"base": tg.base, "reader": tg.reader} {
		r := tg.s3Do(t, http.MethodHead, tg.endpoint+"/"+tg.bucket, nil, creds, nil)
		if r.status != 200 || r.header.Get("X-Amz-Bucket-Region") != tg.region {
			t.Errorf("HeadBucket (%s): %d, region %q", name, r.status, r.header.Get("X-Amz-Bucket-Region"))
		}
	}
	missing := "privates3test-no-such-bucket-" + randomHex(10)
	if r := tg.s3Do(t, http.MethodHead, tg.endpoint+"/"+missing, nil, tg.base, nil); r.status != 404 || len(r.body) != 0 {
		t.Errorf("HeadBucket of a missing bucket: %d with %d body bytes, want 404 without body", r.status, len(r.body))
	}
	getOnly := tg.assume(t, getOnlyPolicy)
	if r := tg.s3Do(t, http.MethodHead, tg.endpoint+"/"+tg.bucket, nil, getOnly, nil); r.status != 403 {
		t.Errorf("HeadBucket without s3:ListBucket: %d, want 403", r.status)
	}
	if _, err := tg.s3.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: &tg.bucket}); err != nil {
		t.Errorf("SDK HeadBucket: %v", err)
	}
}

// checkGetBucketLocation checks the bucket's location ("" for us-east-1), and that the reader
// role may not ask for it.
func (tg *target) checkGetBucketLocation(t *testing.T, _ listFixture) {
	out, err := tg.s3.GetBucketLocation(context.Background(), &s3.GetBucketLocationInput{Bucket: &tg.bucket})
	if err != nil {
		t.Fatalf("GetBucketLocation: %v", err)
	}
	want := tg.region
	if want == "us-east-1" {
		want = ""
	}
	if string(out.LocationConstraint) != want {
		t.Errorf("LocationConstraint %q, want %q", out.LocationConstraint, want)
	}
	expect(t, "GetBucketLocation with the reader role", tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+tg.bucket+"?location", nil, tg.reader, nil), 403, "AccessDenied")
}

// objectKeys returns the keys of list.
func objectKeys(list []s3types.Object) []string {
	var out []string
	for _, o := range list {
		out = append(out, aws.ToString(o.Key))
	}
	return out
}

// prefixes returns the prefixes of list.
func prefixes(list []s3types.CommonPrefix) []string {
	var out []string
	for _, p := range list {
		out = append(out, aws.ToString(p.Prefix))
	}
	return out
}
