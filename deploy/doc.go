// Package deploy holds no Go code: it is the home of the manifests that run
// headroom in a cluster (the controller, the router and the readers), and of
// its dashboards and alerts. This file exists so the folder documents itself.
package deploy
