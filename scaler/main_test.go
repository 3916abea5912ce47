package scaler

import (
	"testing"

	"github.com/headroom-dev/headroom/internal/rapidseed"
)

func TestMain(m *testing.M) { rapidseed.Main(m) }
