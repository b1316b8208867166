package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/log"
)

func (a *app) repairCmd() *cobra.Command {
	var data string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Set damaged data aside so a data directory checks out and opens",
		Long: "Repair a stopped server's data directory: damaged byte ranges are cut out of their\n" +
			"segments, and the good batches around them keep their offsets; damaged indexes are\n" +
			"written anew; damaged topic metadata is rewritten. Nothing is deleted: removed bytes\n" +
			"and replaced files go to <data>/quarantine/<time>/, with report.json saying exactly\n" +
			"what was cut (file, byte range, offsets lost). The directory is checked again after.\n" +
			"It refuses to run while a server has the directory open.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := log.Repair(data, log.RepairOptions{})
			if rep != nil && err == nil {
				err = a.printRepair(rep, asJSON)
			}
			if err != nil {
				return err
			}
			return a.recheck(data, rep, asJSON)
		},
	}
	a.dataFlag(cmd, &data)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func (a *app) printRepair(rep *log.RepairReport, asJSON bool) error {
	if asJSON {
		return writeJSON(a.stdout, rep)
	}
	printActions(a.stdout, rep)
	return nil
}

func printActions(w io.Writer, rep *log.RepairReport) {
	for _, act := range rep.Actions {
		fmt.Fprintf(w, "%s: %s", act.File, act.Action)
		if act.Byte >= 0 && act.EndByte > act.Byte {
			fmt.Fprintf(w, " bytes %d to %d", act.Byte, act.EndByte)
		}
		if act.Lost != nil {
			fmt.Fprintf(w, " (%s lost)", act.Lost)
		}
		fmt.Fprintf(w, ": %s", act.Reason)
		if act.SavedAs != "" {
			fmt.Fprintf(w, "; kept in %s", act.SavedAs)
		}
		fmt.Fprintln(w)
	}
	for _, f := range rep.Unrepaired {
		fmt.Fprintf(w, "not repaired: %s\n", f)
	}
	if rep.Report != "" {
		fmt.Fprintf(w, "%d change(s); report in %s\n", len(rep.Actions), rep.Report)
	}
}

// recheck checks the directory after a repair; anything still wrong
// makes the command fail.
func (a *app) recheck(data string, rep *log.RepairReport, asJSON bool) error {
	after, err := log.Check(data, log.CheckOptions{})
	if err != nil {
		return fmt.Errorf("check after repair: %w", err)
	}
	if !after.OK() {
		if !asJSON {
			printCheck(a.stdout, after)
		}
		return fmt.Errorf("%s still has %s after repair", data, problems(after))
	}
	if len(rep.Unrepaired) > 0 {
		return errors.New("some damage could not be repaired (see above)")
	}
	if !asJSON {
		if len(rep.Actions) == 0 {
			fmt.Fprintf(a.stdout, "nothing to repair: %s\n", checked(after))
		} else {
			fmt.Fprintf(a.stdout, "ok: %s\n", checked(after))
		}
	}
	return nil
}
