package main

// The server's metrics: the library's OpenTelemetry instruments (privates3.Config.MeterProvider)
// and the Go runtime's, exported in the Prometheus text format at /metrics from a registry of
// this server's own (never Prometheus's global one, so that embedding stays possible).

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// telemetry is the server's meter provider and the /metrics handler that reads it.
type telemetry struct {
	provider *metric.MeterProvider
	handler  http.Handler
}

// newTelemetry returns a meter provider whose instruments /metrics (handler) exposes, with the Go
// runtime's and the process's metrics beside them.
func newTelemetry() (*telemetry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Without scope labels: every instrument comes from one meter (privates3.MeterName).
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "privates3"))
	return &telemetry{
		provider: metric.NewMeterProvider(metric.WithReader(exp), metric.WithResource(res)),
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}, nil
}

// close stops the meter provider. It is safe on a nil t.
func (t *telemetry) close() {
	if t != nil {
		t.provider.Shutdown(context.Background())
	}
}
