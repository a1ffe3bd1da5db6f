package pmtiles

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/privates3/privates3"
)

// ArchiveExtension is appended to an archive's name to form its key: the handler serves
// "/world/3/4/2.mvt" from the object "world.pmtiles".
const ArchiveExtension = ".pmtiles"

// HandlerOptions configures Reader.Handler. A nil *HandlerOptions means the zero value: every
// request allowed, empty tiles answered 204, the default Cache-Control, TileJSON URLs derived from
// the request, no logging.
type HandlerOptions struct {
	// Authorize, if not nil, is called with every request and the key of its archive
	// ("world.pmtiles") before anything is read. An error refuses the request: 401 Unauthorized if
	// it wraps privates3.ErrUnauthorized (with the Challenge header), else 403 Forbidden. The
	// error's text is not sent. If nil, every request is allowed.
	Authorize func(r *http.Request, key string) error

	// Challenge is the WWW-Authenticate header sent with 401 answers. If empty, "Bearer".
	Challenge string

	// CacheControl is the Cache-Control header of tiles, TileJSON and empty-tile answers. If
	// empty, privates3.DefaultHandlerCacheControl.
	CacheControl string

	// EmptyTileStatus answers tiles the archive does not contain: http.StatusNoContent (map
	// libraries draw nothing, without an error) or http.StatusNotFound. If zero,
	// http.StatusNoContent; other values are treated as zero.
	EmptyTileStatus int

	// BaseURL is the absolute URL the handler is mounted under, with a trailing slash
	// ("https://maps.example.com/tiles/"); TileJSON lists the tiles of archive a as
	// BaseURL+"a/{z}/{x}/{y}.ext". If empty, the URL is derived from the request: http or https
	// (as the connection), its Host, and its path as received (before any http.StripPrefix) with
	// ".json" replaced by "/{z}/{x}/{y}.ext".
	BaseURL string

	// Logger receives log lines about upstream failures and invalid archives. If nil, nothing
	// is logged.
	Logger *slog.Logger
}

// Handler returns an http.Handler that serves the tiles of the archives as
//
//	{archive}/{z}/{x}/{y}.{ext}   a tile
//	{archive}.json                TileJSON 3.0.0 built from the header and the JSON metadata
//
// where {archive} names the object {archive}.pmtiles (relative to the Client's Config.Prefix).
// Mount it with http.StripPrefix; one leading slash is ignored. Archive names are one or more
// segments separated by slashes, each of ASCII letters, digits, '-', '_', '.' and '~', and
// neither "." nor ".."; z, x and y are decimal without leading zeros. Other paths, coordinates
// outside their zoom level and an extension not matching the archive's tile type ("mvt" or
// "pbf", "png", "jpg" or "jpeg", "webp", "avif", "mlt"; anything for unknown types) are 400
// and, except the last, read nothing.
//
// Tiles carry Content-Type (from the header's tile type), Content-Encoding (from its tile
// compression: gzip, br or zstd), Content-Length, an ETag derived from the archive's ETag and
// the tile ID, Last-Modified (the archive's), Cache-Control and X-Content-Type-Options: nosniff.
// Conditional and range requests are answered as http.ServeContent does (If-None-Match gives
// 304). Tiles the archive does not hold give HandlerOptions.EmptyTileStatus.
//
// It answers GET and HEAD (else 405 with Allow: GET, HEAD). Errors map to statuses as in
// privates3.Client.Handler: archive not found 404; access denied 403; throttled 503 with
// Retry-After; upstream timeout 504; Client closed 503; an invalid archive, an unsupported
// compression and any other failure 502. An archive replaced again while the Reader was
// switching to its new version is 503 with Retry-After. Bodies are short fixed texts.
func (r *Reader) Handler(opts *HandlerOptions) http.Handler {
	h := &handler{r: r}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.CacheControl == "" {
		h.opts.CacheControl = privates3.DefaultHandlerCacheControl
	}
	if h.opts.EmptyTileStatus != http.StatusNotFound {
		h.opts.EmptyTileStatus = http.StatusNoContent
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.New(slog.DiscardHandler)
	}
	return h
}

type handler struct {
	r    *Reader
	opts HandlerOptions
}

