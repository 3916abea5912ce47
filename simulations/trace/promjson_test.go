package trace

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const promOK = `{"status":"success","data":{"resultType":"matrix","result":[
 {"metric":{"class":"b"},"values":[[1700000000,"2"],[1700000060,"4"],[1700000120,"NaN"]]},
 {"metric":{"class":"a"},"values":[[1700000000,"1.5"],[1700000060,"2.5"]]},
 {"metric":{"class":"a","tenant":"x"},"values":[[1700000000,"0.5"]]}]}}`

func TestReadProm(t *testing.T) {
	tr, err := ReadProm(strings.NewReader(promOK), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != FormatRates || tr.Window != time.Minute {
		t.Fatalf("format %s window %v", tr.Format, tr.Window)
	}
	if got := tr.Classes(); len(got) != 2 || got[0] != "a" {
		t.Fatalf("classes %v", got)
	}
	// a's two series summed at 1700000000: 1.5 + 0.5
	if tr.Rates[0].Class != "a" || tr.Rates[0].Rate != 2 || tr.Rates[0].Start.Unix() != 1700000000 {
		t.Errorf("first window %+v", tr.Rates[0])
	}
	if n := len(tr.Rates); n != 4 { // NaN is a gap
		t.Errorf("%d windows, want 4", n)
	}
	// round trip through the rate CSV that trace record writes
	var b bytes.Buffer
	if err := WriteRatesCSV(&b, tr); err != nil {
		t.Fatal(err)
	}
	back, err := Read(&b, ReadOptions{})
	if err != nil {
		t.Fatalf("reading back: %v\n%s", err, b.String())
	}
	if len(back.Rates) != len(tr.Rates) || back.Window != tr.Window {
		t.Errorf("round trip: %d windows of %v, want %d of %v", len(back.Rates), back.Window, len(tr.Rates), tr.Window)
	}
}

func TestReadPromErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, "empty"},
		{`{"status":"error","errorType":"bad_data","error":"parse error"}`, "parse error"},
		{`{"status":"success","data":{"resultType":"vector","result":[]}}`, "matrix"},
		{`{"status":"success","data":{"resultType":"matrix","result":[]}}`, "empty"},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`, "bad value"},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"-1"]]}]}}`, "non-negative"},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["t","1"]]}]}}`, "bad timestamp"},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`, "one sample"},
		{`not json`, "query_range"},
	} {
		_, err := ReadProm(strings.NewReader(c.in), ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40s: error %v, want it to mention %q", c.in, err, c.want)
		}
	}
	if _, err := ReadProm(strings.NewReader(promOK), ReadOptions{MaxBytes: 10}); !IsTooLarge(err) {
		t.Errorf("size limit: %v", err)
	}
	if _, err := ReadProm(strings.NewReader(promOK), ReadOptions{MaxRows: 2}); !IsTooLarge(err) {
		t.Errorf("row limit: %v", err)
	}
}

func FuzzReadProm(f *testing.F) {
	f.Add([]byte(promOK))
	f.Add([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"model":"m"},"values":[[0.5,"1e3"],[1.5,"0"]]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ReadProm(bytes.NewReader(b), ReadOptions{MaxRows: 10000})
		if err != nil {
			return
		}
		if tr.Window <= 0 || len(tr.Rates) == 0 {
			t.Fatalf("accepted a trace with window %v and %d windows", tr.Window, len(tr.Rates))
		}
		for _, r := range tr.Rates {
			if !(r.Rate >= 0) {
				t.Fatalf("negative or NaN rate %v", r.Rate)
			}
		}
		var out bytes.Buffer
		if err := WriteRatesCSV(&out, tr); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSummarize(t *testing.T) {
	tr := &Trace{Format: FormatRequests}
	for i := 0; i < 120; i++ {
		c := "a"
		if i%4 == 0 {
			c = "b"
		}
		tr.Requests = append(tr.Requests, Request{Time: time.Unix(int64(i/2), 0), Class: c, InputTokens: i})
	}
	s := tr.Summarize()
	if s.Rows != 120 || s.Requests != 120 || len(s.Classes) != 2 || s.Classes[1].Share != 0.25 {
		t.Fatalf("%+v", s)
	}
	if s.MeanRate < 2 || s.MeanRate > 2.1 { // 120 requests over 59s
		t.Errorf("mean rate %v", s.MeanRate)
	}
	if s.Peaks[0].Step != "1s" || s.Peaks[0].Rate != 2 {
		t.Errorf("peaks %+v", s.Peaks)
	}
	if s.Tokens == nil || s.Tokens.P95Input != 114 {
		t.Errorf("tokens %+v", s.Tokens)
	}
}
