package privates3

// Exports of handler internals for the tests of package privates3_test.

// RangeSpecs counts the ranges of a valid Range header value (0 if invalid) and drops the
// unsatisfiable ones.
var RangeSpecs = rangeSpecs

// ETagListMatches evaluates an If-Match (weak=false) or If-None-Match (weak=true) list.
var ETagListMatches = etagListMatches

// ParseContentRange parses "bytes a-b/size".
var ParseContentRange = parseContentRange
