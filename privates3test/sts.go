package privates3test

import (
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxSTSBody is the largest STS request body the fake reads.
const maxSTSBody = 64 << 10

// stsVersion is the only version of the STS query API.
const stsVersion = "2011-06-15"

// serveSTS answers a request of STS's query API.
func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, reqID string) {
	body, params, e := readSTSRequest(r)
	if e != nil {
		writeSTSError(w, reqID, e)
		return
	}
	action := params.Get("Action")
	if action != "" {
		s.count(action, "")
		if f := s.takeFault(action, "", false); f != nil && s.applyFault(w, r, f, reqID, false) {
			return
		}
	}
	id, e := s.authenticate(r, "sts", hexSHA256(body))
	if e != nil {
		writeSTSError(w, reqID, e)
		return
	}
	if e := checkSTSVersion(action, params.Get("Version")); e != nil {
		writeSTSError(w, reqID, e)
		return
	}
	switch action {
	case OpAssumeRole:
		s.assumeRole(w, reqID, id, params)
	case OpGetCallerIdentity:
		s.getCallerIdentity(w, reqID, id)
	default:
		writeSTSError(w, reqID, unknownOperation(action, stsVersion))
	}
}

// readSTSRequest reads the body of an STS request and returns it with the request's
// parameters: those of the query, and those of the body when it is a POSTed form.
func readSTSRequest(r *http.Request) ([]byte, url.Values, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSTSBody+1))
	if err != nil {
		return nil, nil, newError(http.StatusBadRequest, "IncompleteBody", "The request body is incomplete.")
	}
	if len(body) > maxSTSBody {
		return nil, nil, newError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body must be less than 64 KiB.")
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, nil, newError(http.StatusBadRequest, "MalformedQueryString", "The query string is malformed.")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, nil, newError(http.StatusBadRequest, "MalformedQueryString", "The request body is not a valid form.")
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
	}
	return body, params, nil
}

// checkSTSVersion checks that a request names an action and STS's one API version.
func checkSTSVersion(action, version string) *apiError {
	switch {
	case action == "":
		return newError(http.StatusBadRequest, "MissingAction", "Missing Action")
	case version == "":
		return unknownOperation(action, "NO_VERSION_SPECIFIED")
	case version != stsVersion:
		return unknownOperation(action, version)
	}
	return nil
}

// unknownOperation is STS's error for an action it does not have in version.
func unknownOperation(action, version string) *apiError {
	return newError(http.StatusBadRequest, "InvalidAction", "Could not find operation "+truncate(action, 64)+" for version "+truncate(version, 32))
}

func validationError(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "ValidationError", "1 validation error detected: "+fmt.Sprintf(format, args...))
}

// assumeRoleInput is the validated parameters of an AssumeRole request.
type assumeRoleInput struct {
	roleARN, sessionName string
	duration             time.Duration
	policy               *policyDoc // the session policy; nil if none
	policySize           int        // the length of the Policy parameter
	externalID           string
	hasExternalID        bool
}

// assumeRole answers AssumeRole: it validates the parameters, checks that the role trusts the
// caller, and issues a session.
func (s *Server) assumeRole(w http.ResponseWriter, reqID string, id *identity, params url.Values) {
	in, e := parseAssumeRole(params)
	if e != nil {
		writeSTSError(w, reqID, e)
		return
	}
	r, e := s.trustingRole(id, in)
	if e != nil {
		writeSTSError(w, reqID, e)
		return
	}
	ss := s.newSession(r, in.sessionName, in.policy, in.duration)
	writeSTSResult(w, reqID, OpAssumeRole, newAssumeRoleResult(r, ss, in))
}

// parseAssumeRole validates the parameters of AssumeRole in the order STS does.
func parseAssumeRole(params url.Values) (assumeRoleInput, *apiError) {
	in := assumeRoleInput{duration: time.Hour}
	if e := checkRoleNames(params); e != nil {
		return in, e
	}
	in.roleARN, in.sessionName = params["RoleArn"][0], params["RoleSessionName"][0]
	var e *apiError
	if v, ok := params["DurationSeconds"]; ok {
		if in.duration, e = parseDurationSeconds(v[0]); e != nil {
			return in, e
		}
	}
	if v, ok := params["Policy"]; ok {
		if in.policy, e = parseSessionPolicy(v[0]); e != nil {
			return in, e
		}
		in.policySize = len(v[0])
	}
	if v, ok := params["ExternalId"]; ok {
		if len(v[0]) < 2 || len(v[0]) > 1224 {
			return in, validationError("Value at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224")
		}
		in.externalID, in.hasExternalID = v[0], true
	}
	return in, nil
}

