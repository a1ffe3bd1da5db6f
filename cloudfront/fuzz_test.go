package cloudfront

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzMatch checks the resource matcher against a regular expression built from the pattern.
func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{{"https://a/tiles/*", "https://a/tiles/1.png"}, {"*?*", "ab"}, {"a*b?c", "axxbyc"}, {"", ""}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for _, r := range []byte(p) {
			switch r {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(string(rune(r))))
			}
		}
		re.WriteString(`\z`)
		// The matcher works on bytes; compare on ASCII only, where bytes and runes agree.
		for i := 0; i < len(p); i++ {
			if p[i] >= 0x80 {
				return
			}
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return
			}
		}
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := match(p, s); got != want {
			t.Fatalf("match(%q, %q) = %v, regexp says %v", p, s, got, want)
		}
	})
}
