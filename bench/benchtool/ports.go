package main

import (
	"fmt"
	"net"
	"strconv"
)

// cmdPorts prints n distinct free TCP ports on 127.0.0.1, one a line.
// Listeners are held until all are chosen so no port repeats.
func cmdPorts(args []string) error {
	n := 1
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 64 {
			return fmt.Errorf("want a count of 1 to 64, got %q", args[0])
		}
		n = v
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
