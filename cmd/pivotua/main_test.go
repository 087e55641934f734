package main

import (
	"bytes"
	"strings"
	"testing"
)

// Help and version answer the way Go CLIs do: on stdout, exit 0, whichever
// spelling a user tries first.
func TestHelpAndVersionFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string // a line the output must contain
	}{
		{[]string{"-h"}, "pivotua check-config FILE"},
		{[]string{"--help"}, "pivotua check-config FILE"},
		{[]string{"-help"}, "pivotua check-config FILE"},
		{[]string{"help"}, "pivotua call URI [flags]"},
		{[]string{"--version"}, "pivotua " + version},
		{[]string{"-version"}, "pivotua " + version},
		{[]string{"version"}, "pivotua " + version},
		{[]string{"help", "serve"}, "-config file"},
		{[]string{"serve", "-h"}, "-config file"},
		{[]string{"serve", "--help"}, "-config file"},
		{[]string{"help", "call"}, "-dtmf keys"},
		{[]string{"call", "--help"}, "-dtmf keys"},
		{[]string{"help", "check-config"}, "exits 1"},
		{[]string{"check-config", "-h"}, "exits 1"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != 0 || !strings.Contains(stdout.String(), tc.want) || stderr.Len() != 0 {
			t.Errorf("pivotua %s: exit %d, stdout %q, stderr %q; want exit 0 and stdout containing %q",
				strings.Join(tc.args, " "), code, stdout.String(), stderr.String(), tc.want)
		}
	}
}

func TestUnknownCommandOrFlagFails(t *testing.T) {
	for _, args := range [][]string{{"serv"}, {"help", "serv"}, {"--confg", "x.yaml"}, {"call", "--nope"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("pivotua %s: exit %d, stderr %q; want exit 2 with a message", strings.Join(args, " "), code, stderr.String())
		}
	}
}
