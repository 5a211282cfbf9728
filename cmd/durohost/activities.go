package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host/builtin"
)

func activitiesCommand() *cli.Command {
	return &cli.Command{
		Name:      "activities",
		Usage:     "describe the built-in activities that orchestrations run by durohost can call",
		ArgsUsage: "[NAME...]",
		Description: `Prints each built-in activity with its input, output, errors and an example.
An orchestration calls them by name, like any activity. http may contact only the hosts
given with --allow-http; shell runs commands only with --enable-shell.`,
		Action: func(c *cli.Context) error {
			docs := builtin.Docs()
			want := c.Args().Slice()
			var names []string
			for _, d := range docs {
				names = append(names, d.Name)
			}
			for _, w := range want {
				found := false
				for _, n := range names {
					found = found || n == w
				}
				if !found {
					return exitWith(exitError, "activities: no built-in activity %q (there are: %s)", w, strings.Join(names, ", "))
				}
			}
			first := true
			for _, d := range docs {
				if len(want) > 0 && !contains(want, d.Name) {
					continue
				}
				if !first {
					fmt.Fprintln(c.App.Writer)
				}
				first = false
				fmt.Fprint(c.App.Writer, d.String())
			}
			return nil
		},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
