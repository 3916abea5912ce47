package aws

import (
	"fmt"
	"testing"

	"github.com/headroom-dev/headroom/internal/awstest"
)

// BenchmarkNodeGroups reads N nodegroups (half managed, half self-managed,
// 4 instances each) through the real SDK against awstest on loopback:
// the cost of one tick's cloud read, serialization and signing included.
func BenchmarkNodeGroups(b *testing.B) {
	for _, n := range []int{10, 50, 200} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			srv, url := awstest.NewTest(b)
			var groups []NodeGroup
			four := []awstest.Instance{{}, {}, {}, {}}
			for i := range n {
				name := fmt.Sprintf("g-%03d", i)
				if i%2 == 0 {
					srv.PutGroup(awstest.Group{Name: name, Max: 10, Desired: 4, Instances: four})
					groups = append(groups, NodeGroup{Name: name, Kind: "asg"})
					continue
				}
				srv.PutGroup(awstest.Group{Name: "eks-" + name, Max: 10, Desired: 4, Instances: four})
				srv.PutNodegroup(awstest.Nodegroup{Cluster: testCluster, Name: name, Group: "eks-" + name})
				groups = append(groups, NodeGroup{Name: name, Kind: "eks-managed"})
			}
			c := newTestCloud(b, url, groups)
			b.ReportAllocs()
			for b.Loop() {
				gs, err := c.NodeGroups(ctx)
				if err != nil || len(gs) != n {
					b.Fatal(len(gs), err)
				}
				srv.ResetRequests()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "groups/s")
		})
	}
}