// request is a parsed request path.
type request struct {
	archive string // the archive's name, without ArchiveExtension
	json    bool   // TileJSON rather than a tile
	z       uint8
	x, y    uint32
	ext     string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		privates3.WriteError(w, http.StatusMethodNotAllowed)
		return
	}
	req, ok := parsePath(r.URL.Path)
	if !ok {
		privates3.WriteError(w, http.StatusBadRequest)
		return
	}
	key := req.archive + ArchiveExtension
	if h.opts.Authorize != nil {
		if err := h.opts.Authorize(r, key); err != nil {
			privates3.WriteDenied(w, err, h.opts.Challenge)
			return
		}
	}
	if req.json {
		h.tileJSON(w, r, req, key)
		return
	}
	h.tile(w, r, req, key)
}

func (h *handler) tile(w http.ResponseWriter, r *http.Request, req request, key string) {
	t, err := h.r.Tile(r.Context(), key, req.z, req.x, req.y)
	if errors.Is(err, ErrTileNotFound) {
		// The archive's state is in memory: Tile just used it.
		info, err := h.r.Archive(r.Context(), key)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !info.Header.TileType.extensionOK(req.ext) {
			privates3.WriteError(w, http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Control", h.opts.CacheControl)
		if h.opts.EmptyTileStatus == http.StatusNotFound {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, http.StatusText(http.StatusNotFound)+"\n")
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !t.Archive.Header.TileType.extensionOK(req.ext) {
		privates3.WriteError(w, http.StatusBadRequest)
		return
	}
	th := &t.Archive.Header
	hdr := w.Header()
	hdr.Set("Content-Type", th.TileType.ContentType())
	if enc := th.TileCompression.contentEncoding(); enc != "" {
		hdr.Set("Content-Encoding", enc)
	}
	h.serve(w, r, t.Archive, strconv.FormatUint(t.ID, 10), t.Data)
}

// serve answers with body, a version of the archive a; part names the body within a.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, a Archive, part string, body []byte) {
	hdr := w.Header()
	hdr.Set("ETag", a.tagPrefix+part+`"`)
	hdr.Set("Cache-Control", h.opts.CacheControl)
	hdr.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(&lengthWriter{ResponseWriter: w, n: len(body)}, r, "", a.LastModified, bytes.NewReader(body))
}

// etag is the ETag of part of the archive version whose ETag is archiveETag: a digest of the
// archive's ETag (which may hold any byte S3 allows) and the part's name.
func etag(archiveETag, part string) string {
	return etagPrefix(archiveETag) + part + `"`
}

// etagPrefix is the part of etag that depends on the archive only, computed once per version.
func etagPrefix(archiveETag string) string {
	sum := sha256.Sum256([]byte(archiveETag))
	return `"` + hex.EncodeToString(sum[:10]) + "-"
}

// tileJSONDoc is a TileJSON 3.0.0 document; the fields from the metadata are copied as given.
type tileJSONDoc struct {
	TileJSON     string          `json:"tilejson"`
	Tiles        []string        `json:"tiles"`
	Scheme       string          `json:"scheme"`
	MinZoom      uint8           `json:"minzoom"`
	MaxZoom      uint8           `json:"maxzoom"`
	Bounds       [4]float64      `json:"bounds"`
	Center       [3]float64      `json:"center"`
	Name         json.RawMessage `json:"name,omitempty"`
	Description  json.RawMessage `json:"description,omitempty"`
	Attribution  json.RawMessage `json:"attribution,omitempty"`
	Version      json.RawMessage `json:"version,omitempty"`
	VectorLayers json.RawMessage `json:"vector_layers,omitempty"`
	Legend       json.RawMessage `json:"legend,omitempty"`
}

func (h *handler) tileJSON(w http.ResponseWriter, r *http.Request, req request, key string) {
	info, meta, err := h.r.Metadata(r.Context(), key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hd := &info.Header
	doc := tileJSONDoc{
		TileJSON: "3.0.0",
		Tiles:    []string{h.tileURL(r, req.archive, hd.TileType.Extension())},
		Scheme:   "xyz",
		MinZoom:  hd.MinZoom,
		MaxZoom:  hd.MaxZoom,
		Bounds:   [4]float64{e7(hd.MinLonE7), e7(hd.MinLatE7), e7(hd.MaxLonE7), e7(hd.MaxLatE7)},
		Center:   [3]float64{e7(hd.CenterLonE7), e7(hd.CenterLatE7), float64(hd.CenterZoom)},
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(meta, &m); err != nil {
		// The tiles can still be served; TileJSON goes without the metadata's fields.
		h.opts.Logger.WarnContext(r.Context(), "pmtiles: handler: metadata is not a JSON object", "key", key, "err", err)
	}
	doc.Name, doc.Description, doc.Attribution = m["name"], m["description"], m["attribution"]
	doc.Version, doc.VectorLayers, doc.Legend = m["version"], m["vector_layers"], m["legend"]
	body, err := json.Marshal(doc)
	if err != nil { // a RawMessage the decoder accepted always re-encodes; defensive
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	h.serve(w, r, info, "json", body)
}

func e7(v int32) float64 { return float64(v) / 1e7 }

// tileURL is the URL template of the tiles of archive.
func (h *handler) tileURL(r *http.Request, archive, ext string) string {
	suffix := "/{z}/{x}/{y}." + ext
	if h.opts.BaseURL != "" {
		return h.opts.BaseURL + archive + suffix
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		p = u.EscapedPath()
	}
	return scheme + "://" + r.Host + strings.TrimSuffix(p, ".json") + suffix
}

// parsePath parses "{archive}/{z}/{x}/{y}.{ext}" or "{archive}.json" (after one optional leading
// slash). ok is false for anything else, including invalid names and coordinates.
func parsePath(p string) (req request, ok bool) {
	p = strings.TrimPrefix(p, "/")
	if name, found := strings.CutSuffix(p, ".json"); found && validName(name) {
		return request{archive: name, json: true}, true
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return req, false
	}
	last := p[i+1:]
	p = p[:i]
	yStr, ext, found := strings.Cut(last, ".")
	if !found || !validExt(ext) {
		return req, false
	}
	i = strings.LastIndexByte(p, '/')
	if i < 0 {
		return req, false
	}
	xStr := p[i+1:]
	p = p[:i]
	i = strings.LastIndexByte(p, '/')
	if i < 0 {
		return req, false
	}
	zStr, name := p[i+1:], p[:i]
	z, okz := parseCoord(zStr)
	x, okx := parseCoord(xStr)
	y, oky := parseCoord(yStr)
	if !okz || !okx || !oky || !validName(name) || z > MaxZoom || x>>z != 0 || y>>z != 0 {
		return req, false
	}
	return request{archive: name, z: uint8(z), x: uint32(x), y: uint32(y), ext: ext}, true
}

// parseCoord parses a decimal below 2^32 without sign or leading zeros.
func parseCoord(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return v, err == nil
}

// validName reports whether name is an acceptable archive name (see Reader.Handler).
func validName(name string) bool {
	if name == "" || len(name)+len(ArchiveExtension) > privates3.MaxKeyLength {
		return false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.IndexFunc(seg, badNameRune) >= 0 {
			return false
		}
	}
	return true
}

// badNameRune reports whether r may not appear in an archive name: only ASCII letters, digits,
// '-', '_', '.' and '~' may.
func badNameRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-_.~", r)
}

func validExt(ext string) bool {
	if ext == "" || len(ext) > 8 {
		return false
	}
	for i := 0; i < len(ext); i++ {
		if c := ext[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// fail answers err with a fixed status and text, or nothing if the client has gone away.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	log := h.opts.Logger
	if ctx.Err() != nil {
		log.DebugContext(ctx, "pmtiles: handler: client gone", "err", err)
		return
	}
	status := privates3.HTTPStatus(err)
	switch {
	case errors.Is(err, ErrInvalidTile):
		status = http.StatusBadRequest
	case errors.Is(err, privates3.ErrPreconditionFailed):
		status = http.StatusServiceUnavailable // the archive was replaced twice during one request: try again soon
	case status == http.StatusForbidden:
		log.WarnContext(ctx, "pmtiles: handler: access denied by AWS", "err", err)
	}
	if status == http.StatusBadGateway || status == http.StatusGatewayTimeout || status == http.StatusServiceUnavailable {
		log.WarnContext(ctx, "pmtiles: handler: failure", "status", status, "err", err)
	}
	privates3.WriteError(w, status)
}

// lengthWriter sets Content-Length on a 200 answer without one (ServeContent leaves it out when
// Content-Encoding is set), so that encoded tiles are not sent chunked.
type lengthWriter struct {
	http.ResponseWriter
	n int
}

func (lw *lengthWriter) WriteHeader(status int) {
	if status == http.StatusOK && lw.Header().Get("Content-Length") == "" {
		lw.Header().Set("Content-Length", strconv.Itoa(lw.n))
	}
	lw.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (lw *lengthWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }
