package main

import (
	"errors"
	"fmt"
	"math"
)

// example is one distinct feature vector with how much weight of each label
// carries it. Records with equal vectors are one example: the fit's cost
// grows with distinct vectors, not records.
type example struct {
	x      []float64 // one per trained feature, 0 or 1
	offset float64   // the fixed features' log-odds
	human  float64   // weight of human records with this vector
	bot    float64   // weight of bot records with this vector
}

// fitOptions are the fit's knobs.
type fitOptions struct {
	// lambda is the L2 penalty on the trained weights (not the bias),
	// pulling each towards its prior mean.
	lambda float64
	// means are the weights' prior means: what a feature weighs before the
	// corpus speaks, and what a feature the corpus never fires keeps.
	means []float64
	// lower bounds each weight from below (a cap: a feature stays as weak
	// as the configuration says); every weight is at most 0, since every
	// trained feature is a sign of automation and none may make a request
	// look more human.
	lower []float64
}

// fit finds the bias and weights that minimise the weighted logistic loss
// plus lambda/2·|w − means|², within the bounds, by Newton's method: a
// weight that leaves its bounds is held at the bound and the rest refit. It is deterministic:
// every sum runs in a fixed order, and no multiply-add can be fused (the
// explicit float64 conversions round each product, as the Go spec says),
// so the same examples give the same bits on every platform whose exp
// agrees; the weights file's four decimals absorb the rest.
func fit(exs []example, k int, opts fitOptions) (bias float64, w []float64, err error) {
	w = make([]float64, k)
	copy(w, opts.means)
	fixed := make([]bool, k) // at a bound: held there, refit the rest
	for round := 0; round <= k; round++ {
		bias, err = newton(exs, k, opts.lambda, opts.means, &bias, w, fixed)
		if err != nil {
			return 0, nil, err
		}
		changed := false
		for i := range w {
			switch {
			case fixed[i]:
			case w[i] > 0:
				w[i], fixed[i], changed = 0, true, true
			case w[i] < opts.lower[i]:
				w[i], fixed[i], changed = opts.lower[i], true, true
			}
		}
		if !changed {
			return bias, w, nil
		}
	}
	return bias, w, nil
}

// newton runs Newton's method on the free parameters (the bias and the
// weights not fixed) from their current values.
func newton(exs []example, k int, lambda float64, means []float64, bias *float64, w []float64, fixed []bool) (float64, error) {
	n := k + 1 // parameter 0 is the bias
	grad := make([]float64, n)
	hess := make([]float64, n*n)
	x := make([]float64, n)
	for iter := 0; iter < 100; iter++ {
		clear(grad)
		clear(hess)
		for _, e := range exs {
			x[0] = 1
			copy(x[1:], e.x)
			z := *bias + e.offset
			for i, v := range e.x {
				z += float64(w[i] * v)
			}
			p := 1 / (1 + math.Exp(-z))
			// d/dz of the loss of h humans (y=1) and b bots (y=0).
			g := float64(e.human*(p-1)) + float64(e.bot*p)
			s := float64((e.human + e.bot) * float64(p*(1-p)))
			for i := range n {
				if x[i] == 0 {
					continue
				}
				grad[i] += float64(g * x[i])
				for j := range n {
					hess[i*n+j] += float64(float64(s*x[i]) * x[j])
				}
			}
		}
		for i := 1; i < n; i++ {
			grad[i] += float64(lambda * (w[i-1] - means[i-1]))
			hess[i*n+i] += lambda
		}
		// Held parameters do not move: their rows become the identity with
		// a zero gradient.
		for i := 1; i < n; i++ {
			if fixed[i-1] {
				grad[i] = 0
				for j := range n {
					hess[i*n+j], hess[j*n+i] = 0, 0
				}
				hess[i*n+i] = 1
			}
		}
		// A feature no example fires has a zero row but for lambda; keep the
		// system solvable even with lambda 0.
		for i := range n {
			if hess[i*n+i] == 0 {
				hess[i*n+i] = 1
			}
		}
		step, err := solve(hess, grad, n)
		if err != nil {
			return 0, fmt.Errorf("newton step %d: %w", iter, err)
		}
		*bias -= step[0]
		biggest := math.Abs(step[0])
		for i := 1; i < n; i++ {
			w[i-1] -= step[i]
			biggest = max(biggest, math.Abs(step[i]))
		}
		if biggest < 1e-10 {
			return *bias, nil
		}
	}
	return *bias, nil
}

// solve solves the symmetric positive definite system a·x = b by Cholesky
// decomposition; a is n×n, row-major, and is overwritten.
func solve(a, b []float64, n int) ([]float64, error) {
	for j := range n {
		d := a[j*n+j]
		for k := range j {
			d -= float64(a[j*n+k] * a[j*n+k])
		}
		if d <= 0 || math.IsNaN(d) {
			return nil, errors.New("the Hessian is not positive definite")
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= float64(a[i*n+k] * a[j*n+k])
			}
			a[i*n+j] = s / d
		}
	}
	y := make([]float64, n)
	for i := range n {
		s := b[i]
		for k := range i {
			s -= float64(a[i*n+k] * y[k])
		}
		y[i] = s / a[i*n+i]
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < n; k++ {
			s -= float64(a[k*n+i] * x[k])
		}
		x[i] = s / a[i*n+i]
	}
	return x, nil
}

// logLoss is the weighted mean logistic loss of the examples under bias
// and w.
func logLoss(exs []example, bias float64, w []float64) float64 {
	var loss, total float64
	for _, e := range exs {
		z := bias + e.offset
		for i, v := range e.x {
			z += float64(w[i] * v)
		}
		// log(1+e^-z) and log(1+e^z), stable for large |z|.
		loss += float64(e.human*softplus(-z)) + float64(e.bot*softplus(z))
		total += e.human + e.bot
	}
	if total == 0 {
		return 0
	}
	return loss / total
}

func softplus(z float64) float64 {
	if z > 30 {
		return z
	}
	return math.Log1p(math.Exp(z))
}
