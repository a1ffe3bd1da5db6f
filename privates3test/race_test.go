//go:build race

package privates3test_test

// raceEnabled is true when the tests run with -race, whose instrumentation makes copying a GiB
// take seconds.
const raceEnabled = true
