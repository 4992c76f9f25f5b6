// Command benchtool is the measuring half of bench/run: the shell script
// sets up the tools and files, benchtool times them and reads /proc. Every
// subcommand prints key=value lines on stdout that bench/run collects.
//
//	benchtool ready  [-timeout D] -- CMD ARGS...   exec to READY=1, peak RSS
//	benchtool idle   -pid PID -for D               CPU, wake-ups, RSS, PSS over D
//	benchtool idle   -for D -- CMD ARGS...         the same for a daemon it starts
//	                                               (and its WATCHDOG=1 pings)
//	benchtool react-watch -cert F -key F -pairs DIR -stamp F -n N
//	benchtool react-key   -cert F -key F -n N
//	benchtool wait-files  -dir D -suffix S -n N -timeout D
//	benchtool ports N                              N free loopback TCP ports
//	benchtool stats  [-scale X]                     median/min/max/p50/p99 of stdin
//	benchtool pairs  -dir D -n N [-ca F]            every D/*.crt matches its .key
//	benchtool residency -pid PID [-sym BIN]          resident pages of the executable
//
// It is a tool, not part of the product: it may exit with os.Exit.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool ready|idle|react-watch|react-key|wait-files|stats ...")
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "ready":
		err = cmdReady(args)
	case "idle":
		err = cmdIdle(args)
	case "react-watch":
		err = cmdReactWatch(args)
	case "react-key":
		err = cmdReactKey(args)
	case "wait-files":
		err = cmdWaitFiles(args)
	case "ports":
		err = cmdPorts(args)
	case "stats":
		err = cmdStats(args, os.Stdin, os.Stdout)
	case "pairs":
		err = cmdPairs(args)
	case "residency":
		err = cmdResidency(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
