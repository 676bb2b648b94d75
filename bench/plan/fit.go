package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Term is one fitted coefficient of a linear model with its standard
// error (from the residuals: sqrt(s² (XᵀX)⁻¹) on its diagonal; NaN when
// there are no more observations than terms).
type Term struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
	StdErr float64 `json:"std_err"`
}

// RelErr is the standard error as a fraction of the value.
func (t *Term) RelErr() float64 { return math.Abs(t.StdErr / t.Value) }

// LinearFit is y ≈ Σ Terms[i].Value · x[i], fitted by least squares.
type LinearFit struct {
	Terms []Term `json:"terms"`
	// Cov is the coefficients' covariance, s² (XᵀX)⁻¹, for the error of
	// a prediction.
	Cov [][]float64 `json:"cov"`
	// RMSE is the residual standard error s = sqrt(SSR / (n - p)); N
	// the observations; MaxRelResidual the largest |residual| / |y|.
	RMSE           float64 `json:"rmse"`
	N              int     `json:"n"`
	MaxRelResidual float64 `json:"max_rel_residual"`
}

// FitLinear fits y = X·β by least squares through the normal equations,
// with the columns scaled to unit norm first so that terms of very
// different magnitude (frames/s against a constant) stay well
// conditioned. Four terms need nothing bigger.
func FitLinear(names, units []string, x [][]float64, y []float64) (LinearFit, error) {
	n, p := len(y), len(names)
	if n < p {
		return LinearFit{}, fmt.Errorf("fit: %d observations for %d terms", n, p)
	}
	scale := make([]float64, p)
	for j := range p {
		for i := range n {
			scale[j] += x[i][j] * x[i][j]
		}
		scale[j] = math.Sqrt(scale[j])
		if scale[j] == 0 {
			return LinearFit{}, fmt.Errorf("fit: term %s is zero in every observation", names[j])
		}
	}
	xtx := make([][]float64, p)
	xty := make([]float64, p)
	for j := range p {
		xtx[j] = make([]float64, p)
		for k := range p {
			for i := range n {
				xtx[j][k] += x[i][j] / scale[j] * x[i][k] / scale[k]
			}
		}
		for i := range n {
			xty[j] += x[i][j] / scale[j] * y[i]
		}
	}
	inv, err := invert(xtx)
	if err != nil {
		return LinearFit{}, fmt.Errorf("fit: the observations do not separate %v: %w", names, err)
	}
	beta := make([]float64, p)
	for j := range p {
		for k := range p {
			beta[j] += inv[j][k] * xty[k]
		}
	}
	var ssr, maxRel float64
	for i := range n {
		var pred float64
		for j := range p {
			pred += x[i][j] / scale[j] * beta[j]
		}
		r := y[i] - pred
		ssr += r * r
		if y[i] != 0 {
			maxRel = math.Max(maxRel, math.Abs(r/y[i]))
		}
	}
	s2 := math.NaN()
	if n > p {
		s2 = ssr / float64(n-p)
	}
	f := LinearFit{RMSE: math.Sqrt(s2), N: n, MaxRelResidual: maxRel, Cov: make([][]float64, p)}
	for j := range p {
		f.Cov[j] = make([]float64, p)
		for k := range p {
			f.Cov[j][k] = s2 * inv[j][k] / (scale[j] * scale[k])
		}
		f.Terms = append(f.Terms, Term{Name: names[j], Unit: units[j], Value: beta[j] / scale[j], StdErr: math.Sqrt(f.Cov[j][j])})
	}
	return f, nil
}

// Predict is the model at x, and its standard error from the
// coefficients' covariance (NaN when the fit had no spare observation).
func (f *LinearFit) Predict(x []float64) (y, stdErr float64) {
	var v float64
	for j, t := range f.Terms {
		y += t.Value * x[j]
		for k := range f.Terms {
			v += x[j] * f.Cov[j][k] * x[k]
		}
	}
	return y, math.Sqrt(v)
}

// invert inverts a small symmetric matrix by Gauss-Jordan elimination
// with partial pivoting.
func invert(a [][]float64) ([][]float64, error) {
	p := len(a)
	m := make([][]float64, p)
	for i := range p {
		m[i] = make([]float64, 2*p)
		copy(m[i], a[i])
		m[i][p+i] = 1
	}
	for c := range p {
		piv := c
		for r := c + 1; r < p; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[piv][c]) {
				piv = r
			}
		}
		if math.Abs(m[piv][c]) < 1e-12 {
			return nil, errors.New("singular")
		}
		m[c], m[piv] = m[piv], m[c]
		d := m[c][c]
		for k := range 2 * p {
			m[c][k] /= d
		}
		for r := range p {
			if r == c || m[r][c] == 0 {
				continue
			}
			f := m[r][c]
			for k := range 2 * p {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	out := make([][]float64, p)
	for i := range p {
		out[i] = m[i][p:]
	}
	return out, nil
}

// jsonFloat writes NaN (a standard error that cannot be had) as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

// MarshalJSON writes a NaN value or standard error as null.
func (t Term) MarshalJSON() ([]byte, error) {
	type plain Term
	return json.Marshal(struct {
		plain
		Value  jsonFloat `json:"value"`
		StdErr jsonFloat `json:"std_err"`
	}{plain(t), jsonFloat(t.Value), jsonFloat(t.StdErr)})
}

// MarshalJSON writes a NaN standard error as null.
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	return json.Marshal(struct {
		plain
		StdErr jsonFloat `json:"std_err"`
		Err    jsonFloat `json:"error"`
	}{plain(c), jsonFloat(c.StdErr), jsonFloat(c.Err)})
}

// MarshalJSON writes NaN entries (no spare observation) as null.
func (f LinearFit) MarshalJSON() ([]byte, error) {
	type plain LinearFit
	cov := make([][]jsonFloat, len(f.Cov))
	for i, row := range f.Cov {
		for _, v := range row {
			cov[i] = append(cov[i], jsonFloat(v))
		}
	}
	return json.Marshal(struct {
		plain
		Cov  [][]jsonFloat `json:"cov"`
		RMSE jsonFloat     `json:"rmse"`
	}{plain(f), cov, jsonFloat(f.RMSE)})
}
