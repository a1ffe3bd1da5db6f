package privates3test

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// s3Namespace is the XML namespace of S3's answers.
const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// maxListKeys is the most keys one listing returns (S3: 1000).
const maxListKeys = 1000

// listParams are the parameters of a listing.
type listParams struct {
	prefix, delimiter string
	after             string // list keys (and common prefixes) after this one
	maxKeys           int
	urlEncode         bool
}

// listing is one page of a listing.
type listing struct {
	keys      []string // in order
	prefixes  []string // common prefixes, in order
	truncated bool
	last      string // the last key or common prefix returned
}

// list returns one page of keys (sorted, all under p.prefix) as p asks.
func list(keys []string, p listParams) listing {
	var l listing
	if p.maxKeys == 0 {
		return l // an empty page, not truncated: a client paging on would never end
	}
	i, _ := slices.BinarySearch(keys, p.after)
	for ; i < len(keys); i++ {
		k := keys[i]
		if k <= p.after {
			continue
		}
		entry, isPrefix := k, false
		if p.delimiter != "" {
			if j := strings.Index(k[len(p.prefix):], p.delimiter); j >= 0 {
				entry, isPrefix = k[:len(p.prefix)+j+len(p.delimiter)], true
				if entry <= p.after || entry == l.last {
					continue // the rest of a common prefix already returned
				}
			}
		}
		if len(l.keys)+len(l.prefixes) >= p.maxKeys {
			l.truncated = true
			break
		}
		if isPrefix {
			l.prefixes = append(l.prefixes, entry)
		} else {
			l.keys = append(l.keys, entry)
		}
		l.last = entry
	}
	return l
}

// parseListParams reads the parameters common to both listings.
func parseListParams(q url.Values) (listParams, *apiError) {
	p := listParams{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: maxListKeys}
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return p, newError(http.StatusBadRequest, "InvalidArgument", "Provided max-keys not an integer or within integer range").
				with("ArgumentName", "max-keys").with("ArgumentValue", truncate(v[0], 40))
		}
		p.maxKeys = min(n, maxListKeys)
	}
	if v, ok := q["encoding-type"]; ok {
		if !strings.EqualFold(v[0], "url") {
			return p, newError(http.StatusBadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request").
				with("ArgumentName", "encoding-type").with("ArgumentValue", truncate(v[0], 40))
		}
		p.urlEncode = true
	}
	return p, nil
}

// s3Encode encodes s as S3's encoding-type=url does (form encoding, slashes kept).
func s3Encode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

