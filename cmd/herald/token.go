package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/auth"
)

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Make API tokens for herald serve --auth-file"}
	var topics string
	var actions []string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Print a new random API token and the --auth-file entry that grants it",
		Long: "Print a new random API token (give it to the client, once: Herald keeps only its\n" +
			"SHA-256) and the JSON entry to add to the \"tokens\" list of an --auth-file.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g := auth.Grant{Topics: topics}
			for _, s := range actions {
				act := auth.Action(s)
				if act != auth.Publish && act != auth.Consume && act != auth.Admin {
					return fmt.Errorf("--action %q: want publish, consume or admin", s)
				}
				g.Actions = append(g.Actions, act)
			}
			var raw [32]byte
			rand.Read(raw[:])
			token := "hrld_" + base64.RawURLEncoding.EncodeToString(raw[:])
			sum := sha256.Sum256([]byte(token))
			ft := auth.FileToken{Name: args[0], SHA256: hex.EncodeToString(sum[:]), Grants: []auth.Grant{g}}
			if err := ft.Check(); err != nil { // what herald serve would refuse
				return fmt.Errorf("token %q, --topics %q: %w", args[0], topics, err)
			}
			entry, _ := json.Marshal(ft)
			fmt.Fprintf(a.stdout, "token: %s\nauth-file entry: %s\n", token, entry)
			return nil
		},
	}
	create.Flags().StringVar(&topics, "topics", "*", "the topics the token may act on: a name, or a pattern with *")
	create.Flags().StringSliceVar(&actions, "action", []string{"publish", "consume"}, "what it may do: publish, consume, admin (repeat or comma-separate)")
	cmd.AddCommand(create)
	return cmd
}
