package awstest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Auto Scaling's awsQuery protocol: a form POST with Action and
// Version=2011-01-01; lists are "Name.member.N". Answers are
// <ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>, errors
// <ErrorResponse><Error><Type><Code><Message></Error><RequestId>.

const asgNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type asgError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

type asgGroupXML struct {
	ARN               string           `xml:"AutoScalingGroupARN"`
	Name              string           `xml:"AutoScalingGroupName"`
	MinSize           int              `xml:"MinSize"`
	MaxSize           int              `xml:"MaxSize"`
	DesiredCapacity   int              `xml:"DesiredCapacity"`
	DefaultCooldown   int              `xml:"DefaultCooldown"`
	AvailabilityZones []string         `xml:"AvailabilityZones>member"`
	HealthCheckType   string           `xml:"HealthCheckType"`
	CreatedTime       string           `xml:"CreatedTime"`
	Instances         []asgInstanceXML `xml:"Instances>member"`
	Tags              []asgTagXML      `xml:"Tags>member"`
}

type asgInstanceXML struct {
	AvailabilityZone     string `xml:"AvailabilityZone"`
	HealthStatus         string `xml:"HealthStatus"`
	InstanceID           string `xml:"InstanceId"`
	InstanceType         string `xml:"InstanceType,omitempty"`
	LifecycleState       string `xml:"LifecycleState"`
	ProtectedFromScaleIn bool   `xml:"ProtectedFromScaleIn"`
}

type asgTagXML struct {
	Key               string `xml:"Key"`
	PropagateAtLaunch bool   `xml:"PropagateAtLaunch"`
	ResourceID        string `xml:"ResourceId"`
	ResourceType      string `xml:"ResourceType"`
	Value             string `xml:"Value"`
}

type activityXML struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string `xml:"AutoScalingGroupName"`
	Cause                string `xml:"Cause"`
	Description          string `xml:"Description"`
	Progress             int    `xml:"Progress"`
	StartTime            string `xml:"StartTime"`
	StatusCode           string `xml:"StatusCode"`
}

