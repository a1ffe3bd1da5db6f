package privates3

// Exports of handler internals for the tests of package privates3_test.

// SingleRange reports whether a Range header value is forwarded to S3 (one well-formed range).
var SingleRange = singleRange

// ETagListMatches evaluates an If-Match (weak=false) or If-None-Match (weak=true) list.
var ETagListMatches = etagListMatches

// ParseContentRange parses "bytes a-b/size".
var ParseContentRange = parseContentRange