// checkRoleNames checks the RoleArn and RoleSessionName parameters.
func checkRoleNames(params url.Values) *apiError {
	roleARN, hasARN := params["RoleArn"]
	sessionName, hasName := params["RoleSessionName"]
	switch {
	case !hasARN:
		return validationError("Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	case !hasName:
		return validationError("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	case len(roleARN[0]) < 20 || len(roleARN[0]) > 2048:
		return validationError("Value at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048")
	case len(sessionName[0]) < 2 || len(sessionName[0]) > 64:
		return validationError("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", truncate(sessionName[0], 64))
	case !validNameChars(sessionName[0]):
		return validationError("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", truncate(sessionName[0], 64))
	}
	return nil
}

// parseDurationSeconds parses the DurationSeconds parameter v (15m to 12h).
func parseDurationSeconds(v string) (time.Duration, *apiError) {
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return 0, newError(http.StatusBadRequest, "InvalidParameterValue", "Value for parameter DurationSeconds is invalid: not an integer")
	case n < 900:
		return 0, validationError("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", n)
	case n > 43200:
		return 0, validationError("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", n)
	}
	return time.Duration(n) * time.Second, nil
}

// parseSessionPolicy parses the Policy parameter text.
func parseSessionPolicy(text string) (*policyDoc, *apiError) {
	if len(text) > 2048 {
		return nil, validationError("Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	p, err := parsePolicy(text)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "MalformedPolicyDocument", "Invalid policy document: "+err.Error())
	}
	return p, nil
}

// trustingRole returns the role that in names if it trusts the caller id with in's parameters.
func (s *Server) trustingRole(id *identity, in assumeRoleInput) (*role, *apiError) {
	s.mu.Lock()
	r := s.roles[in.roleARN]
	s.mu.Unlock()
	denied := newError(http.StatusForbidden, "AccessDenied", "User: "+id.arn()+" is not authorized to perform: sts:AssumeRole on resource: "+truncate(in.roleARN, 2048))
	switch {
	case r == nil, id.session != nil:
		// Unknown roles and roles that do not trust the caller look alike, as on AWS. Only the
		// base user is trusted (no role chaining).
		return nil, denied
	case r.ExternalID != "" && (!in.hasExternalID || in.externalID != r.ExternalID):
		return nil, denied
	case in.duration > r.MaxSessionDuration:
		return nil, newError(http.StatusBadRequest, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	return r, nil
}

// assumeRoleResult is the AssumeRoleResult element of STS's answer.
type assumeRoleResult struct {
	XMLName     xml.Name `xml:"AssumeRoleResult"`
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	} `xml:"Credentials"`
	AssumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	} `xml:"AssumedRoleUser"`
	PackedPolicySize *int `xml:"PackedPolicySize,omitempty"`
}

// newAssumeRoleResult describes the session ss of role r, issued for in.
func newAssumeRoleResult(r *role, ss *session, in assumeRoleInput) *assumeRoleResult {
	res := &assumeRoleResult{}
	c := &res.Credentials
	c.AccessKeyID, c.SecretAccessKey, c.SessionToken = ss.accessKeyID, ss.secret, ss.token
	c.Expiration = ss.expires.UTC().Format(time.RFC3339)
	res.AssumedRoleUser.AssumedRoleID = r.id + ":" + ss.name
	res.AssumedRoleUser.Arn = ss.arn()
	if in.policy != nil {
		// A rough stand-in for AWS's packed size: a percentage of the allowed maximum.
		size := min(100, in.policySize*100/2048)
		res.PackedPolicySize = &size
	}
	return res
}

// callerIdentityResult is the GetCallerIdentityResult element of STS's answer.
type callerIdentityResult struct {
	XMLName xml.Name `xml:"GetCallerIdentityResult"`
	Arn     string   `xml:"Arn"`
	UserID  string   `xml:"UserId"`
	Account string   `xml:"Account"`
}

func (s *Server) getCallerIdentity(w http.ResponseWriter, reqID string, id *identity) {
	res := &callerIdentityResult{Arn: id.arn(), Account: AccountID}
	if id.session != nil {
		res.UserID = id.session.role.id + ":" + id.session.name
	} else {
		res.UserID = "AIDA" + strings.TrimPrefix(s.base.AccessKeyID, "AKIA")
	}
	writeSTSResult(w, reqID, OpGetCallerIdentity, res)
}

// stsResponse is the document of STS's answers: <{Action}Response> around the action's result
// and the request ID.
type stsResponse struct {
	XMLName  xml.Name
	Xmlns    string `xml:"xmlns,attr"`
	Result   any    // a struct whose XMLName names it
	Metadata struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

// writeSTSResult writes the answer to action with its result.
func writeSTSResult(w http.ResponseWriter, reqID, action string, result any) {
	doc := stsResponse{XMLName: xml.Name{Local: action + "Response"}, Xmlns: stsNamespace, Result: result}
	doc.Metadata.RequestID = reqID
	body, err := xml.Marshal(doc)
	if err != nil {
		writeSTSError(w, reqID, newError(http.StatusInternalServerError, "InternalFailure", messageFor("InternalFailure")))
		return
	}
	writeSTSBody(w, reqID, http.StatusOK, body)
}
