package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/schema/compat"
	"github.com/heraldevents/herald/internal/server"
)

func (a *app) schemasCheckCmd() *cobra.Command {
	var subject string
	var version int
	cmd := &cobra.Command{
		Use:   "check FILE --subject TYPE",
		Short: "Check whether the JSON Schema in FILE could be registered; exit 1 listing each breaking change",
		Long: "Check the JSON Schema in FILE (- for stdin) against the subject's versions, as registering it\n" +
			"would, in the subject's compatibility level; nothing is registered. Prints \"compatible\" and\n" +
			"exits 0, or prints each breaking change and exits 1: a step for a CI pipeline. --version checks\n" +
			"against that version only.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkVersionFlag(cmd, version); err != nil {
				return err
			}
			if subject == "" {
				return errEmptySubject
			}
			text, err := a.readSchemaFile(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			v := ""
			if version > 0 {
				v = strconv.Itoa(version)
			}
			res, err := checkSchema(cmd.Context(), c, subject, v, text)
			if err != nil {
				return err
			}
			if res.IsCompatible {
				_, err := fmt.Fprintf(a.stdout, "compatible with %s (%s)\n", subject, res.Compatibility)
				return err
			}
			n := plural(len(res.Changes), "breaking change")
			fmt.Fprintf(a.stdout, "incompatible with %s (%s): %s\n", subject, res.Compatibility, n)
			a.printChanges(res.Changes)
			return fmt.Errorf("%s is incompatible with %s (%s): %s", args[0], subject, res.Compatibility, n)
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "", "the event type the schema is for (required)")
	cmd.Flags().IntVar(&version, "version", 0, "check against this version only (default: the versions the level covers)")
	cmd.MarkFlagRequired("subject")
	return cmd
}

// checkSchema asks the registry whether text is compatible with the
// subject: with a version, against it; without, as a registration.
func checkSchema(ctx context.Context, c *client, subject, version string, text []byte) (server.RegistryCheck, error) {
	path := registryPath("compatibility", "subjects", subject, "versions")
	if version != "" {
		path = registryPath("compatibility", "subjects", subject, "versions", version)
	}
	var res server.RegistryCheck
	_, err := c.sendJSON(ctx, http.MethodPost, path+"?verbose=true", schemaBody(text), &res)
	return res, err
}

// printChanges writes one breaking change a line.
func (a *app) printChanges(changes []compat.Change) {
	for _, ch := range changes {
		fmt.Fprintf(a.stdout, "  %s\n", schema.FormatChange(ch))
	}
}

func (a *app) schemasDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff TYPE V1 V2",
		Short: "Show what breaks between two versions of an event type's schema, both ways",
		Long: "Compare versions V1 and V2 of TYPE's schema both ways: backward (V2 reading data written\n" +
			"for V1) and forward (V1 reading data written for V2), listing each change that breaks.",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			subject := args[0]
			c, err := a.client()
			if err != nil {
				return err
			}
			var texts [2][]byte
			for i, v := range args[1:] {
				if _, err := strconv.Atoi(v); err != nil {
					return fmt.Errorf("version %q: give a version number", v)
				}
				resp, err := c.do(cmd.Context(), http.MethodGet, registryPath("subjects", subject, "versions", v, "schema")+"?deleted=true", nil, nil)
				if err != nil {
					return err
				}
				texts[i] = resp.body
			}
			return a.printDiff(subject, args[1], args[2], texts[0], texts[1])
		},
	}
}

func (a *app) printDiff(subject, v1, v2 string, old, new []byte) error {
	directions := []struct {
		name, reader, writer string
		r, w                 []byte
	}{
		{"backward", v2, v1, new, old},
		{"forward", v1, v2, old, new},
	}
	for _, d := range directions {
		changes, err := compat.Differences(d.r, d.w)
		if err != nil {
			return fmt.Errorf("compare versions %s and %s of %s: %w", v1, v2, subject, err)
		}
		fmt.Fprintf(a.stdout, "%s (version %s reading data written for version %s): ", d.name, d.reader, d.writer)
		if len(changes) == 0 {
			fmt.Fprintln(a.stdout, "compatible")
			continue
		}
		fmt.Fprintln(a.stdout, plural(len(changes), "breaking change"))
		a.printChanges(changes)
	}
	return nil
}
