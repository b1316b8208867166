package main

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/server"
)

// dlqCmd groups the dead-letter commands: list, show and redrive (the
// same as subs deadletters and subs redrive, under the name operators
// look for).
func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and redrive a subscription's dead letters",
	}
	list := a.subsDeadLettersCmd()
	list.Use = "list TOPIC SUBSCRIPTION"
	redrive := a.subsRedriveCmd()
	redrive.Use = "redrive TOPIC SUBSCRIPTION (--all | --id ID...)"
	cmd.AddCommand(list, a.dlqShowCmd(), redrive)
	return cmd
}

func (a *app) dlqShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show TOPIC SUBSCRIPTION EVENT_ID",
		Short: "Print one dead letter as JSON, with why it died",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var list server.DeadLetterList
			path := subPath(args[0], args[1], "/deadletters?limit="+strconv.Itoa(server.MaxDeadLetterLimit)+"&id="+url.QueryEscape(args[2]))
			if err := c.getJSON(cmd.Context(), path, &list); err != nil {
				return err
			}
			for i := len(list.DeadLetters) - 1; i >= 0; i-- { // the newest death of that id
				if d := list.DeadLetters[i]; d.Event.Extensions["deadid"] == args[2] || d.Event.ID == args[2] {
					return writeJSONLines(a.stdout, []server.DeadLetter{d})
				}
			}
			return fmt.Errorf("no dead letter with event id %q in subscription %s of %s", args[2], args[1], args[0])
		},
	}
}
