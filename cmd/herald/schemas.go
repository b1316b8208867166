package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/server"
)

func (a *app) schemasCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "schemas", Short: "Register, list, show, check and compare event schemas; set compatibility",
		Long: "The schema registry keeps versions of a JSON Schema per event type (the subject). Topics whose\n" +
			"schemaPolicy is validate or require check each published event against its type's schema.\n" +
			"These commands use the registry's HTTP API, compatible with Confluent Schema Registry's, at\n" +
			"--server + /schema-registry."}
	cmd.AddCommand(a.schemasRegisterCmd(), a.schemasListCmd(), a.schemasShowCmd(), a.schemasCheckCmd(),
		a.schemasDiffCmd(), a.schemasConfigCmd(), a.schemasDeleteCmd())
	return cmd
}

// readSchemaFile reads a schema from a file, or stdin for "-", refusing
// more than the registry takes and text that is not UTF-8.
func (a *app) readSchemaFile(name string) ([]byte, error) {
	const what = "1 MiB, more than the schema registry takes in one schema"
	var b []byte
	var err error
	if name == "-" {
		b, err = readLimited(a.stdin, "standard input", schema.MaxSchemaBytes, what)
	} else {
		var f *os.File
		if f, err = os.Open(name); err == nil {
			b, err = readLimited(f, name, schema.MaxSchemaBytes, what)
			f.Close()
		}
	}
	if err == nil {
		// Refused as the registry refuses it: the request carries the
		// schema as a JSON string, which would turn each invalid byte
		// into U+FFFD and so send another schema.
		err = schema.CheckText(b)
	}
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	return b, nil
}

// errEmptySubject refuses --subject "": a subject is an event type.
var errEmptySubject = errors.New("--subject is empty: give the event type the schema is for")

// schemaBody is the request body that carries a schema.
func schemaBody(text []byte) server.RegistrySchemaRequest {
	return server.RegistrySchemaRequest{Schema: string(text), SchemaType: "JSON"}
}

func (a *app) schemasRegisterCmd() *cobra.Command {
	var subject, level string
	cmd := &cobra.Command{
		Use:   "register FILE --subject TYPE",
		Short: "Register the JSON Schema in FILE (- for stdin) as the next version of an event type's schema",
		Long: "Register the JSON Schema in FILE as the next version of the subject (the event type). A schema\n" +
			"the subject already has is not registered again. A schema that breaks the subject's\n" +
			"compatibility level is refused, and each breaking change is printed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			if level != "" {
				return a.registerAtLevel(cmd.Context(), c, subject, level, text)
			}
			return a.register(cmd.Context(), c, subject, text)
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "", "the event type the schema is for (required)")
	cmd.Flags().StringVar(&level, "compatibility", "", "set the subject's compatibility level first (kept only if the schema is registered): NONE, BACKWARD, FORWARD, FULL or a _TRANSITIVE one")
	cmd.MarkFlagRequired("subject")
	return cmd
}

// registerAtLevel sets the subject's compatibility level, then registers;
// when the registration fails, it puts back the level the subject had.
func (a *app) registerAtLevel(ctx context.Context, c *client, subject, level string, text []byte) error {
	own, err := ownLevel(ctx, c, subject)
	if err != nil {
		return err
	}
	if err := setLevel(ctx, c, subject, level); err != nil {
		return err
	}
	err = a.register(ctx, c, subject, text)
	if err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout) // even after an interrupt
	defer cancel()
	if rerr := restoreLevel(ctx, c, subject, own); rerr != nil {
		return fmt.Errorf("%w; the compatibility level of %s stays %s, as putting the old one back failed: %v",
			err, subject, strings.ToUpper(level), rerr)
	}
	return err
}

// ownLevel returns the subject's own compatibility level, or "" when it
// follows the global level.
func ownLevel(ctx context.Context, c *client, subject string) (string, error) {
	var cfg server.RegistryConfig
	err := c.getJSON(ctx, registryPath("config", subject), &cfg)
	var re *registryError
	if errors.As(err, &re) && re.ErrorCode == 40408 {
		return "", nil
	}
	return cfg.CompatibilityLevel, err
}

