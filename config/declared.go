package config

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/tocsinhq/tocsin/alerts"
	"github.com/tocsinhq/tocsin/sources"
)

// readSecrets sets the Secret of every declared source that names a
// secret_env from that variable, and returns the problems of the sources
// whose secret is missing or set twice.
func readSecrets(c *Config, getenv func(string) string) []problem {
	var ps []problem
	for i := range c.Sources {
		s := &c.Sources[i]
		key := fmt.Sprintf("sources[%d]", i)
		switch {
		case s.SecretEnv != "" && s.Secret != "":
			ps = append(ps, problem{key: key + ".secret_env", msg: "set secret or secret_env, not both"})
		case s.SecretEnv != "":
			if getenv != nil {
				s.Secret = getenv(s.SecretEnv)
			}
			if s.Secret == "" {
				ps = append(ps, problem{key: key + ".secret_env", msg: fmt.Sprintf("the variable %s is unset or empty", s.SecretEnv)})
			}
		case s.Secret == "":
			ps = append(ps, problem{key: key, msg: "set secret_env (or secret) to the source's bearer token, basic password or HMAC key"})
		}
	}
	return ps
}

// validateDeclared reports what is wrong with the declared teams, routes and
// sources, by the same rules as the API applies, less what needs the store
// (that named users and teams exist), which tocsin checks at start.
func validateDeclared(c Config, cs *checks) {
	teams := make(map[string]bool)
	for i, t := range c.Teams {
		key := fmt.Sprintf("teams[%d]", i)
		cs.name(key, t.Name, teams)
		cs.names(key+".members", t.Members)
	}
	routes := make(map[string]bool)
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		cs.name(key, r.Name, routes)
		if _, err := alerts.ParseMatcherList("matchers", r.Matchers); err != nil {
			cs.fieldError(key, err)
		}
		if len(r.Matchers) > alerts.MaxRuleMatchers {
			cs.add(key+".matchers", "at most %d matchers, got %d", alerts.MaxRuleMatchers, len(r.Matchers))
		}
		cs.names(key+".users", r.Users)
		cs.names(key+".teams", r.Teams)
		if len(r.Users)+len(r.Teams) == 0 {
			cs.add(key+".users", "a route needs at least one user or team to notify")
		}
	}
	names := make(map[string]bool)
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if !cs.name(key, s.Name, names) {
			continue
		}
		src := s.Source()
		if err := src.Validate(); err != nil {
			cs.fieldError(key, err)
		}
	}
}

// Source returns the declared source as a sources.Source to create.
func (s Source) Source() sources.Source {
	return sources.Source{
		Name:            s.Name,
		Kind:            sources.Kind(s.Kind),
		Auth:            sources.AuthType(s.Auth),
		Username:        s.Username,
		SignatureHeader: s.SignatureHeader,
		Mapping:         s.Mapping,
		Secret:          s.Secret,
	}
}

// validatePollers reports what is wrong with the declared pollers, by the
// rules of the API, under pollers.checks[i].
func validatePollers(c Config, cs *checks) {
	names := make(map[string]bool)
	for i, p := range c.Pollers.Checks {
		key := fmt.Sprintf("pollers.checks[%d]", i)
		if !cs.name(key, p.Name, names) {
			continue
		}
		if _, err := p.Poller(); err != nil {
			cs.fieldError(key, err)
		}
	}
}

// Poller returns the declared poller as a sources.Poller to create,
// validated and with its defaults filled in as the API fills them. Its
// error is an alerts.ErrInvalid error naming the field at fault.
func (p Poller) Poller() (sources.Poller, error) {
	sp := sources.Poller{
		Name: p.Name, Kind: sources.PollerKind(p.Kind), Schedule: p.Schedule, Timeout: sources.Duration(p.Timeout),
		URL: p.URL, Method: p.Method, Headers: p.Headers, Body: p.Body,
		ExpectBody: p.ExpectBody, ExpectJSON: p.ExpectJSON, MaxLatency: sources.Duration(p.MaxLatency),
		TLSSkipVerify: p.TLSSkipVerify, Address: p.Address, Query: p.Query,
		Labels: alerts.Labels(p.Labels), Annotations: p.Annotations,
		FailAfter: sources.DefaultFailAfter, RecoverAfter: sources.DefaultRecoverAfter, Enabled: true,
	}
	if p.FailAfter != nil {
		sp.FailAfter = *p.FailAfter
	}
	if p.RecoverAfter != nil {
		sp.RecoverAfter = *p.RecoverAfter
	}
	if p.Enabled != nil {
		sp.Enabled = *p.Enabled
	}
	if sp.Labels == nil {
		sp.Labels = alerts.Labels{}
	}
	if sp.Annotations == nil {
		sp.Annotations = map[string]string{}
	}
	for i, text := range p.ExpectStatus {
		var r sources.StatusRange
		if err := r.UnmarshalText([]byte(text)); err != nil {
			return sp, alerts.Invalid("expect_status["+strconv.Itoa(i)+"]", "%v", err)
		}
		sp.ExpectStatus = append(sp.ExpectStatus, r)
	}
	return sp, sp.Validate()
}

// name checks the name of the declared object at key, and that no other
// object of its list has it. It reports whether the name is well formed.
func (cs *checks) name(key, name string, seen map[string]bool) bool {
	if err := alerts.ValidateName("name", name); err != nil {
		cs.fieldError(key, err)
		return false
	}
	if seen[name] {
		cs.add(key+".name", "%q is declared twice", name)
	}
	seen[name] = true
	return true
}

// names checks a list of user or team names.
func (cs *checks) names(key string, names []string) {
	seen := make(map[string]bool)
	for i, n := range names {
		ikey := fmt.Sprintf("%s[%d]", key, i)
		if err := alerts.ValidateName("", n); err != nil {
			cs.fieldError(ikey, err)
			continue
		}
		if seen[n] {
			cs.add(ikey, "%q is listed twice", n)
		}
		seen[n] = true
	}
}

// fieldError adds err, an alerts.Error about a field of the object at key,
// as a problem with that field's key.
func (cs *checks) fieldError(key string, err error) {
	var e *alerts.Error
	if !errors.As(err, &e) {
		cs.add(key, "%v", err)
		return
	}
	if e.Field != "" {
		key += "." + e.Field
	}
	cs.add(key, "%s", e.Message)
}
