package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/ticketsync/ticketsync/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

var versionSpec = cli.Spec{
	Name:    "version",
	Summary: "Print the version of ticketsync, the Go version and the platform.",
}

func versionCmd(args []string, stdout, stderr io.Writer) int {
	cmd := versionSpec.New()
	if code, ok := cmd.Parse(args, stdout, stderr); !ok {
		return code
	}
	fmt.Fprintln(stdout, versionString())
	return 0
}

func versionString() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("ticketsync %s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
