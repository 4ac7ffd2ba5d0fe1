//! Fitting the logistic regression with linfa-logistic, conditioned so that it converges to
//! scikit-learn's solution quickly.
//!
//! linfa-logistic minimises Σ logloss + ½·α·‖w‖² (α = 1/C of scikit-learn), but stops on the
//! L2 norm of the *summed* gradient at a fixed 1e-4 — n times stricter than scikit-learn, whose
//! L-BFGS stops when the *mean* gradient is within 1e-4. On 200k rows it never gets there. So:
//! - the tolerance is scaled by n, which makes the criterion scikit-learn's;
//! - the start is the class prior (w = 0, b = logit of the fraud rate), not b = 0;
//! - a 1-in-8 subsample is fitted first and its solution starts the full fit, whose L-BFGS then
//!   begins next to the optimum instead of spending its line searches far from it;
//! - the features are handed over in column-major order: the gradient's Xᵀr then reads each
//!   feature contiguously instead of striding over every row 29 times;
//! - ndarray's products go to BLIS (see Cargo.toml);
//! - the solver runs on an f32 copy of the features, then the result is checked in f64 and, if
//!   that check fails, polished in f64 from there. linfa's L-BFGS passes over the whole matrix
//!   about five times per iteration (the cost and the gradient each recompute Xw, and the
//!   gradient at the accepted point is computed again), so the fit is bound by memory traffic,
//!   and half the bytes fit in a cache the f64 matrix overflows. At scikit-learn's tolerance
//!   the f32 solution passes the f64 check as it is (same test metrics, a faster fit:
//!   docs/design.md); a tighter tolerance than f32 can carry is reached by the f64 polish.
//!
//! linfa labels the *larger* class +1, so its weights are for the non-fraud class when frauds
//! are rare; they are turned to the fraud class here, once.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2, ArrayView2, Axis, CowArray, Ix2, ShapeBuilder};

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("the training rows hold only one class ({0} rows, all {1}); need frauds and non-frauds")]
    OneClass(usize, &'static str),
    #[error("linfa-logistic failed: {0}")]
    Linfa(#[from] linfa_logistic::error::Error),
}

/// Solver settings; the defaults are scikit-learn's `LogisticRegression()`.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// Inverse regularisation strength, scikit-learn's `C`.
    pub c: f64,
    /// Stop when the largest component of the mean gradient is below this, scikit-learn's `tol`.
    pub tol: f64,
    pub max_iterations: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self { c: 1.0, tol: 1e-4, max_iterations: 200 }
    }
}

/// Weights and intercept for the fraud class, on the features as given.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// Largest component of the mean gradient of scikit-learn's objective at the solution:
    /// below `tol` means converged.
    pub gradient_max: f64,
}

/// Fits on standardised features `x` (any layout) and labels (`true` = fraud).
pub fn fit(x: ArrayView2<f64>, y: &[bool], opts: &FitOptions) -> Result<Fitted, FitError> {
    let n = y.len();
    let frauds = y.iter().filter(|v| **v).count();
    if frauds == 0 {
        return Err(FitError::OneClass(n, "non-fraud"));
    }
    if frauds == n {
        return Err(FitError::OneClass(n, "fraud"));
    }
    let prior = ((frauds as f64) / ((n - frauds) as f64)).ln();
    let mut start = Fitted { weights: vec![0.0; x.ncols()], intercept: prior, gradient_max: 0.0 };

    // Warm start from a strided subsample when there are enough rows for it to be informative.
    // (A second, finer stage does not pay: the full fit takes as long from its better start.)
    const STRIDE: usize = 8;
    if n >= 16 * 1024 {
        let idx: Vec<usize> = (0..n).step_by(STRIDE).collect();
        let sub_y: Vec<bool> = idx.iter().map(|&i| y[i]).collect();
        if sub_y.iter().any(|v| *v) && !sub_y.iter().all(|v| *v) {
            let t = std::time::Instant::now();
            start = fit_f32(x.select(Axis(0), &idx).view(), &sub_y, opts, &start)?;
            tracing::debug!(rows = idx.len(), seconds = t.elapsed().as_secs_f64(), "subsample fit");
        }
    }
    fit_warm(x, y, opts, &start)
}

