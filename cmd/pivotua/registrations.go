package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pivotua/pivotua/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// registrations are the trunks pivotua registers with (trunks[].register), started once SIP
// listens and unregistered when the drain begins, so that the carriers stop sending new calls
// while the live ones finish.
type registrations struct {
	list []*sip.Registration
}

// startRegistrations starts every registration and adds their series to reg:
// pivotua_registration_state{trunk} (1 registered, 0 not) and
// pivotua_registration_attempts_total{trunk,result}.
func startRegistrations(srv *sip.Server, cfgs []sip.RegistrationConfig, reg prometheus.Registerer) (*registrations, error) {
	r := &registrations{}
	if len(cfgs) == 0 {
		return r, nil
	}
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pivotua_registration_attempts_total",
		Help: "REGISTER attempts by trunk and result: registered, unregistered, auth_failed, rejected, timeout, error.",
	}, []string{"trunk", "result"})
	reg.MustRegister(attempts)
	for _, cfg := range cfgs {
		cfg.OnAttempt = func(result string) { attempts.WithLabelValues(cfg.Trunk, result).Inc() }
		rg, err := srv.StartRegistration(cfg)
		if err != nil {
			r.stop(context.Background())
			return nil, err
		}
		r.list = append(r.list, rg)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pivotua_registration_state", ConstLabels: prometheus.Labels{"trunk": cfg.Trunk},
			Help: "1 while the trunk's registrar holds pivotua's binding, else 0.",
		}, func() float64 {
			if rg.Status().State == sip.RegistrationRegistered {
				return 1
			}
			return 0
		}))
	}
	return r, nil
}

// stop unregisters every trunk at once, waiting at most until ctx ends.
func (r *registrations) stop(ctx context.Context) {
	var wg sync.WaitGroup
	for _, rg := range r.list {
		wg.Add(1)
		go func() { defer wg.Done(); rg.Stop(ctx) }()
	}
	wg.Wait()
}

// report writes one line per registration for /readyz. A registration that is down does not
// make the node unready: calls from IP-authenticated trunks and Dial still work, and taking the
// node out of its load balancer would not bring the registrar back. /metrics is where to alert.
func (r *registrations) report(w io.Writer) {
	for _, rg := range r.list {
		st := rg.Status()
		line := fmt.Sprintf("registration %s: %s since %s", st.Trunk, st.State, st.Since.UTC().Format(time.RFC3339))
		if st.Error != "" {
			line += fmt.Sprintf(" (%s; next attempt in %s)", st.Error, st.Retry.Round(time.Second))
		}
		fmt.Fprintln(w, line)
	}
}
