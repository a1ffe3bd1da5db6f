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

func (tg *target) runListing(t *testing.T, reader aws.Credentials) {
	ctx := context.Background()
	dir := tg.prefix + "list/"
	names := []string{"a", "b/1", "b/2", "c d", "e+f"}
	for _, n := range names {
		tg.put(t, "list/"+n, []byte(n), nil)
	}
	full := func(ns ...string) []string {
		var out []string
		for _, n := range ns {
			out = append(out, dir+n)
		}
		return out
	}

	t.Run("ListObjectsV2", func(t *testing.T) {
		out, err := tg.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: &dir, Delimiter: aws.String("/")})
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		if keys, cps := objectKeys(out.Contents), prefixes(out.CommonPrefixes); !slices.Equal(keys, full("a", "c d", "e+f")) ||
			!slices.Equal(cps, full("b/")) || aws.ToInt32(out.KeyCount) != 4 || aws.ToBool(out.IsTruncated) {
			t.Errorf("with delimiter: keys %q, common prefixes %q, KeyCount %d, truncated %v", keys, cps, aws.ToInt32(out.KeyCount), aws.ToBool(out.IsTruncated))
		}
		for _, o := range out.Contents {
			if aws.ToInt64(o.Size) != int64(len(strings.TrimPrefix(*o.Key, dir))) || len(aws.ToString(o.ETag)) != 34 || o.LastModified == nil || o.Owner != nil {
				t.Errorf("entry %s: size %d, ETag %s, LastModified %v, Owner %v (without fetch-owner)", *o.Key, aws.ToInt64(o.Size), aws.ToString(o.ETag), o.LastModified, o.Owner)
			}
		}
		// Pages of two, in order, with continuation tokens.
		var got []string
		pages := 0
		p := s3.NewListObjectsV2Paginator(tg.s3, &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: &dir, MaxKeys: aws.Int32(2), FetchOwner: aws.Bool(true)})
		for p.HasMorePages() && pages < 10 {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("page %d: %v", pages, err)
			}
			pages++
			got = append(got, objectKeys(page.Contents)...)
			if len(page.Contents) > 0 && (page.Contents[0].Owner == nil || aws.ToString(page.Contents[0].Owner.ID) == "") {
				t.Errorf("fetch-owner: no owner ID")
			}
		}
		if !slices.Equal(got, full(names...)) || pages != 3 {
			t.Errorf("paginated listing: %q in %d pages, want %q in 3", got, pages, full(names...))
		}
		out, err = tg.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: &dir, StartAfter: aws.String(dir + "b/1")})
		if err != nil || !slices.Equal(objectKeys(out.Contents), full("b/2", "c d", "e+f")) {
			t.Errorf("start-after: %q, %v", objectKeys(out.Contents), err)
		}
		out, err = tg.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: aws.String(dir + "zzz")})
		if err != nil || len(out.Contents) != 0 || aws.ToInt32(out.KeyCount) != 0 {
			t.Errorf("empty prefix: %v, %v", out, err)
		}
	})

	t.Run("ListObjectsV2URLEncoding", func(t *testing.T) {
		r := tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+tg.bucket+"?list-type=2&encoding-type=url&prefix="+url.QueryEscape(dir), nil, tg.base, nil)
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
		if res.EncodingType != "url" || !slices.Equal(keys, full(names...)) || !strings.HasSuffix(res.Keys[len(res.Keys)-1], "e%2Bf") {
			t.Errorf("encoding-type=url: %q (%s)", res.Keys, res.EncodingType)
		}
	})

	t.Run("ListObjectsV1", func(t *testing.T) {
		out, err := tg.s3.ListObjects(ctx, &s3.ListObjectsInput{Bucket: &tg.bucket, Prefix: &dir, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
		if err != nil {
			t.Fatalf("ListObjects: %v", err)
		}
		if keys, cps := objectKeys(out.Contents), prefixes(out.CommonPrefixes); !slices.Equal(keys, full("a")) || !slices.Equal(cps, full("b/")) ||
			!aws.ToBool(out.IsTruncated) || aws.ToString(out.NextMarker) != dir+"b/" {
			t.Errorf("page 1: keys %q, prefixes %q, truncated %v, NextMarker %q", keys, cps, aws.ToBool(out.IsTruncated), aws.ToString(out.NextMarker))
		}
		out, err = tg.s3.ListObjects(ctx, &s3.ListObjectsInput{Bucket: &tg.bucket, Prefix: &dir, Delimiter: aws.String("/"), Marker: out.NextMarker})
		if err != nil || !slices.Equal(objectKeys(out.Contents), full("c d", "e+f")) || len(out.CommonPrefixes) != 0 || aws.ToBool(out.IsTruncated) {
			t.Errorf("page 2 after the marker: %q %v, %v", objectKeys(out.Contents), prefixes(out.CommonPrefixes), err)
		}
	})

	t.Run("ListingAuthorization", func(t *testing.T) {
		list := tg.endpoint + "/" + tg.bucket + "?list-type=2&prefix=" + url.QueryEscape(dir)
		expect(t, "reader role (s3:ListBucket)", tg.s3Do(t, http.MethodGet, list, nil, reader, nil), 200, "")
		getOnly := tg.assume(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
		expect(t, "ListObjectsV2 without s3:ListBucket", tg.s3Do(t, http.MethodGet, list, nil, getOnly, nil), 403, "AccessDenied")
		expect(t, "ListObjects without s3:ListBucket", tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+tg.bucket+"?prefix="+url.QueryEscape(dir), nil, getOnly, nil), 403, "AccessDenied")
		expect(t, "max-keys not a number", tg.s3Do(t, http.MethodGet, list+"&max-keys=x", nil, tg.base, nil), 400, "InvalidArgument")
		expect(t, "unknown encoding-type", tg.s3Do(t, http.MethodGet, list+"&encoding-type=base64", nil, tg.base, nil), 400, "InvalidArgument")
		expect(t, "bad continuation-token", tg.s3Do(t, http.MethodGet, list+"&continuation-token=%21%21", nil, tg.base, nil), 400, "InvalidArgument")
		missing := "privates3test-no-such-bucket-" + randomHex(10)
		expect(t, "listing a missing bucket", tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+missing+"?list-type=2", nil, tg.base, nil), 404, "NoSuchBucket")
	})

	t.Run("HeadBucket", func(t *testing.T) {
		for name, creds := range map[string]aws.Credentials{"base": tg.base, "reader": reader} {
			r := tg.s3Do(t, http.MethodHead, tg.endpoint+"/"+tg.bucket, nil, creds, nil)
			if r.status != 200 || r.header.Get("X-Amz-Bucket-Region") != tg.region {
				t.Errorf("HeadBucket (%s): %d, region %q", name, r.status, r.header.Get("X-Amz-Bucket-Region"))
			}
		}
		missing := "privates3test-no-such-bucket-" + randomHex(10)
		if r := tg.s3Do(t, http.MethodHead, tg.endpoint+"/"+missing, nil, tg.base, nil); r.status != 404 || len(r.body) != 0 {
			t.Errorf("HeadBucket of a missing bucket: %d with %d body bytes, want 404 without body", r.status, len(r.body))
		}
		getOnly := tg.assume(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
		if r := tg.s3Do(t, http.MethodHead, tg.endpoint+"/"+tg.bucket, nil, getOnly, nil); r.status != 403 {
			t.Errorf("HeadBucket without s3:ListBucket: %d, want 403", r.status)
		}
		if _, err := tg.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &tg.bucket}); err != nil {
			t.Errorf("SDK HeadBucket: %v", err)
		}
	})

	t.Run("GetBucketLocation", func(t *testing.T) {
		out, err := tg.s3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &tg.bucket})
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
		expect(t, "GetBucketLocation with the reader role", tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+tg.bucket+"?location", nil, reader, nil), 403, "AccessDenied")
	})
}

func objectKeys(list []s3types.Object) []string {
	var out []string
	for _, o := range list {
		out = append(out, aws.ToString(o.Key))
	}
	return out
}

func prefixes(list []s3types.CommonPrefix) []string {
	var out []string
	for _, p := range list {
		out = append(out, aws.ToString(p.Prefix))
	}
	return out
}
