package privates3test

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// Role is an IAM role of a Server, trusted by the base user (who may assume it).
type Role struct {
	// Name is the role's name, used in its ARN (arn:aws:iam::123456789012:role/Name). Required:
	// 1 to 64 characters of [\w+=,.@-].
	Name string
	// Policy is the role's identity policy (a JSON IAM policy document). If empty, the role may
	// do nothing.
	Policy string
	// MaxSessionDuration is the longest session AssumeRole grants (1h to 12h). If zero, 1h.
	MaxSessionDuration time.Duration
	// ExternalID, if set, must be passed as ExternalId to AssumeRole, as a trust policy with an
	// sts:ExternalId condition requires.
	ExternalID string
}

type role struct {
	Role
	arn    string
	id     string // AROA…
	policy *policyDoc
}

// session is a set of temporary credentials issued by AssumeRole.
type session struct {
	accessKeyID, secret, token string
	expires                    time.Time
	role                       *role
	name                       string     // RoleSessionName
	policy                     *policyDoc // session policy; nil if none
}

func (s *session) arn() string {
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", AccountID, s.role.Name, s.name)
}

// baseUserName is the name of every Server's base IAM user.
const baseUserName = "privates3test"

func baseUserARN() string { return "arn:aws:iam::" + AccountID + ":user/" + baseUserName }

// AddRole adds (or replaces) a role trusted by the base user and returns its ARN. It panics if
// the role is invalid (a programming error): a bad Name, a Policy that is not a valid policy
// document, or a MaxSessionDuration outside 1h to 12h.
func (s *Server) AddRole(r Role) (arn string) {
	if !validRoleName(r.Name) {
		panic(fmt.Sprintf("privates3test: invalid role name %q", r.Name))
	}
	if r.MaxSessionDuration == 0 {
		r.MaxSessionDuration = time.Hour
	}
	if r.MaxSessionDuration < time.Hour || r.MaxSessionDuration > 12*time.Hour {
		panic(fmt.Sprintf("privates3test: role %s: MaxSessionDuration must be between 1h and 12h (got %v)", r.Name, r.MaxSessionDuration))
	}
	doc := &policyDoc{}
	if r.Policy != "" {
		var err error
		if doc, err = parsePolicy(r.Policy); err != nil {
			panic(fmt.Sprintf("privates3test: role %s: invalid policy: %v", r.Name, err))
		}
	}
	arn = "arn:aws:iam::" + AccountID + ":role/" + r.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[arn] = &role{Role: r, arn: arn, id: "AROA" + randomString(17, upperAlnum), policy: doc}
	return arn
}

// ReaderRole returns the ARN of a role (created on first use, named privates3test-reader-BUCKET,
// or with a hash instead of BUCKET if that name would be too long)
// allowed s3:GetObject on arn:aws:s3:::bucket/* and s3:ListBucket on arn:aws:s3:::bucket (so that
// missing keys are 404, as on real S3), with a maximum session duration of 12h.
func (s *Server) ReaderRole(bucket string) string {
	name := "privates3test-reader-" + bucket
	if len(name) > 64 || !validRoleName(name) {
		// Keep names of long buckets unique within IAM's 64 characters.
		sum := md5.Sum([]byte(bucket))
		name = "privates3test-reader-" + hex.EncodeToString(sum[:])
	}
	arn := "arn:aws:iam::" + AccountID + ":role/" + name
	s.mu.Lock()
	_, ok := s.roles[arn]
	s.mu.Unlock()
	if ok {
		return arn
	}
	return s.AddRole(Role{
		Name: name,
		Policy: fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
			`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"},`+
			`{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::%s"}]}`, bucket, bucket),
		MaxSessionDuration: 12 * time.Hour,
	})
}

func validRoleName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	return validNameChars(s)
}

func validNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' ||
			ch == '+' || ch == '=' || ch == ',' || ch == '.' || ch == '@' || ch == '-') {
			return false
		}
	}
	return true
}

// newSession creates and registers temporary credentials for r.
func (s *Server) newSession(r *role, name string, policy *policyDoc, d time.Duration) *session {
	tok := make([]byte, 96)
	_, _ = rand.Read(tok)
	ss := &session{
		accessKeyID: "ASIA" + randomString(16, upperAlnum),
		secret:      randomString(40, secretAlphabet),
		token:       "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(tok),
		expires:     s.Now().Add(d).UTC().Truncate(time.Second),
		role:        r,
		name:        name,
		policy:      policy,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[ss.accessKeyID] = ss
	s.tokens[ss.token] = ss
	return ss
}