type listOwner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type listContent struct {
	Key               string     `xml:"Key"`
	LastModified      string     `xml:"LastModified"`
	ETag              string     `xml:"ETag"`
	ChecksumAlgorithm []string   `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string     `xml:"ChecksumType,omitempty"`
	Size              int64      `xml:"Size"`
	Owner             *listOwner `xml:"Owner,omitempty"`
	StorageClass      string     `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// listResult is ListBucketResult of both listings (fields of the other version left empty).
type listResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Xmlns                 string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker"`
	NextMarker            string         `xml:"NextMarker,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	KeyCount              *int           `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []listContent  `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

// owner is the owner of every bucket and object: the account.
func owner() *listOwner { return &listOwner{ID: ownerID, DisplayName: baseUserName} }

// ownerID is the canonical user ID of the account.
const ownerID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"

// listObjects answers ListObjectsV2 and ListObjects (v1).
func (c *s3Call) listObjects() *apiError {
	if e := c.authorize("s3:ListBucket", bucketARN(c.bucket)); e != nil {
		return e
	}
	p, e := parseListParams(c.query)
	if e != nil {
		return e
	}
	res := listResult{Xmlns: s3Namespace, Name: c.bucket, MaxKeys: p.maxKeys}
	enc := func(s string) string { return s }
	if p.urlEncode {
		enc, res.EncodingType = s3Encode, "url"
	}
	withOwner, e := c.listStart(&p, &res, enc)
	if e != nil {
		return e
	}
	keys, objs, ok := c.s.sortedKeys(c.bucket, p.prefix)
	if !ok {
		return noSuchBucket(c.bucket)
	}
	l := list(keys, p)
	res.Prefix, res.Delimiter, res.IsTruncated = enc(p.prefix), enc(p.delimiter), l.truncated
	for _, k := range l.keys {
		res.Contents = append(res.Contents, listEntry(k, objs[k], enc, withOwner))
	}
	for _, cp := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{enc(cp)})
	}
	c.listNext(&res, l, p, enc)
	return c.writeXML(res)
}

// listStart sets in p and res where c's listing starts (start-after or continuation-token for
// V2, marker for V1) and reports whether the listing shows owners.
func (c *s3Call) listStart(p *listParams, res *listResult, enc func(string) string) (withOwner bool, e *apiError) {
	q := c.query
	if c.op != OpListObjectsV2 {
		p.after = q.Get("marker")
		m := enc(p.after)
		res.Marker = &m
		return true, nil
	}
	res.StartAfter = enc(q.Get("start-after"))
	p.after = q.Get("start-after")
	if tok, ok := q["continuation-token"]; ok {
		after, err := base64.RawURLEncoding.DecodeString(tok[0])
		if err != nil || tok[0] == "" {
			return false, newError(http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect").
				with("ArgumentName", "continuation-token")
		}
		p.after, res.ContinuationToken = string(after), tok[0]
	}
	return q.Get("fetch-owner") == "true", nil
}

// listEntry is the Contents element of key k, whose object is o.
func listEntry(k string, o *object, enc func(string) string, withOwner bool) listContent {
	lc := listContent{Key: enc(k), LastModified: timeXML(o.lastModified), ETag: o.etag, Size: o.size, StorageClass: "STANDARD"}
	for name := range o.checksums {
		a, _ := checksumByName(name)
		lc.ChecksumAlgorithm, lc.ChecksumType = append(lc.ChecksumAlgorithm, a.id), o.checksumType
	}
	if withOwner {
		lc.Owner = owner()
	}
	return lc
}

// listNext sets in res how the client asks for the page after l: KeyCount and
// NextContinuationToken for V2; for V1, NextMarker when truncated with a delimiter (without
// one, clients go on from the last key).
func (c *s3Call) listNext(res *listResult, l listing, p listParams, enc func(string) string) {
	if c.op != OpListObjectsV2 {
		if l.truncated && p.delimiter != "" {
			res.NextMarker = enc(l.last)
		}
		return
	}
	n := len(l.keys) + len(l.prefixes)
	res.KeyCount = &n
	if l.truncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.last))
	}
}

// sortedKeys returns the keys under prefix of the bucket, sorted, with their objects; ok is
// false if the bucket does not exist.
func (s *Server) sortedKeys(bucketName, prefix string) ([]string, map[string]*object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil, nil, false
	}
	objs := map[string]*object{}
	keys := make([]string, 0, len(b.objects))
	for k, o := range b.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
			objs[k] = o
		}
	}
	slices.Sort(keys)
	return keys, objs, true
}

// bucketInfo answers HeadBucket and GetBucketLocation.
func (c *s3Call) bucketInfo() *apiError {
	action := "s3:ListBucket"
	if c.op == OpGetBucketLocation {
		action = "s3:GetBucketLocation"
	}
	if e := c.authorize(action, bucketARN(c.bucket)); e != nil {
		return e
	}
	if !c.s.bucketExists(c.bucket) {
		return noSuchBucket(c.bucket)
	}
	if c.op == OpHeadBucket {
		h := c.header()
		h.Set("X-Amz-Bucket-Region", c.s.region)
		h.Set("X-Amz-Access-Point-Alias", "false")
		c.w.WriteHeader(http.StatusOK)
		return nil
	}
	loc := c.s.region
	if loc == "us-east-1" {
		loc = "" // as S3 answers for its first region
	}
	return c.writeXML(struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Xmlns   string   `xml:"xmlns,attr"`
		Region  string   `xml:",chardata"`
	}{Xmlns: s3Namespace, Region: loc})
}
