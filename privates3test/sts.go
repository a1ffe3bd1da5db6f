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

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, reqID string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSTSBody+1))
	if err != nil {
		writeSTSError(w, reqID, newError(http.StatusBadRequest, "IncompleteBody", "The request body is incomplete."))
		return
	}
	if len(body) > maxSTSBody {
		writeSTSError(w, reqID, newError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body must be less than 64 KiB."))
		return
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeSTSError(w, reqID, newError(http.StatusBadRequest, "MalformedQueryString", "The query string is malformed."))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeSTSError(w, reqID, newError(http.StatusBadRequest, "MalformedQueryString", "The request body is not a valid form."))
			return
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
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
	version := params.Get("Version")
	switch {
	case action == "":
		writeSTSError(w, reqID, newError(http.StatusBadRequest, "MissingAction", "Missing Action"))
		return
	case version != stsVersion:
		if version == "" {
			version = "NO_VERSION_SPECIFIED"
		}
		writeSTSError(w, reqID, newError(http.StatusBadRequest, "InvalidAction", "Could not find operation "+truncate(action, 64)+" for version "+truncate(version, 32)))
		return
	}
	switch action {
	case OpAssumeRole:
		s.assumeRole(w, reqID, id, params)
	case OpGetCallerIdentity:
		s.getCallerIdentity(w, reqID, id)
	default:
		writeSTSError(w, reqID, newError(http.StatusBadRequest, "InvalidAction", "Could not find operation "+truncate(action, 64)+" for version "+stsVersion))
	}
}

func validationError(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "ValidationError", "1 validation error detected: "+fmt.Sprintf(format, args...))
}

func (s *Server) assumeRole(w http.ResponseWriter, reqID string, id *identity, params url.Values) {
	roleARN, hasARN := params["RoleArn"]
	sessionName, hasName := params["RoleSessionName"]
	switch {
	case !hasARN:
		writeSTSError(w, reqID, validationError("Value null at 'roleArn' failed to satisfy constraint: Member must not be null"))
		return
	case !hasName:
		writeSTSError(w, reqID, validationError("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"))
		return
	case len(roleARN[0]) < 20 || len(roleARN[0]) > 2048:
		writeSTSError(w, reqID, validationError("Value at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048"))
		return
	case len(sessionName[0]) < 2 || len(sessionName[0]) > 64:
		writeSTSError(w, reqID, validationError("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", truncate(sessionName[0], 64)))
		return
	case !validNameChars(sessionName[0]):
		writeSTSError(w, reqID, validationError("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", truncate(sessionName[0], 64)))
		return
	}
	duration := time.Hour
	if v, ok := params["DurationSeconds"]; ok {
		n, err := strconv.Atoi(v[0])
		switch {
		case err != nil:
			writeSTSError(w, reqID, newError(http.StatusBadRequest, "InvalidParameterValue", "Value for parameter DurationSeconds is invalid: not an integer"))
			return
		case n < 900:
			writeSTSError(w, reqID, validationError("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", n))
			return
		case n > 43200:
			writeSTSError(w, reqID, validationError("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", n))
			return
		}
		duration = time.Duration(n) * time.Second
	}
	var sessionPolicy *policyDoc
	if v, ok := params["Policy"]; ok {
		if len(v[0]) > 2048 {
			writeSTSError(w, reqID, validationError("Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048"))
			return
		}
		p, err := parsePolicy(v[0])
		if err != nil {
			writeSTSError(w, reqID, newError(http.StatusBadRequest, "MalformedPolicyDocument", "Invalid policy document: "+err.Error()))
			return
		}
		sessionPolicy = p
	}
	externalID, hasExternalID := params["ExternalId"]
	if hasExternalID && (len(externalID[0]) < 2 || len(externalID[0]) > 1224) {
		writeSTSError(w, reqID, validationError("Value at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224"))
		return
	}

	s.mu.Lock()
	r := s.roles[roleARN[0]]
	s.mu.Unlock()
	denied := newError(http.StatusForbidden, "AccessDenied", "User: "+id.arn()+" is not authorized to perform: sts:AssumeRole on resource: "+truncate(roleARN[0], 2048))
	switch {
	case r == nil, id.session != nil:
		// Unknown roles and roles that do not trust the caller look alike, as on AWS. Only the
		// base user is trusted (no role chaining).
		writeSTSError(w, reqID, denied)
		return
	case r.ExternalID != "" && (!hasExternalID || externalID[0] != r.ExternalID):
		writeSTSError(w, reqID, denied)
		return
	case duration > r.MaxSessionDuration:
		writeSTSError(w, reqID, newError(http.StatusBadRequest, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."))
		return
	}

	ss := s.newSession(r, sessionName[0], sessionPolicy, duration)
	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type result struct {
		Credentials     credentials `xml:"Credentials"`
		AssumedRoleUser struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string `xml:"Arn"`
		} `xml:"AssumedRoleUser"`
		PackedPolicySize *int `xml:"PackedPolicySize,omitempty"`
	}
	doc := struct {
		XMLName  xml.Name `xml:"AssumeRoleResponse"`
		Xmlns    string   `xml:"xmlns,attr"`
		Result   result   `xml:"AssumeRoleResult"`
		Metadata struct {
			RequestID string `xml:"RequestId"`
		} `xml:"ResponseMetadata"`
	}{Xmlns: stsNamespace}
	doc.Result.Credentials = credentials{
		AccessKeyID:     ss.accessKeyID,
		SecretAccessKey: ss.secret,
		SessionToken:    ss.token,
		Expiration:      ss.expires.UTC().Format(time.RFC3339),
	}
	doc.Result.AssumedRoleUser.AssumedRoleID = r.id + ":" + ss.name
	doc.Result.AssumedRoleUser.Arn = ss.arn()
	if sessionPolicy != nil {
		// A rough stand-in for AWS's packed size: a percentage of the allowed maximum.
		size := min(100, len(params.Get("Policy"))*100/2048)
		doc.Result.PackedPolicySize = &size
	}
	doc.Metadata.RequestID = reqID
	writeSTSResult(w, reqID, doc)
}

func (s *Server) getCallerIdentity(w http.ResponseWriter, reqID string, id *identity) {
	doc := struct {
		XMLName xml.Name `xml:"GetCallerIdentityResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Result  struct {
			Arn     string `xml:"Arn"`
			UserID  string `xml:"UserId"`
			Account string `xml:"Account"`
		} `xml:"GetCallerIdentityResult"`
		Metadata struct {
			RequestID string `xml:"RequestId"`
		} `xml:"ResponseMetadata"`
	}{Xmlns: stsNamespace}
	doc.Result.Arn = id.arn()
	doc.Result.Account = AccountID
	if id.session != nil {
		doc.Result.UserID = id.session.role.id + ":" + id.session.name
	} else {
		doc.Result.UserID = "AIDA" + strings.TrimPrefix(s.base.AccessKeyID, "AKIA")
	}
	doc.Metadata.RequestID = reqID
	writeSTSResult(w, reqID, doc)
}

func writeSTSResult(w http.ResponseWriter, reqID string, doc any) {
	body, err := xml.Marshal(doc)
	if err != nil {
		writeSTSError(w, reqID, newError(http.StatusInternalServerError, "InternalFailure", messageFor("InternalFailure")))
		return
	}
	h := w.Header()
	h.Set("x-amzn-RequestId", reqID)
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
