package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/log"
)

// dataFlag adds --data to an offline command, defaulting like serve's.
func (a *app) dataFlag(cmd *cobra.Command, data *string) {
	def := "./herald-data"
	if env := a.getenv("HERALD_DATA"); env != "" {
		def = env
	}
	cmd.Flags().StringVar(data, "data", def, "data directory (env HERALD_DATA)")
}

func (a *app) checkCmd() *cobra.Command {
	var data string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify a data directory offline and report every problem",
		Long: "Verify a stopped server's data directory: every batch of every segment (framing,\n" +
			"offsets, CRC-32C), every index file and every topic's metadata. Each problem is\n" +
			"reported with its file and byte position. Exits 0 when all is well, 1 otherwise.\n" +
			"It refuses to run while a server has the directory open.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := log.Check(data, log.CheckOptions{})
			if err != nil {
				return err
			}
			if asJSON {
				err = writeJSON(a.stdout, checkJSON{OK: rep.OK(), CheckReport: rep})
			} else {
				printCheck(a.stdout, rep)
			}
			if err == nil && !rep.OK() {
				err = fmt.Errorf("%s: %s", data, problems(rep))
			}
			return err
		},
	}
	a.dataFlag(cmd, &data)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// checkJSON is the --json output of check.
type checkJSON struct {
	OK bool `json:"ok"`
	*log.CheckReport
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printCheck(w io.Writer, rep *log.CheckReport) {
	for _, f := range rep.Findings {
		fmt.Fprintln(w, f)
	}
	if rep.OK() {
		fmt.Fprintf(w, "ok: %s\n", checked(rep))
		return
	}
	fmt.Fprintf(w, "%s; %s\n", checked(rep), problems(rep))
}

func checked(rep *log.CheckReport) string {
	return fmt.Sprintf("checked %d topics, %d partitions, %d segments, %d records (%d bytes)",
		rep.Topics, rep.Partitions, rep.Segments, rep.Records, rep.Bytes)
}

// problems counts the findings by what fixes them.
func problems(rep *log.CheckReport) string {
	onOpen, repair, other := 0, 0, 0
	for _, f := range rep.Findings {
		switch f.FixedBy {
		case "open":
			onOpen++
		case "repair":
			repair++
		default:
			other++
		}
	}
	s := fmt.Sprintf("%d problem(s): %d that herald repair fixes, %d that Herald fixes when it opens the directory", len(rep.Findings), repair, onOpen)
	if other > 0 {
		s += fmt.Sprintf(", %d read error(s)", other)
	}
	return s
}
