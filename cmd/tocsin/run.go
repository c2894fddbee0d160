package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/tocsinhq/tocsin/app"
	"github.com/tocsinhq/tocsin/auth"
	"github.com/tocsinhq/tocsin/config"
	"github.com/tocsinhq/tocsin/storage"
)

// errUsage marks errors in how the command was called.
var errUsage = errors.New("usage")

const usage = `tocsin: alerting and notification push server

Usage:
  tocsin serve                                    run the server
  tocsin migrate                                  bring the database schema up to date
  tocsin config check                             validate the configuration, start nothing
  tocsin user add NAME --role admin|responder     add a user
  tocsin token create --user NAME [--ttl 24h] [--name N]
                                                  issue a token; prints it alone on stdout
  tocsin token revoke ID                          revoke a token

Every command takes --config FILE (default config.yaml; when that default
file is absent, the built-in defaults apply). TOCSIN_* environment variables
override the file: see docs/configuration.md.
`

// env is what a command runs with: its streams and environment.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// run runs the command line args (args[0] is the program name).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[1], args[2:]
	if len(rest) > 0 {
		switch cmd + " " + rest[0] {
		case "config check", "user add", "token create", "token revoke":
			cmd, rest = cmd+" "+rest[0], rest[1:]
		}
	}
	switch cmd {
	case "serve":
		return e.serve(ctx, rest)
	case "migrate":
		return e.migrate(ctx, rest)
	case "config check":
		return e.configCheck(rest)
	case "user add":
		return e.userAdd(ctx, rest)
	case "token create":
		return e.tokenCreate(ctx, rest)
	case "token revoke":
		return e.tokenRevoke(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// command is a sub-command's flags: --config and its own.
type command struct {
	name   string
	flags  *flag.FlagSet
	config *string
}

// newCommand returns the flag set of a sub-command, with --config.
func (e env) newCommand(name string) *command {
	fs := flag.NewFlagSet("tocsin "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return &command{name: name, flags: fs, config: fs.String("config", "config.yaml", "configuration `FILE`")}
}

// parse parses args, flags and positional arguments in any order, and
// checks that there are exactly nargs positional ones.
func (c *command) parse(args []string, nargs int) ([]string, error) {
	var positional []string
	for {
		if err := c.flags.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errUsage, c.name, err)
		}
		args = c.flags.Args()
		if len(args) == 0 {
			break
		}
		positional, args = append(positional, args[0]), args[1:]
	}
	if len(positional) != nargs {
		return nil, fmt.Errorf("%w: tocsin %s takes %d argument(s), got %d", errUsage, c.name, nargs, len(positional))
	}
	return positional, nil
}

// loadConfig loads the configuration the command names. The default file
// may be absent (defaults and environment apply); a named one may not.
func (e env) loadConfig(c *command) (config.Config, error) {
	path := *c.config
	named := false
	c.flags.Visit(func(f *flag.Flag) { named = named || f.Name == "config" })
	if !named {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			path = ""
		}
	}
	return config.Load(path, e.getenv)
}

// setUp parses a store-using command's args, checks them with check (if
// not nil), loads its configuration and opens its store, migrated. A usage
// error is reported before the store is touched.
func (e env) setUp(ctx context.Context, c *command, args []string, nargs int, check func(positional []string) error) ([]string, *storage.DB, error) {
	positional, err := c.parse(args, nargs)
	if err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(positional); err != nil {
			return nil, nil, err
		}
	}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return nil, nil, err
	}
	store, err := app.OpenStore(ctx, cfg.Storage, app.NewLogger(e.stderr, cfg.Log))
	return positional, store, err
}

// serve runs the server until ctx is cancelled.
func (e env) serve(ctx context.Context, args []string) error {
	c := e.newCommand("serve")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return err
	}
	log := app.NewLogger(e.stderr, cfg.Log)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// migrate brings the schema up to date and says where it stands.
func (e env) migrate(ctx context.Context, args []string) error {
	_, store, err := e.setUp(ctx, e.newCommand("migrate"), args, 0, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	current, _, err := store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "schema at version %d\n", current)
	return nil
}

// configCheck validates the configuration and starts nothing.
func (e env) configCheck(args []string) error {
	c := e.newCommand("config check")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if _, err := e.loadConfig(c); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "configuration ok")
	return nil
}

// userAdd adds a user.
func (e env) userAdd(ctx context.Context, args []string) error {
	c := e.newCommand("user add")
	role := c.flags.String("role", "", "the user's `ROLE`: admin or responder")
	positional, store, err := e.setUp(ctx, c, args, 1, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := store.CreateUser(ctx, storage.CLIActor(), auth.User{Name: positional[0], Role: auth.Role(*role)})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added user %s (id %d, role %s)\n", u.Name, u.ID, u.Role)
	return nil
}

// tokenCreate issues a token for a user and prints it alone on stdout.
func (e env) tokenCreate(ctx context.Context, args []string) error {
	c := e.newCommand("token create")
	user := c.flags.String("user", "", "the `NAME` of the user the token is for")
	ttl := c.flags.Duration("ttl", 0, "how long the token works, such as 24h; 0 means until revoked")
	name := c.flags.String("name", "cli", "the token's `NAME`, to tell it from others")
	_, store, err := e.setUp(ctx, c, args, 0, func([]string) error {
		if *user == "" {
			return fmt.Errorf("%w: token create: --user is required", errUsage)
		}
		if *ttl < 0 {
			return fmt.Errorf("%w: token create: --ttl must not be negative", errUsage)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := store.UserByName(ctx, *user)
	if err != nil {
		return fmt.Errorf("--user: %w", err)
	}
	secret, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	t := auth.Token{UserID: u.ID, Name: *name, Hash: hash}
	if *ttl > 0 {
		expires := time.Now().Add(*ttl)
		t.ExpiresAt = &expires
	}
	if t, err = store.CreateToken(ctx, storage.CLIActor(), t); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "created token %d for user %s\n", t.ID, u.Name)
	fmt.Fprintln(e.stdout, secret)
	return nil
}

// tokenRevoke revokes a token by ID.
func (e env) tokenRevoke(ctx context.Context, args []string) error {
	var id int64
	_, store, err := e.setUp(ctx, e.newCommand("token revoke"), args, 1, func(positional []string) error {
		var err error
		if id, err = strconv.ParseInt(positional[0], 10, 64); err != nil || id < 1 {
			return fmt.Errorf("%w: token revoke: ID must be a positive integer, got %q", errUsage, positional[0])
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.DeleteToken(ctx, storage.CLIActor(), id, 0); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked token %d\n", id)
	return nil
}