/// The tightest mean-gradient tolerance asked of the f32 stage. f32 sums over 10⁵ rows carry
/// about this much (the sample reached 7e-6, the full data 4e-7 before stalling); anything
/// tighter is left to the f64 polish.
const F32_TOL_FLOOR: f64 = 1e-5;

/// Fits starting from `start` (a previous solution on similar rows): f32 first, checked in f64,
/// polished in f64 only if the check fails.
pub fn fit_warm(x: ArrayView2<f64>, y: &[bool], opts: &FitOptions, start: &Fitted) -> Result<Fitted, FitError> {
    let t = std::time::Instant::now();
    let mut fitted = fit_f32(x, y, opts, start)?;
    fitted.gradient_max = gradient_max(x, y, &fitted, opts.c);
    let f32_at = t.elapsed().as_secs_f64();
    let f32_gradient = fitted.gradient_max;
    if !(fitted.gradient_max.is_finite() && fitted.gradient_max <= opts.tol) {
        // A diverged f32 stage (not seen, but f32 overflows sooner) restarts from `start`.
        let from = if fitted.gradient_max.is_finite() { &fitted } else { start };
        // Column-major, as the f32 stage had it; already so (as train hands it over): no copy.
        let x: CowArray<f64, Ix2> = if x.t().is_standard_layout() { x.into() } else { column_major(x).into() };
        fitted = fit_from(x.view(), y, opts, from)?;
        fitted.gradient_max = gradient_max(x.view(), y, &fitted, opts.c);
        // linfa stops on its own evaluation of the gradient, which can pass where ours does
        // not (seen: 1.025e-10 against a tol of 1e-10 polishing a 6-row problem from its f32
        // solution, on one machine's BLIS and not another's; a tighter polish from there
        // stopped at once). From the start point it converges properly, so a fit that
        // reports convergence has a gradient under `tol`.
        if fitted.gradient_max > opts.tol {
            let again = fit_from(x.view(), y, opts, start)?;
            let g = gradient_max(x.view(), y, &again, opts.c);
            if g < fitted.gradient_max {
                fitted = Fitted { gradient_max: g, ..again };
            }
        }
    }
    tracing::debug!(
        rows = y.len(),
        f32_at,
        f32_gradient,
        total = t.elapsed().as_secs_f64(),
        gradient_max = fitted.gradient_max,
        "warm fit"
    );
    Ok(fitted)
}

/// [`fit_from`] on a column-major f32 copy of `x` (any layout), to `max(tol, F32_TOL_FLOOR)`.
fn fit_f32(x: ArrayView2<f64>, y: &[bool], opts: &FitOptions, start: &Fitted) -> Result<Fitted, FitError> {
    let mut x32 = Array2::zeros(x.raw_dim().f());
    x32.zip_mut_with(&x, |a, b| *a = *b as f32);
    let opts = FitOptions { tol: opts.tol.max(F32_TOL_FLOOR), ..*opts };
    fit_from(x32.view(), y, &opts, start)
}

fn column_major(x: ArrayView2<f64>) -> Array2<f64> {
    let mut out = Array2::zeros(x.raw_dim().f());
    out.assign(&x);
    out
}

/// One linfa fit from `start` in `x`'s precision, returning fraud-class parameters in f64.
fn fit_from<F: Precision>(x: ArrayView2<F>, y: &[bool], opts: &FitOptions, start: &Fitted) -> Result<Fitted, FitError> {
    let n = y.len();
    let frauds = y.iter().filter(|v| **v).count();
    // linfa's +1 class is the larger one; on a tie, the first one it saw.
    let fraud_is_positive = frauds > n - frauds || (2 * frauds == n && y[0]);
    let sign = if fraud_is_positive { 1.0 } else { -1.0 };
    let mut init = Array1::zeros(x.ncols() + 1);
    for (i, w) in start.weights.iter().enumerate() {
        init[i] = F::cast(sign * w);
    }
    init[x.ncols()] = F::cast(sign * start.intercept);

    let problem = Problem {
        data: DatasetBase::new(x, Array1::from_iter(y.iter().copied())),
        alpha: 1.0 / opts.c,
        max_iterations: opts.max_iterations,
        summed_gradient_tol: opts.tol * n as f64,
        init,
    };
    let solved = F::solve(problem)?;
    // Orient by what linfa says it did, not by what we expect it to have done.
    let sign = if solved.positive_is_fraud { 1.0 } else { -1.0 };
    Ok(Fitted {
        weights: solved.weights.iter().map(|w| sign * w).collect(),
        intercept: sign * solved.intercept,
        gradient_max: f64::NAN,
    })
}

