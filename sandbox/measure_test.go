package sandbox

import (
	"strings"
	"testing"
	"time"
)

func TestParseSLO(t *testing.T) {
	in := `# TYPE headroom_router_request_duration_seconds histogram
headroom_router_request_duration_seconds_bucket{class="en",tenant="t",code="200",le="0.25"} 80
headroom_router_request_duration_seconds_bucket{class="en",tenant="t",code="200",le="0.3"} 90
headroom_router_request_duration_seconds_bucket{class="en",tenant="t",code="200",le="+Inf"} 100
headroom_router_request_duration_seconds_sum{class="en",tenant="t",code="200"} 10
headroom_router_request_duration_seconds_count{class="en",tenant="t",code="200"} 100
headroom_router_request_duration_seconds_bucket{class="en",tenant="t",code="503",le="0.3"} 5
headroom_router_request_duration_seconds_bucket{class="en",tenant="t",code="503",le="+Inf"} 5
headroom_router_request_duration_seconds_sum{class="en",tenant="t",code="503"} 0.1
headroom_router_request_duration_seconds_count{class="en",tenant="t",code="503"} 5
headroom_router_request_duration_seconds_bucket{class="de",tenant="t",code="200",le="0.3"} 7
headroom_router_request_duration_seconds_bucket{class="de",tenant="t",code="200",le="+Inf"} 7
headroom_router_request_duration_seconds_sum{class="de",tenant="t",code="200"} 0.1
headroom_router_request_duration_seconds_count{class="de",tenant="t",code="200"} 7
`
	c, err := parseSLO(strings.NewReader(in), "en", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// 90 fast 200s of 105 requests: the 503s count against the SLO.
	if c.Total != 105 || c.WithinSLO != 90 {
		t.Fatalf("%+v, want 90 of 105", c)
	}
	if c, _ := parseSLO(strings.NewReader(in), "en", 280*time.Millisecond); c.WithinSLO != 80 {
		t.Errorf("slo 280ms: %v within, want the 0.25 bucket's 80", c.WithinSLO)
	}
}
