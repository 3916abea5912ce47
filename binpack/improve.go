package binpack

// improve tries to lower a solution's cost after packing.
func (m *model) improve(s *solution, pi []float64, opts Options) {}