/// One linfa fit, in the precision `F`.
struct Problem<'a, F> {
    data: DatasetBase<ArrayView2<'a, F>, Array1<bool>>,
    alpha: f64,
    max_iterations: u64,
    summed_gradient_tol: f64,
    init: Array1<F>,
}

/// What one linfa fit found, in f64, for linfa's +1 class.
struct Solved {
    weights: Vec<f64>,
    intercept: f64,
    positive_is_fraud: bool,
}

/// The precisions linfa-logistic fits in. (Its own float trait is private, so a function
/// generic over it cannot be written outside the crate.)
trait Precision: linfa::Float {
    fn solve(p: Problem<Self>) -> Result<Solved, linfa_logistic::error::Error>;
}

macro_rules! precision {
    ($t:ty) => {
        impl Precision for $t {
            fn solve(p: Problem<Self>) -> Result<Solved, linfa_logistic::error::Error> {
                let model = LogisticRegression::<$t>::default()
                    .alpha(p.alpha as $t)
                    .max_iterations(p.max_iterations)
                    .gradient_tolerance(p.summed_gradient_tol as $t)
                    .initial_params(p.init)
                    .fit(&p.data)?;
                Ok(Solved {
                    weights: model.params().iter().map(|w| f64::from(*w)).collect(),
                    intercept: f64::from(model.intercept()),
                    positive_is_fraud: model.labels().pos.class,
                })
            }
        }
    };
}
precision!(f32);
precision!(f64);

/// ‖∇(mean logloss + ‖w‖²/(2·C·n))‖∞, scikit-learn's convergence measure.
pub fn gradient_max(x: ArrayView2<f64>, y: &[bool], f: &Fitted, c: f64) -> f64 {
    let n = y.len() as f64;
    let w = Array1::from_vec(f.weights.clone());
    let z = x.dot(&w) + f.intercept;
    let r: Array1<f64> = z.iter().zip(y).map(|(z, &t)| 1.0 / (1.0 + (-z).exp()) - if t { 1.0 } else { 0.0 }).collect();
    let gw = (x.t().dot(&r) + &(&w / c)) / n;
    let gb = r.sum() / n;
    gw.iter().chain(std::iter::once(&gb)).fold(0.0_f64, |m, g| m.max(g.abs()))
}

/// The fraud probabilities of standardised rows.
pub fn predict(x: ArrayView2<f64>, f: &Fitted) -> Vec<f64> {
    let w = Array1::from_vec(f.weights.clone());
    x.dot(&w).iter().map(|z| 1.0 / (1.0 + (-(z + f.intercept)).exp())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn fraud_class_orientation_on_tiny_problem() {
        let x = array![[-2.0], [-1.0], [0.0], [1.0], [2.0], [0.5]];
        let y = [false, false, true, true, true, false];
        let f = fit(x.view(), &y, &FitOptions { tol: 1e-10, ..Default::default() }).unwrap();
        // Larger x means fraud: the weight must be positive whichever class linfa calls +1.
        assert!(f.weights[0] > 0.0, "{f:?}");
        // Below what f32 can carry: reached by the f64 polish.
        assert!(f.gradient_max < 1e-10, "{f:?}");
        let p = predict(x.view(), &f);
        assert!(p[4] > p[0]);
    }

    #[test]
    fn orientation_holds_when_fraud_is_the_majority() {
        let x = array![[-2.0], [-1.0], [0.0], [1.0], [2.0], [0.5]];
        let y = [false, true, true, true, true, false];
        let f = fit(x.view(), &y, &FitOptions::default()).unwrap();
        assert!(f.weights[0] > 0.0, "{f:?}");
        assert!(f.intercept > 0.0, "{f:?}");
    }

    #[test]
    fn one_class_is_an_error_not_a_panic() {
        let x = array![[1.0], [2.0]];
        assert!(matches!(fit(x.view(), &[false, false], &FitOptions::default()), Err(FitError::OneClass(2, _))));
    }
}
