// Command herald is the Herald event platform: `herald serve` runs the
// server; the other commands talk to a server over its HTTP API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// defaultServer is the server URL when neither --server nor HERALD_SERVER
// says otherwise.
const defaultServer = "http://127.0.0.1:7440"

// app holds what commands share: standard streams, the environment and
// the --server flag. Tests make their own.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	http   *http.Client

	server string    // --server
	tls    clientTLS // --ca-file, --client-cert, --client-key
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	onSignals(cancel, os.Stderr)
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, http: http.DefaultClient}
	code := a.execute(ctx, os.Args[1:])
	cancel()
	os.Exit(code)
}

// onSignals makes the first SIGINT or SIGTERM cancel the command (herald
// serve then shuts down gracefully, waiting for requests in flight), and a
// second one end the process at once: as after a crash, every event
// acknowledged is on disk. Signals within signalRepeat of the first are
// that one delivered again (timeout(1) signals the process, then its
// process group), not a second request.
func onSignals(cancel context.CancelFunc, stderr io.Writer) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		first := time.Now()
		for sig := range sigs {
			if time.Since(first) >= signalRepeat {
				fmt.Fprintf(stderr, "herald: second signal (%s): exiting without waiting for requests in flight\n", sig)
				os.Exit(1)
			}
		}
	}()
}

// signalRepeat is how long after the first signal another is taken for
// the same one delivered twice.
const signalRepeat = time.Second

// execute runs a command line and returns the exit code. An error is
// printed as one line: "herald: <message>". The SDK's errors (bench, soak)
// begin with "herald: " already, as a Go library's do; it is not doubled.
func (a *app) execute(ctx context.Context, args []string) int {
	cmd := a.rootCmd()
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(a.stderr, "herald: %s\n", strings.TrimPrefix(oneLine(err.Error()), "herald: "))
		return 1
	}
	return 0
}

// flagWants says what a flag of each type of value wants.
var flagWants = map[string]string{
	"int": "a whole number", "int64": "a whole number", "float64": "a number",
	"bool": "true or false", "duration": "a duration such as 30s, 5m or 1h30m",
}

// flagError says what a flag wants when its value does not parse, without
// Go's parser in the message: `--partitions "abc": want a whole number`.
// Other flag errors (unknown flags, a missing value) stay as they are.
func flagError(_ *cobra.Command, err error) error {
	var ie *pflag.InvalidValueError
	if !errors.As(err, &ie) {
		return err
	}
	name, value := "--"+ie.GetFlag().Name, ie.GetValue()
	want, ok := flagWants[ie.GetFlag().Value.Type()]
	switch {
	case !ok:
		return fmt.Errorf("%s %q: %w", name, value, ie.Unwrap()) // the flag's own message
	case errors.Is(err, strconv.ErrRange) && strings.HasPrefix(value, "-"):
		return fmt.Errorf("%s %q: the number is too small", name, value)
	case errors.Is(err, strconv.ErrRange):
		return fmt.Errorf("%s %q: the number is too large", name, value)
	}
	return fmt.Errorf("%s %q: want %s", name, value, want)
}

// oneLine joins the lines of a multi-line message.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(strings.TrimSpace(s))
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Herald: event bus, event store and the patterns around them, in one binary",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(flagError)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	server := defaultServer
	if env := a.getenv("HERALD_SERVER"); env != "" {
		server = env
	}
	root.PersistentFlags().StringVar(&a.server, "server", server, "Herald server URL (env HERALD_SERVER)")
	a.tls.addFlags(root.PersistentFlags(), a.getenv)
	root.AddCommand(a.serveCmd(), a.topicsCmd(), a.publishCmd(), a.readCmd(), a.subsCmd(), a.consumeCmd(), a.dlqCmd(),
		a.schemasCmd(), a.benchCmd(), a.tokenCmd(), a.checkCmd(), a.repairCmd(), a.soakCmd())
	for _, c := range root.Commands() {
		failUnknownSubcommands(c)
		refuseEmptyArgs(c)
	}
	return root
}

// failUnknownSubcommands makes each command group under cmd (a command
// with subcommands and nothing to run itself) refuse an argument that
// names none of its subcommands, which cobra would answer with the
// group's help and exit 0; given no argument, a group prints its help.
func failUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		failUnknownSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2 // as cobra's default for the root
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			err = fmt.Errorf("%w; did you mean %q?", err, s[0])
		}
		return err
	}
}

// refuseEmptyArgs makes cmd and the commands under it refuse an empty
// argument. Each names something (a topic, a subscription, a subject, a
// file, a version) or is the data of an event; an empty name would leave
// an empty segment in the request's path, which the server's router
// cleans away, and the request would name another resource.
func refuseEmptyArgs(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseEmptyArgs(c)
	}
	check := cmd.Args
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if i := slices.Index(args, ""); i >= 0 {
			return fmt.Errorf("%s: argument %d is empty", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), i+1)
		}
		if check == nil {
			return nil
		}
		return check(cmd, args)
	}
}

// client returns an API client for --server, with the TLS options given,
// sending the API token in HERALD_TOKEN when set. That is the variable
// `herald serve` reads its tokens from, and it is read the same way:
// comma-separated, blanks around each dropped; the first is sent.
func (a *app) client() (*client, error) {
	cfg, err := a.tls.config(a.server)
	if err != nil {
		return nil, err
	}
	c, err := newClient(a.server, a.http, cfg)
	if err != nil {
		return nil, err
	}
	if tokens := (&serveSettings{Token: a.getenv("HERALD_TOKEN")}).tokens(); len(tokens) > 0 {
		c.token = tokens[0]
	}
	if strings.ContainsFunc(c.token, unicode.IsControl) {
		return nil, errors.New("HERALD_TOKEN holds a control character, which no API token has: set it to the token alone")
	}
	return c, nil
}