func (s *Server) serveAutoScaling(w http.ResponseWriter, req Request) {
	rid := s.requestID()
	if f, ok := s.takeFault(req.Action); ok {
		writeASGError(w, rid, f.render("autoscaling", req.Action))
		return
	}
	if req.Form.Get("Version") != "2011-01-01" {
		writeASGError(w, rid, Fault{Status: 400, Code: "InvalidAction", Message: "missing or unknown Version"})
		return
	}
	var result any
	var f *Fault
	switch req.Action {
	case "DescribeAutoScalingGroups":
		result, f = s.describeGroups(req.Form)
	case "SetDesiredCapacity":
		result, f = s.setDesiredCapacity(req.Form)
	case "TerminateInstanceInAutoScalingGroup":
		result, f = s.terminateInstance(req.Form)
	default:
		f = &Fault{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", req.Action)}
	}
	if f != nil {
		writeASGError(w, rid, *f)
		return
	}
	type response struct {
		XMLName xml.Name
		Xmlns   string           `xml:"xmlns,attr"`
		Result  any              `xml:",omitempty"`
		Meta    responseMetadata `xml:"ResponseMetadata"`
	}
	out := response{XMLName: xml.Name{Local: req.Action + "Response"}, Xmlns: asgNamespace, Result: result, Meta: responseMetadata{rid}}
	writeXML(w, http.StatusOK, out)
}

func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newUUID()
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(b)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

func writeASGError(w http.ResponseWriter, rid string, f Fault) {
	e := asgError{Xmlns: asgNamespace, RequestID: rid}
	e.Error.Type, e.Error.Code, e.Error.Message = "Sender", f.Code, f.Message
	if f.Status >= 500 {
		e.Error.Type = "Receiver"
	}
	writeXML(w, f.Status, e)
}

func validation(format string, args ...any) *Fault {
	return &Fault{Status: 400, Code: "ValidationError", Message: fmt.Sprintf(format, args...)}
}

// members returns the values of a query-protocol list "name.member.N".
func members(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[fmt.Sprintf("%s.member.%d", name, i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

func (s *Server) describeGroups(form url.Values) (any, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maxRecords := 50
	if v := form.Get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, validation("MaxRecords must be between 1 and 100")
		}
		maxRecords = n
	}
	names := members(form, "AutoScalingGroupNames")
	// "By default, you can only specify up to 50 names. You can optionally
	// increase this limit using the MaxRecords property." (API reference)
	if len(names) > max(50, maxRecords) {
		return nil, validation("The number of AutoScalingGroupNames (%d) exceeds the limit (%d)", len(names), max(50, maxRecords))
	}
	var matched []*Group
	if len(names) == 0 {
		for _, g := range s.groups {
			matched = append(matched, g)
		}
	} else {
		for _, n := range names {
			if g, ok := s.groups[n]; ok && !slices.Contains(matched, g) {
				matched = append(matched, g)
			}
		}
	}
	slices.SortFunc(matched, func(a, b *Group) int { return strings.Compare(a.Name, b.Name) })
	start := 0
	if tok := form.Get("NextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "tok-"))
		if err != nil || n < 0 || n > len(matched) {
			return nil, &Fault{Status: 400, Code: "InvalidNextToken", Message: "The token is not valid."}
		}
		start = n
	}
	end := min(start+maxRecords, len(matched))
	type result struct {
		XMLName   xml.Name      `xml:"DescribeAutoScalingGroupsResult"`
		Groups    []asgGroupXML `xml:"AutoScalingGroups>member"`
		NextToken string        `xml:"NextToken,omitempty"`
	}
	var r result
	r.Groups = []asgGroupXML{}
	for _, g := range matched[start:end] {
		r.Groups = append(r.Groups, groupXML(g))
	}
	if end < len(matched) {
		r.NextToken = fmt.Sprintf("tok-%d", end)
	}
	return r, nil
}

func groupXML(g *Group) asgGroupXML {
	x := asgGroupXML{
		ARN:  fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/%s", Region, Account, g.Name),
		Name: g.Name, MinSize: g.Min, MaxSize: g.Max, DesiredCapacity: g.Desired, DefaultCooldown: 300,
		AvailabilityZones: g.AvailabilityZones, HealthCheckType: "EC2", CreatedTime: "2026-01-01T00:00:00.000Z",
	}
	for _, in := range g.Instances {
		x.Instances = append(x.Instances, asgInstanceXML{AvailabilityZone: in.Zone, HealthStatus: "Healthy", InstanceID: in.ID,
			InstanceType: in.InstanceType, LifecycleState: in.State})
	}
	keys := make([]string, 0, len(g.Tags))
	for k := range g.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		x.Tags = append(x.Tags, asgTagXML{Key: k, Value: g.Tags[k], PropagateAtLaunch: true, ResourceID: g.Name, ResourceType: "auto-scaling-group"})
	}
	return x
}

func (s *Server) setDesiredCapacity(form url.Values) (any, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := form.Get("AutoScalingGroupName")
	g, ok := s.groups[name]
	if !ok {
		return nil, validation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
	}
	n, err := strconv.Atoi(form.Get("DesiredCapacity"))
	if err != nil {
		return nil, validation("DesiredCapacity is required")
	}
	// The messages are the API's own.
	if n > g.Max {
		return nil, validation("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", n, g.Max)
	}
	if n < g.Min {
		return nil, validation("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", n, g.Min)
	}
	g.Desired = n
	s.resize(g)
	return struct {
		XMLName xml.Name `xml:"SetDesiredCapacityResult"`
	}{}, nil
}

func (s *Server) terminateInstance(form url.Values) (any, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := form.Get("InstanceId")
	dec := form.Get("ShouldDecrementDesiredCapacity")
	if dec == "" {
		return nil, validation("ShouldDecrementDesiredCapacity is required")
	}
	for _, g := range s.groups {
		for i := range g.Instances {
			in := &g.Instances[i]
			if in.ID != id {
				continue
			}
			if !live(in.State) {
				// The real message for this case is not documented; the
				// adapter skips the call when Describe shows it terminating.
				return nil, validation("The instance %s is not in InService or Standby or Pending state.", id)
			}
			if dec == "true" {
				if g.Desired <= g.Min {
					return nil, validation("Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.Min)
				}
				g.Desired--
			}
			in.State = Terminating
			act := activityXML{ActivityID: s.newUUID(), AutoScalingGroupName: g.Name, Progress: 0, StatusCode: "InProgress",
				StartTime:   time.Now().UTC().Format(time.RFC3339),
				Description: "Terminating EC2 instance: " + id,
				Cause:       "At " + time.Now().UTC().Format(time.RFC3339) + " instance " + id + " was taken out of service in response to a user request."}
			if dec == "true" {
				act.Cause += ", shrinking the capacity from " + strconv.Itoa(g.Desired+1) + " to " + strconv.Itoa(g.Desired) + "."
			}
			return struct {
				XMLName  xml.Name    `xml:"TerminateInstanceInAutoScalingGroupResult"`
				Activity activityXML `xml:"Activity"`
			}{Activity: act}, nil
		}
	}
	return nil, validation("Instance Id not found - No managed instance found for instance ID: %s", id)
}
