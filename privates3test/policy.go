package privates3test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// policyDoc is a parsed IAM policy document.
type policyDoc struct {
	statements []statement
}

type statement struct {
	allow        bool
	actions      []string // lower-cased patterns; nil if NotAction is used
	notActions   []string
	resources    []string // patterns; nil if NotResource is used
	notResources []string
	conditional  bool // has a Condition: ignored (never matches)
}

// stringOrList is a JSON string or array of strings.
type stringOrList []string

func (l *stringOrList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = []string{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return errors.New("must be a string or an array of strings")
	}
	*l = ss
	return nil
}

type jsonStatement struct {
	Sid          string          `json:"Sid"`
	Effect       string          `json:"Effect"`
	Action       *stringOrList   `json:"Action"`
	NotAction    *stringOrList   `json:"NotAction"`
	Resource     *stringOrList   `json:"Resource"`
	NotResource  *stringOrList   `json:"NotResource"`
	Condition    json.RawMessage `json:"Condition"`
	Principal    json.RawMessage `json:"Principal"`
	NotPrincipal json.RawMessage `json:"NotPrincipal"`
}

// errPolicyJSON is parsePolicy's error for a document that is not JSON of the expected shape.
var errPolicyJSON = errors.New("the policy is not in the valid JSON format")

// policyVersions are the Version values a policy may have ("" when it has none).
var policyVersions = map[string]bool{"": true, "2012-10-17": true, "2008-10-17": true}

// policyEffects are the Effect values of a statement, and whether each allows.
var policyEffects = map[string]bool{"Allow": true, "Deny": false}

// parsePolicy parses an identity or session policy document. Its errors are short and never
// contain the document.
func parsePolicy(text string) (*policyDoc, error) {
	list, err := policyStatements(text)
	if err != nil {
		return nil, err
	}
	doc := &policyDoc{}
	for _, js := range list {
		s, err := js.compile()
		if err != nil {
			return nil, err
		}
		doc.statements = append(doc.statements, s)
	}
	return doc, nil
}

// policyStatements decodes a policy document, checks its version, and returns its statements
// (a single statement object counts as a list of one).
func policyStatements(text string) ([]jsonStatement, error) {
	var raw struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&raw); err != nil || dec.More() {
		return nil, errPolicyJSON
	}
	if !policyVersions[raw.Version] {
		return nil, errors.New("the policy must contain a valid version string")
	}
	st := bytes.TrimSpace(raw.Statement)
	if len(st) == 0 || string(st) == "null" {
		return nil, errors.New("missing required field Statement")
	}
	if st[0] == '{' {
		var one jsonStatement
		if err := json.Unmarshal(st, &one); err != nil {
			return nil, errPolicyJSON
		}
		return []jsonStatement{one}, nil
	}
	var list []jsonStatement
	if err := json.Unmarshal(st, &list); err != nil {
		return nil, errPolicyJSON
	}
	return list, nil
}

// compile checks a decoded statement and returns it in the form evaluate uses.
func (js *jsonStatement) compile() (statement, error) {
	var s statement
	allow, ok := policyEffects[js.Effect]
	if !ok {
		return s, errors.New("invalid effect: must be Allow or Deny")
	}
	s.allow = allow
	if js.Principal != nil || js.NotPrincipal != nil {
		return s, errors.New("policy document should not specify a principal")
	}
	actions, negated, ok := exactlyOne(js.Action, js.NotAction)
	if !ok {
		return s, errors.New("a statement must have exactly one of Action and NotAction")
	}
	if negated {
		s.notActions = lowerAll(actions)
	} else {
		s.actions = lowerAll(actions)
	}
	resources, negated, ok := exactlyOne(js.Resource, js.NotResource)
	if !ok {
		return s, errors.New("a statement must have exactly one of Resource and NotResource")
	}
	if negated {
		s.notResources = resources
	} else {
		s.resources = resources
	}
	s.conditional = len(js.Condition) > 0 && string(bytes.TrimSpace(js.Condition)) != "null"
	return s, nil
}

// exactlyOne returns the list of a statement element pair (Action and NotAction, Resource and
// NotResource) that is set, and whether it is the Not one; ok is false unless exactly one is set.
func exactlyOne(list, notList *stringOrList) (values []string, negated, ok bool) {
	switch {
	case list != nil && notList == nil:
		return *list, false, true
	case notList != nil && list == nil:
		return *notList, true, true
	}
	return nil, false, false
}

func lowerAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}

// decision is the outcome of evaluating one policy.
type decision int

const (
	implicitDeny decision = iota
	allowed
	explicitDeny
)

// evaluate returns the policy's decision for action on resource.
func (p *policyDoc) evaluate(action, resource string) decision {
	action = strings.ToLower(action)
	d := implicitDeny
	for _, s := range p.statements {
		if s.conditional || !s.matches(action, resource) {
			continue
		}
		if !s.allow {
			return explicitDeny
		}
		d = allowed
	}
	return d
}

func (s *statement) matches(action, resource string) bool {
	if s.actions != nil {
		if !anyMatch(s.actions, action) {
			return false
		}
	} else if anyMatch(s.notActions, action) {
		return false
	}
	if s.resources != nil {
		return anyMatch(s.resources, resource)
	}
	return !anyMatch(s.notResources, resource)
}

func anyMatch(patterns []string, v string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, v) {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern, in which * matches any sequence of
// characters (also empty) and ? any single character.
func wildcardMatch(pattern, s string) bool {
	// Iterative matching with backtracking to the last star: linear in practice.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// authorize decides whether the identity id may perform action on resource: the base user may
// do everything; temporary credentials as their role's policy intersected with their session
// policy allow.
func authorize(id *identity, action, resource string) bool {
	if id.session == nil {
		return true
	}
	rd := id.session.role.policy.evaluate(action, resource)
	if rd != allowed {
		return false
	}
	if sp := id.session.policy; sp != nil {
		return sp.evaluate(action, resource) == allowed
	}
	return true
}
