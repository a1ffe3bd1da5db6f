package privates3test

import (
	"encoding/xml"
	"net/http"
	"strconv"
)

// apiError is an error answer of S3 or STS. Its message never contains secrets.
type apiError struct {
	status  int
	code    string
	message string
	extra   []xmlField // additional elements of S3's Error document, in order
	header  http.Header
}

type xmlField struct {
	name, value string
}

func (e *apiError) with(name, value string) *apiError {
	e.extra = append(e.extra, xmlField{name, value})
	return e
}

// xmlElem is an XML element with a name chosen at run time.
type xmlElem struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

func newError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// messageFor returns AWS's message for error codes a Fault may name without one.
func messageFor(code string) string {
	switch code {
	case "SlowDown":
		return "Please reduce your request rate."
	case "InternalError":
		return "We encountered an internal error. Please try again."
	case "ServiceUnavailable":
		return "Service is unable to handle request."
	case "Throttling":
		return "Rate exceeded"
	case "AccessDenied":
		return "Access Denied"
	case "NoSuchKey":
		return "The specified key does not exist."
	case "ExpiredToken":
		return "The provided token has expired."
	case "InvalidToken":
		return "The provided token is malformed or otherwise invalid."
	case "InvalidAccessKeyId":
		return "The AWS Access Key Id you provided does not exist in our records."
	case "RequestTimeout":
		return "Your socket connection to the server was not read from or written to within the timeout period."
	case "InternalFailure":
		return "The request processing has failed because of an unknown error, exception or failure."
	}
	return code
}

// writeS3Error writes e as S3 does: the Error XML document (no body for HEAD) with
// x-amz-request-id.
func writeS3Error(w http.ResponseWriter, r *http.Request, reqID string, e *apiError) {
	h := w.Header()
	for k, v := range e.header {
		h[k] = v
	}
	h.Set("x-amz-request-id", reqID)
	h.Set("x-amz-id-2", hostID(reqID))
	h.Set("Server", "AmazonS3")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.status)
		return
	}
	doc := struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		Extra     []xmlElem
		RequestID string `xml:"RequestId"`
		HostID    string `xml:"HostId"`
	}{Code: e.code, Message: e.message, RequestID: reqID, HostID: hostID(reqID)}
	for _, f := range e.extra {
		doc.Extra = append(doc.Extra, xmlElem{XMLName: xml.Name{Local: f.name}, Value: f.value})
	}
	body, _ := xml.Marshal(doc)
	body = append([]byte(xml.Header), body...)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// stsNamespace is the XML namespace of STS's answers.
const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// writeSTSError writes e as STS does: an ErrorResponse document with x-amzn-RequestId.
func writeSTSError(w http.ResponseWriter, reqID string, e *apiError) {
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	doc := struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		RequestID string `xml:"RequestId"`
	}{Xmlns: stsNamespace, RequestID: reqID}
	doc.Error.Type, doc.Error.Code, doc.Error.Message = typ, e.code, e.message
	body, _ := xml.Marshal(doc)
	body = append([]byte(xml.Header), body...)
	h := w.Header()
	for k, v := range e.header {
		h[k] = v
	}
	writeSTSBody(w, reqID, e.status, body)
}

// writeSTSBody writes body, an STS XML document, with status and x-amzn-RequestId.
func writeSTSBody(w http.ResponseWriter, reqID string, status int, body []byte) {
	h := w.Header()
	h.Set("x-amzn-RequestId", reqID)
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func hostID(reqID string) string { return "privates3test/" + reqID }