// restoreLevel gives the subject back the level ownLevel returned.
func restoreLevel(ctx context.Context, c *client, subject, own string) error {
	if own != "" {
		return setLevel(ctx, c, subject, own)
	}
	_, err := c.do(ctx, http.MethodDelete, registryPath("config", subject), nil, nil)
	return err
}

func (a *app) register(ctx context.Context, c *client, subject string, text []byte) error {
	var found server.RegistryVersion
	_, err := c.sendJSON(ctx, http.MethodPost, registryPath("subjects", subject), schemaBody(text), &found)
	var re *registryError
	switch {
	case err == nil:
		_, err = fmt.Fprintf(a.stdout, "%s already has this schema as version %d (id %d)\n", subject, found.Version, found.ID)
		return err
	case !errors.As(err, &re) || (re.ErrorCode != 40401 && re.ErrorCode != 40403):
		return err
	}
	var reg server.RegistryRegistered
	_, err = c.sendJSON(ctx, http.MethodPost, registryPath("subjects", subject, "versions"), schemaBody(text), &reg)
	if errors.As(err, &re) && re.ErrorCode == 409 {
		if res, cerr := checkSchema(ctx, c, subject, "", text); cerr == nil {
			a.printChanges(res.Changes)
		}
		return fmt.Errorf("the schema is incompatible with %s, not registered: %w", subject, err)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "registered %s version %d (id %d); events name it with dataschema %s\n",
		subject, reg.Version, reg.ID, schema.URI(subject, reg.Version))
	return err
}

func setLevel(ctx context.Context, c *client, subject, level string) error {
	path := registryPath("config")
	if subject != "" {
		path = registryPath("config", subject)
	}
	_, err := c.sendJSON(ctx, http.MethodPut, path, server.RegistryConfigRequest{Compatibility: strings.ToUpper(level)}, nil)
	return err
}

func (a *app) schemasListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the subjects (event types) with their latest version and compatibility level",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			rows, err := listSubjects(cmd.Context(), c)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(a.stdout, rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBJECT\tVERSIONS\tLATEST\tID\tCOMPATIBILITY")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.Subject, len(r.Versions), r.Latest, r.ID, r.Compatibility)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per subject instead of a table")
	return cmd
}

// subjectRow is a line of schemas list.
type subjectRow struct {
	Subject       string `json:"subject"`
	Versions      []int  `json:"versions"`
	Latest        int    `json:"latest"`
	ID            int    `json:"id"`
	Compatibility string `json:"compatibility"`
}

func listSubjects(ctx context.Context, c *client) ([]subjectRow, error) {
	var subjects []string
	if err := c.getJSON(ctx, registryPath("subjects"), &subjects); err != nil {
		return nil, err
	}
	rows := []subjectRow{}
	for _, s := range subjects {
		r := subjectRow{Subject: s}
		var latest server.RegistryVersion
		var cfg server.RegistryConfig
		if err := c.getJSON(ctx, registryPath("subjects", s, "versions"), &r.Versions); err != nil {
			return nil, err
		}
		if err := c.getJSON(ctx, registryPath("subjects", s, "versions", "latest"), &latest); err != nil {
			return nil, err
		}
		if err := c.getJSON(ctx, registryPath("config", s)+"?defaultToGlobal=true", &cfg); err != nil {
			return nil, err
		}
		r.Latest, r.ID, r.Compatibility = latest.Version, latest.ID, cfg.CompatibilityLevel
		rows = append(rows, r)
	}
	return rows, nil
}

func (a *app) schemasShowCmd() *cobra.Command {
	var version int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show TYPE",
		Short: "Show a version of an event type's schema (the latest by default)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkVersionFlag(cmd, version); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var v server.RegistryVersion
			if err := c.getJSON(cmd.Context(), registryPath("subjects", args[0], "versions", versionArg(version)), &v); err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(a.stdout, []server.RegistryVersion{v})
			}
			var pretty bytes.Buffer
			if json.Indent(&pretty, []byte(v.Schema), "", "  ") != nil {
				pretty.Reset()
				pretty.WriteString(v.Schema)
			}
			_, err = fmt.Fprintf(a.stdout, "subject:     %s\nversion:     %d\nid:          %d\ndataschema:  %s\n\n%s\n",
				v.Subject, v.Version, v.ID, schema.URI(v.Subject, v.Version), strings.TrimSpace(pretty.String()))
			return err
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version to show (default: the latest)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version as JSON")
	return cmd
}

