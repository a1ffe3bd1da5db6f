package privates3test_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/privates3/privates3/privates3test"
)

// Environment variables naming a real endpoint for the behaviour suite.
const (
	envRegion      = "PRIVATES3_REAL_REGION"
	envBucket      = "PRIVATES3_REAL_BUCKET"
	envAccessKeyID = "PRIVATES3_REAL_ACCESS_KEY_ID"
	envSecretKey   = "PRIVATES3_REAL_SECRET_ACCESS_KEY"
	envRoleARN     = "PRIVATES3_REAL_ROLE_ARN"
	envEndpoint    = "PRIVATES3_REAL_ENDPOINT"     // optional: S3 endpoint, default AWS's regional one
	envSTSEndpoint = "PRIVATES3_REAL_STS_ENDPOINT" // optional: STS endpoint, default AWS's regional one
	envVirtualHost = "PRIVATES3_REAL_VIRTUAL_HOST" // optional: default s3.REGION.amazonaws.com with AWS's endpoint
)

// TestBehaviour runs the behaviour suite against the fake.
func TestBehaviour(t *testing.T) {
	srv := privates3test.NewServer()
	t.Cleanup(srv.Close)
	privates3test.TestEndpoint(t, fakeEndpoint(srv, "suite"))
}

// TestBehaviourReal runs the behaviour suite against the real S3 and STS named by the
// environment; it is skipped when they are not named.
func TestBehaviourReal(t *testing.T) {
	vars := map[string]string{}
	var missing []string
	for _, name := range []string{envRegion, envBucket, envAccessKeyID, envSecretKey, envRoleARN} {
		vars[name] = os.Getenv(name)
		if vars[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Skip("set " + strings.Join(missing, ", ") + " to run the behaviour suite against a real S3 and STS")
	}
	region := vars[envRegion]
	e := privates3test.Endpoint{
		S3URL:         os.Getenv(envEndpoint),
		STSURL:        os.Getenv(envSTSEndpoint),
		Region:        region,
		Bucket:        vars[envBucket],
		Credentials:   aws.Credentials{AccessKeyID: vars[envAccessKeyID], SecretAccessKey: vars[envSecretKey], Source: "env"},
		ReaderRoleARN: vars[envRoleARN],
		VirtualHost:   os.Getenv(envVirtualHost),
	}
	if e.S3URL == "" {
		e.S3URL = "https://s3." + region + ".amazonaws.com"
		if e.VirtualHost == "" {
			e.VirtualHost = "s3." + region + ".amazonaws.com"
		}
	}
	if e.STSURL == "" {
		e.STSURL = "https://sts." + region + ".amazonaws.com"
	}
	privates3test.TestEndpoint(t, e)
}
