//go:build !unix

package simulations

func cpuSeconds() float64 { return 0 }
