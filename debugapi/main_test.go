package debugapi

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopTestPostgres()
	os.Exit(code)
}
