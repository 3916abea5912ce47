package prom

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// Benchmarks: one tick's reads, over loopback HTTP from canned Prometheus
// answers (client_golang's JSON decoding included, which is most of the
// cost), from small to very large fleets. The reference fleet is 200
// classes and 1,000 GPU instances.

func classAnswer(n int, at time.Time, value string) string {
	var b strings.Builder
	ts := strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)
	if value == "" {
		value = ts
	}
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"class":"reader-%04d"},"value":[%s,"%s"]}`, i, ts, value)
	}
	b.WriteString(`]}}`)
	return b.String()
}

func gpuAnswer(n int, at time.Time) string {
	var b strings.Builder
	ts := strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"__name__":"DCGM_FI_DEV_FB_USED","gpu":"%d","UUID":"GPU-%08d","device":"nvidia%d","modelName":"NVIDIA H100 80GB HBM3",`+
			`"Hostname":"ip-10-0-%d-%d.eu-central-1.compute.internal","GPU_I_PROFILE":"1g.10gb","GPU_I_ID":"%d","container":"reader","namespace":"ml",`+
			`"pod":"reader-%04d-%d","instance":"10.0.%d.%d:9400","job":"dcgm-exporter"},"value":[%s,"%d"]}`,
			i%8, i/7, i%8, i/256, i%256, i%7, i/5, i%5, i/256, i%256, ts, 1000+i)
	}
	b.WriteString(`]}}`)
	return b.String()
}

func BenchmarkClassStats(b *testing.B) {
	now := time.Unix(1772445600, 0)
	for _, n := range []int{20, 200, 2000} {
		b.Run(fmt.Sprintf("classes=%d", n), func(b *testing.B) {
			// Every query answers 0.05 per class, the newest-sample
			// query a second before now.
			value := []byte(classAnswer(n, now, "0.05"))
			at := []byte(classAnswer(n, now.Add(-time.Second), ""))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if strings.HasPrefix(r.FormValue("query"), "max by") {
					_, _ = w.Write(at)
					return
				}
				_, _ = w.Write(value)
			}))
			defer srv.Close()
			c := mustNew(b, Options{Address: srv.URL})
			b.ReportAllocs()
			for b.Loop() {
				stats, err := c.ClassStats(b.Context(), now, time.Minute)
				if err != nil || len(stats) != n {
					b.Fatalf("%d rows, %v", len(stats), err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "classes/s")
		})
	}
}

func BenchmarkGPUMemory(b *testing.B) {
	now := time.Unix(1772445600, 0)
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			body := []byte(gpuAnswer(n, now))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(body)
			}))
			defer srv.Close()
			c := mustNew(b, Options{Address: srv.URL, PodClass: func(_, pod string) (string, bool) { return pod[:11], true }})
			b.ReportAllocs()
			for b.Loop() {
				rows, err := c.GPUMemory(b.Context(), now)
				if err != nil || len(rows) != n {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "instances/s")
		})
	}
}

// BenchmarkDecode is this package's own share: decoding results already
// parsed into model.Vector (the JSON parsing above is client_golang's).
func BenchmarkDecode(b *testing.B) {
	now := time.Unix(1772445600, 0)
	for _, n := range []int{200, 1000} {
		b.Run(fmt.Sprintf("classes=%d", n/5), func(b *testing.B) {
			v := mustVector(b, classAnswer(n/5, now, "0.05"))
			at := mustVector(b, classAnswer(n/5, now.Add(-time.Second), ""))
			for b.Loop() {
				var maps [7]map[string]float64
				for i := range maps {
					src := v
					if i == 6 {
						src = at
					}
					maps[i], _, _ = byClass(src, "class")
				}
				if s, _ := assembleClassStats(classParts{maps[0], maps[1], maps[2], maps[3], maps[4], maps[5], maps[6]}, now, time.Minute); len(s) != n/5 {
					b.Fatal(len(s))
				}
			}
			b.ReportMetric(float64(n/5)*float64(b.N)/b.Elapsed().Seconds(), "classes/s")
		})
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			v := mustVector(b, gpuAnswer(n, now))
			l := gpuLabels{profile: "GPU_I_PROFILE", node: "Hostname", pod: "pod", namespace: "namespace"}
			b.ReportAllocs()
			for b.Loop() {
				if rows, _, _ := decodeGPU(v, v, l, func(_, pod string) (string, bool) { return pod[:11], true }); len(rows) != n {
					b.Fatal(len(rows))
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "instances/s")
		})
	}
}

func mustVector(b *testing.B, answer string) model.Vector {
	var r struct {
		Data struct {
			Result model.Vector `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(answer), &r); err != nil {
		b.Fatal(err)
	}
	return r.Data.Result
}