// versionArg is a version for a path: the number, or latest for 0.
func versionArg(v int) string {
	if v <= 0 {
		return "latest"
	}
	return strconv.Itoa(v)
}

// checkVersionFlag refuses a --version below 1 (versions start at 1),
// which would otherwise read as no --version at all.
func checkVersionFlag(cmd *cobra.Command, v int) error {
	if cmd.Flags().Changed("version") && v < 1 {
		return fmt.Errorf("--version %d: versions start at 1", v)
	}
	return nil
}

func (a *app) schemasConfigCmd() *cobra.Command {
	var set string
	var unset bool
	cmd := &cobra.Command{
		Use:   "config [TYPE]",
		Short: "Show or set the compatibility level of an event type, or the global one",
		Long: "Show the compatibility level that applies to TYPE (its own, or the global one), or without\n" +
			"TYPE the global level. --set changes it: NONE, BACKWARD (the default), BACKWARD_TRANSITIVE,\n" +
			"FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE. --unset makes TYPE follow the global\n" +
			"level again.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subject := ""
			if len(args) == 1 {
				subject = args[0]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			switch {
			case set != "" && unset:
				return errors.New("give --set or --unset, not both")
			case set != "":
				if err := setLevel(cmd.Context(), c, subject, set); err != nil {
					return err
				}
			case unset:
				if subject == "" {
					return errors.New("--unset needs a TYPE; set the global level with --set")
				}
				if _, err := c.do(cmd.Context(), http.MethodDelete, registryPath("config", subject), nil, nil); err != nil {
					return err
				}
			}
			return a.showLevel(cmd.Context(), c, subject)
		},
	}
	cmd.Flags().StringVar(&set, "set", "", "set the level")
	cmd.Flags().BoolVar(&unset, "unset", false, "remove TYPE's own level, so that the global level applies")
	return cmd
}

func (a *app) showLevel(ctx context.Context, c *client, subject string) error {
	var cfg server.RegistryConfig
	if subject == "" {
		if err := c.getJSON(ctx, registryPath("config"), &cfg); err != nil {
			return err
		}
		_, err := fmt.Fprintf(a.stdout, "global: %s\n", cfg.CompatibilityLevel)
		return err
	}
	own, err := ownLevel(ctx, c, subject)
	if err != nil {
		return err
	}
	if own != "" {
		_, err = fmt.Fprintf(a.stdout, "%s: %s\n", subject, own)
		return err
	}
	if err := c.getJSON(ctx, registryPath("config"), &cfg); err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s: %s (the global level)\n", subject, cfg.CompatibilityLevel)
	return err
}

func (a *app) schemasDeleteCmd() *cobra.Command {
	var version int
	var permanent bool
	cmd := &cobra.Command{
		Use:   "delete TYPE",
		Short: "Delete a version of an event type's schema (--version), or all of them",
		Long: "Soft delete a version (or, without --version, every version) of TYPE's schema: it is no longer\n" +
			"listed, checked against or used to validate events. --permanent then removes what was soft\n" +
			"deleted, for good.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkVersionFlag(cmd, version); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			query := ""
			if permanent {
				query = "?permanent=true"
			}
			how := "soft deleted"
			if permanent {
				how = "permanently deleted"
			}
			if version > 0 {
				path := registryPath("subjects", args[0], "versions", strconv.Itoa(version)) + query
				if _, err := c.do(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s version %d of %s\n", how, version, args[0])
				return err
			}
			resp, err := c.do(cmd.Context(), http.MethodDelete, registryPath("subjects", args[0])+query, nil, nil)
			if err != nil {
				return err
			}
			var versions []int
			if err := decodeReply(resp.body, &versions); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s %s: versions %s\n", how, args[0], joinInts(versions))
			return err
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "delete only this version")
	cmd.Flags().BoolVar(&permanent, "permanent", false, "remove soft-deleted versions for good")
	return cmd
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
