package privates3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/privates3/privates3/privates3test"
)

// BenchmarkGetObjectCacheHit reads cached 4 KiB objects from parallel goroutines through
// GetObject (key validation, cache lookup, a reader per caller), side by side with the baseline
// of reading the same bytes from a map under a sync.RWMutex.
func BenchmarkGetObjectCacheHit(b *testing.B) {
	srv, c := newFake(b, nil)
	const n = 100
	keys := make([]string, n)
	baseline := make(map[string][]byte, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%d/%d/%d.png", i%10, i/10, i)
		body := bytes.Repeat([]byte{byte(i)}, 4096)
		srv.PutObject(bucket, keys[i], body)
		baseline[keys[i]] = body
	}
	ctx := b.Context()
	for _, k := range keys { // warm the cache
		obj, err := c.GetObject(ctx, k)
		if err != nil {
			b.Fatal(err)
		}
		readAll(b, obj)
	}

	b.Run("GetObject", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(4096)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				obj, err := c.GetObject(ctx, keys[i%n])
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, obj.Body)
				obj.Body.Close()
			}
		})
	})
	b.Run("RWMutexMap", func(b *testing.B) {
		var mu sync.RWMutex
		b.ReportAllocs()
		b.SetBytes(4096)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				mu.RLock()
				data := baseline[keys[i%n]]
				mu.RUnlock()
				io.Copy(io.Discard, io.NopCloser(bytes.NewReader(data)))
			}
		})
	})
	if st := c.Stats(); st.UpstreamGets != n {
		b.Errorf("UpstreamGets %d, want %d (all but the warm-up were hits)", st.UpstreamGets, n)
	}
}

// BenchmarkGetObjectColdDedup: per op, 100 goroutines ask for the same cold key at once. With
// GetObject they cause one upstream GET (reported as GETs/op); the baseline sends the 100 GETs
// with the SDK directly.
func BenchmarkGetObjectColdDedup(b *testing.B) {
	const callers = 100
	srv, c := newFake(b, nil)
	body := bytes.Repeat([]byte("x"), 16<<10)
	awsCfg := srv.AWSConfig()
	direct := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })

	runs := 0 // keys are new in every run of a sub-benchmark, so that they are cold
	run := func(b *testing.B, name string, get func(ctx context.Context, key string) error) {
		b.Run(name, func(b *testing.B) {
			srv.ResetCounts()
			runs++
			ops := 0
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				key := fmt.Sprintf("%s/%d/%d", name, runs, i)
				srv.PutObject(bucket, key, body)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for range callers {
					wg.Go(func() {
						<-start
						if err := get(b.Context(), key); err != nil {
							b.Error(err)
						}
					})
				}
				b.StartTimer()
				close(start)
				wg.Wait()
				ops++
			}
			b.ReportMetric(float64(srv.Count(privates3test.OpGetObject))/float64(ops), "GETs/op")
		})
	}
	run(b, "GetObject", func(ctx context.Context, key string) error {
		obj, err := c.GetObject(ctx, key)
		if err != nil {
			return err
		}
		defer obj.Body.Close()
		_, err = io.Copy(io.Discard, obj.Body)
		return err
	})
	run(b, "SDKDirect", func(ctx context.Context, key string) error {
		out, err := direct.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		_, err = io.Copy(io.Discard, out.Body)
		return err
	})
	st := c.Stats()
	b.Logf("GetObject: %d upstream GETs, %d callers deduplicated, %d cache hits", st.UpstreamGets, st.Deduplicated, st.CacheHits)
}

// BenchmarkGetObjectLarge streams a 256 MiB object through GetObject and reports the largest
// growth of the heap in use while doing so (peak-heap-MiB), against the object's 256 MiB.
func BenchmarkGetObjectLarge(b *testing.B) {
	const size = 256 << 20
	srv, c := newFake(b, nil)
	srv.PutSyntheticObject(bucket, "big.bin", size)
	var peak uint64
	b.SetBytes(size)
	for b.Loop() {
		p := measurePeakHeap(b, func() {
			obj, err := c.GetObject(b.Context(), "big.bin")
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, obj.Body)
			obj.Body.Close()
			if err != nil || n != size {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		})
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(size>>20, "object-MiB")
}
