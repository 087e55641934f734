package debugapi

import (
	"os"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}
