package awstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// EKS's restJson1 protocol: the operation is the method and path; errors
// are the status, the X-Amzn-ErrorType header and {"message": ...}.

// eksAction names the operation of a /clusters/ request.
func eksAction(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 4 && parts[2] == "node-groups":
		return "DescribeNodegroup"
	case r.Method == http.MethodPost && len(parts) == 5 && parts[2] == "node-groups" && parts[4] == "update-config":
		return "UpdateNodegroupConfig"
	}
	return "Unknown"
}

func writeEKSError(w http.ResponseWriter, rid string, f Fault) {
	w.Header().Set("X-Amzn-ErrorType", f.Code)
	w.Header().Set("X-Amzn-RequestId", rid)
	writeJSON(w, f.Status, "application/json", map[string]string{"message": f.Message})
}

type eksScaling struct {
	DesiredSize *int `json:"desiredSize,omitempty"`
	MinSize     *int `json:"minSize,omitempty"`
	MaxSize     *int `json:"maxSize,omitempty"`
}

func (s *Server) serveEKS(w http.ResponseWriter, r *http.Request, req Request) {
	rid := s.requestID()
	w.Header().Set("X-Amzn-RequestId", rid)
	if f, ok := s.takeFault(req.Action); ok {
		writeEKSError(w, rid, f.render("eks", req.Action))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if req.Action == "Unknown" {
		writeEKSError(w, rid, Fault{Status: 404, Code: "UnknownOperationException", Message: "unknown operation " + r.Method + " " + r.URL.Path})
		return
	}
	cluster, name := parts[1], parts[3]
	s.mu.Lock()
	defer s.mu.Unlock()
	ng, ok := s.ngs[cluster+"/"+name]
	var g *Group
	if ok {
		g, ok = s.groups[ng.Group]
	}
	if !ok {
		writeEKSError(w, rid, Fault{Status: 404, Code: "ResourceNotFoundException", Message: fmt.Sprintf("No node group found for name: %s.", name)})
		return
	}
	switch req.Action {
	case "DescribeNodegroup":
		writeJSON(w, http.StatusOK, "application/json", map[string]any{"nodegroup": nodegroupJSON(ng, g)})
	case "UpdateNodegroupConfig":
		var in struct {
			ScalingConfig      *eksScaling `json:"scalingConfig"`
			ClientRequestToken string      `json:"clientRequestToken"`
		}
		if err := json.Unmarshal([]byte(req.Body), &in); err != nil {
			writeEKSError(w, rid, Fault{Status: 400, Code: "InvalidParameterException", Message: err.Error()})
			return
		}
		if ng.Status != "ACTIVE" {
			writeEKSError(w, rid, Fault{Status: 409, Code: "ResourceInUseException", Message: fmt.Sprintf("Nodegroup %s is currently %s, an update is in progress.", name, ng.Status)})
			return
		}
		minSize, maxSize, desired := g.Min, g.Max, g.Desired
		if sc := in.ScalingConfig; sc != nil {
			if sc.MinSize != nil {
				minSize = *sc.MinSize
			}
			if sc.MaxSize != nil {
				maxSize = *sc.MaxSize
			}
			if sc.DesiredSize != nil {
				desired = *sc.DesiredSize
			}
		}
		if minSize < 0 || maxSize < 1 || desired < minSize || desired > maxSize {
			writeEKSError(w, rid, Fault{Status: 400, Code: "InvalidParameterException",
				Message: fmt.Sprintf("Minimum capacity %d can't be greater than desired size %d or desired size greater than maximum capacity %d", minSize, desired, maxSize)})
			return
		}
		g.Min, g.Max, g.Desired = minSize, maxSize, desired
		s.resize(g)
		params := []map[string]string{{"type": "DesiredSize", "value": fmt.Sprint(desired)},
			{"type": "MinSize", "value": fmt.Sprint(minSize)}, {"type": "MaxSize", "value": fmt.Sprint(maxSize)}}
		writeJSON(w, http.StatusOK, "application/json", map[string]any{"update": map[string]any{
			"id": s.newUUID(), "status": "InProgress", "type": "ConfigUpdate", "params": params,
			"createdAt": float64(time.Now().Unix()), "errors": []any{},
		}})
	}
}

func nodegroupJSON(ng *Nodegroup, g *Group) map[string]any {
	return map[string]any{
		"nodegroupName": ng.Name,
		"nodegroupArn":  fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/%s/%s/00000000-0000-4000-8000-000000000000", Region, Account, ng.Cluster, ng.Name),
		"clusterName":   ng.Cluster,
		"status":        ng.Status,
		"capacityType":  "ON_DEMAND",
		"scalingConfig": map[string]int{"minSize": g.Min, "maxSize": g.Max, "desiredSize": g.Desired},
		"resources":     map[string]any{"autoScalingGroups": []map[string]string{{"name": g.Name}}},
		"createdAt":     float64(1767225600),
		"modifiedAt":    float64(1767225600),
		"health":        map[string]any{"issues": []any{}},
	}
}
