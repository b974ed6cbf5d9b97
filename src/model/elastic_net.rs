//! The elastic net on standardised features, solved by coordinate descent on the Gram matrix.
//!
//! The objective is the one scikit-learn and linfa-elasticnet minimise:
//! `1/(2n)·‖y − Xw‖² + α·ρ·‖w‖₁ + α·(1 − ρ)/2·‖w‖²`. Lag and rolling features are strongly
//! collinear, and plain coordinate descent over the rows (linfa-elasticnet's) then needs
//! thousands of passes over all n rows: 5–10 s for a month of minutes. Each pass here costs
//! O(k²) on the k×k Gram matrix, computed once in O(n·k²), so the same fit takes milliseconds.
//! A test checks the coefficients against linfa-elasticnet's on the same problem.
//!
//! The target is standardised too, so a penalty means the same for a workload at 40 req/s and
//! one at 40,000; the coefficients are stored back in the target's units.

use std::ops::Range;

use crate::contract::model::{Loss, ModelConfig, Standardisation};
use crate::error::{Error, Result};
use crate::parallel;

/// A fitted elastic net in the target's units.
pub struct Fitted {
    pub standardisation: Standardisation,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    /// Coordinate-descent passes made, and whether the last one moved no coefficient by more
    /// than `tolerance` × the largest coefficient.
    pub iterations: u32,
    pub converged: bool,
}

/// A fitted model to start from (a warm start): its coefficients in the target's units over
/// its own standardisation.
pub struct Start<'a> {
    pub standardisation: &'a Standardisation,
    pub coefficients: &'a [f64],
    pub intercept: f64,
}

/// What a fit reads: one slice per feature and the label, over the same rows; for a relative
/// model, some features and the label divided row by row by a scale — as they are read, never
/// as a divided copy (a year of minutes would otherwise hold half its table twice).
pub struct Problem<'a> {
    pub columns: Vec<&'a [f64]>,
    pub label: &'a [f64],
    pub divide: Option<Divide<'a>>,
}

/// A row-by-row divisor: `max(|by|, floor)`, applied to the label and the `columns` marked.
pub struct Divide<'a> {
    pub by: &'a [f64],
    pub floor: f64,
    pub columns: Vec<bool>,
}

impl Divide<'_> {
    pub fn scale(&self, i: usize) -> f64 {
        self.floored(self.by[i])
    }

    /// 1 / the divisor of each row of `rows`, into `out`: the fit multiplies by these (a
    /// division per value would bound its passes).
    fn inverses(&self, rows: Range<usize>, out: &mut [f64]) {
        for (out, i) in out.iter_mut().zip(rows) {
            *out = 1.0 / self.scale(i);
        }
    }

    /// The divisor a row whose scale feature is `by` gets.
    fn floored(&self, by: f64) -> f64 {
        by.abs().max(self.floor)
    }
}

impl<'a> Problem<'a> {
    /// The columns and label as they are, divided by nothing.
    pub fn new(columns: Vec<&'a [f64]>, label: &'a [f64]) -> Self {
        Problem {
            columns,
            label,
            divide: None,
        }
    }

    fn rows(&self) -> usize {
        self.label.len()
    }
}

/// Fits `problem`, from `start` when given (the same features fitted on overlapping rows: the
/// absolute loss's reweighting then begins at that model's residuals and needs a pass or two
/// instead of several).
pub fn fit(problem: &Problem, params: &ModelConfig, start: Option<Start>) -> Result<Fitted> {
    let n = problem.rows();
    let k = problem.columns.len();
    if n < 2 * k.max(1) {
        return Err(Error::Fit(format!("{n} rows are too few to fit {k} features")));
    }
    let (columns, (y_mean, y_std)) = moments(problem);
    let (mean, scale): (Vec<f64>, Vec<f64>) = columns
        .into_iter()
        // A constant column carries no information: scale 1 keeps it at zero.
        .map(|(m, s)| (m, if s > 1e-12 * m.abs().max(1.0) { s } else { 1.0 }))
        .unzip();
    let y_scale = if y_std > 0.0 { y_std } else { 1.0 };
    let standardised = Standardised {
        problem,
        mean: &mean,
        scale: &scale,
        y_mean,
        y_scale,
    };

    let mut w = vec![0.0; k];
    let mut intercept = 0.0;
    let (mut iterations, mut converged) = (0, true);
    let passes = match params.loss {
        Loss::Squared => 1,
        Loss::Absolute => ABSOLUTE_LOSS_PASSES,
    };
    let mut previous_loss = f64::INFINITY;
    // A fit from zero reweights many times: each reweighting's loss comes with its weighted
    // statistics in one pass over the rows (the last statistics then go unused). A warm-started
    // fit (a fold, a refit) often stops after one reweighting: its loss alone comes first.
    let start = start.filter(|s| s.coefficients.len() == k && params.loss == Loss::Absolute);
    let warm = start.is_some();
    let mut stats = if let Some(start) = start {
        // The start's prediction in this fit's standardised units: the same coefficients per
        // raw feature, the intercept moved by the change of the feature means.
        let old = start.standardisation;
        let mut shifted = start.intercept;
        for j in 0..k {
            w[j] = start.coefficients[j] * scale[j] / old.scale[j] / y_scale;
            shifted += start.coefficients[j] * (mean[j] - old.mean[j]) / old.scale[j];
        }
        intercept = (shifted - y_mean) / y_scale;
        // The pass at the start gives the start's loss with its statistics.
        let (stats, loss) = standardised.pass(Some((&w, intercept)));
        previous_loss = loss;
        stats
    } else {
        standardised.pass(None).0
    };
    for _ in 0..passes {
        let (next, its, conv) = coordinate_descent(&stats.gram, &stats.c, k, params, &w);
        w = next;
        intercept = stats.y_mean - w.iter().zip(&stats.x_mean).map(|(a, b)| a * b).sum::<f64>();
        iterations += its;
        converged &= conv;
        if params.loss == Loss::Squared {
            break;
        }
        let (next, loss) = match warm {
            true => (None, standardised.loss(&w, intercept)),
            false => {
                let (next, loss) = standardised.pass(Some((&w, intercept)));
                (Some(next), loss)
            }
        };
        if previous_loss - loss < 1e-3 * previous_loss {
            break;
        }
        previous_loss = loss;
        stats = next.unwrap_or_else(|| standardised.pass(Some((&w, intercept))).0);
    }
    let coefficients: Vec<f64> = w.iter().map(|w| w * y_scale).collect();
    if coefficients.iter().any(|c| !c.is_finite()) {
        return Err(Error::Fit("coefficients are not finite".into()));
    }
    Ok(Fitted {
        standardisation: Standardisation { mean, scale },
        coefficients,
        intercept: y_mean + intercept * y_scale,
        iterations,
        converged,
    })
}

/// Dot product in [`LANES`] lanes, so that it vectorises.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    dots(a, [b])[0]
}

/// Lanes of a sum: value i is added to lane i mod 8, each lane in order; then the lanes in a
/// fixed tree ([`lanes_total`]). Eight independent chains of additions, so that a sum runs at
/// the processor's throughput rather than at the latency of one addition after another; for a
/// dot product, one AVX-512 register, two AVX2 ones or eight scalars — the same bits on each.
const LANES: usize = 8;

/// The lanes added in a fixed order: pairs, then pairs of pairs.
fn lanes_total(lanes: &[f64; LANES]) -> f64 {
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
}

/// `M` dot products of `a` with each of `bs` in one pass over `a`, each summed exactly as
/// [`dot`] sums it. `M` interleaved keep the processor busy while each chain waits, and `a` is
/// loaded once for all. With AVX-512 or AVX2, in their registers: the compiler, left to itself,
/// vectorised across the `M` products with shuffles and ran at a fifth of the speed.
#[inline(always)]
fn dots<const M: usize>(a: &[f64], bs: [&[f64]; M]) -> [f64; M] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F, checked just above.
            return unsafe { dots_avx512(a, bs) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above.
            return unsafe { dots_avx2(a, bs) };
        }
    }
    dots_portable(a, bs)
}

#[inline(always)]
fn dots_portable<const M: usize>(a: &[f64], bs: [&[f64]; M]) -> [f64; M] {
    let n = a.len();
    let bs = bs.map(|b| &b[..n]);
    let whole = n / LANES * LANES;
    let mut acc = [[0.0f64; LANES]; M];
    for (i, x) in a[..whole].chunks_exact(LANES).enumerate() {
        for (acc, b) in acc.iter_mut().zip(&bs) {
            let y = &b[i * LANES..(i + 1) * LANES];
            for l in 0..LANES {
                acc[l] += x[l] * y[l];
            }
        }
    }
    finish_dots(a, bs, whole, acc)
}

/// The lanes of each dot product added in their fixed tree, then its tail (the values past the
/// last whole eight, in order).
#[inline(always)]
fn finish_dots<const M: usize>(a: &[f64], bs: [&[f64]; M], whole: usize, acc: [[f64; LANES]; M]) -> [f64; M] {
    std::array::from_fn(|m| {
        let tail: f64 = a[whole..].iter().zip(&bs[m][whole..]).map(|(x, y)| x * y).sum();
        lanes_total(&acc[m]) + tail
    })
}

/// [`dots_portable`] in AVX2 registers, two a product (lanes 0–3 and 4–7): a multiply, then an
/// add (never fused), lane by lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots_avx2<const M: usize>(a: &[f64], bs: [&[f64]; M]) -> [f64; M] {
    use std::arch::x86_64::{_mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_setzero_pd, _mm256_storeu_pd};
    let n = a.len();
    let bs = bs.map(|b| &b[..n]);
    let whole = n / LANES * LANES;
    let mut low = [_mm256_setzero_pd(); M];
    let mut high = [_mm256_setzero_pd(); M];
    for i in (0..whole).step_by(LANES) {
        // SAFETY: i + 8 <= whole <= n, the length of `a` and of every `bs[m]`.
        unsafe {
            let (xl, xh) = (
                _mm256_loadu_pd(a.as_ptr().add(i)),
                _mm256_loadu_pd(a.as_ptr().add(i + 4)),
            );
            for m in 0..M {
                let b = bs[m].as_ptr().add(i);
                low[m] = _mm256_add_pd(low[m], _mm256_mul_pd(xl, _mm256_loadu_pd(b)));
                high[m] = _mm256_add_pd(high[m], _mm256_mul_pd(xh, _mm256_loadu_pd(b.add(4))));
            }
        }
    }
    let lanes = std::array::from_fn(|m| {
        let mut out = [0.0f64; LANES];
        // SAFETY: `out` holds eight f64.
        unsafe {
            _mm256_storeu_pd(out.as_mut_ptr(), low[m]);
            _mm256_storeu_pd(out.as_mut_ptr().add(4), high[m]);
        }
        out
    });
    finish_dots(a, bs, whole, lanes)
}

/// [`dots_portable`] in AVX-512 registers, one a product: a multiply, then an add (never fused).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn dots_avx512<const M: usize>(a: &[f64], bs: [&[f64]; M]) -> [f64; M] {
    use std::arch::x86_64::{_mm512_add_pd, _mm512_loadu_pd, _mm512_mul_pd, _mm512_setzero_pd, _mm512_storeu_pd};
    let n = a.len();
    let bs = bs.map(|b| &b[..n]);
    let whole = n / LANES * LANES;
    let mut acc = [_mm512_setzero_pd(); M];
    for i in (0..whole).step_by(LANES) {
        // SAFETY: i + 8 <= whole <= n, the length of `a` and of every `bs[m]`.
        unsafe {
            let x = _mm512_loadu_pd(a.as_ptr().add(i));
            for (acc, b) in acc.iter_mut().zip(&bs) {
                *acc = _mm512_add_pd(*acc, _mm512_mul_pd(x, _mm512_loadu_pd(b.as_ptr().add(i))));
            }
        }
    }
    let lanes = acc.map(|v| {
        let mut out = [0.0f64; LANES];
        // SAFETY: `out` holds eight f64.
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), v) };
        out
    });
    finish_dots(a, bs, whole, lanes)
}

/// Adds to each `out[b]` the dot product of `x` with `column(b)`, four columns at a time (one
/// pass over `x` for four products).
#[inline(always)]
fn add_dots<'a>(out: &mut [f64], x: &[f64], column: impl Fn(usize) -> &'a [f64]) {
    let mut b = 0;
    while b + 4 <= out.len() {
        let d = dots(x, [column(b), column(b + 1), column(b + 2), column(b + 3)]);
        for (s, d) in out[b..b + 4].iter_mut().zip(d) {
            *s += d;
        }
        b += 4;
    }
    for (s, b) in out[b..].iter_mut().zip(b..) {
        *s += dot(x, column(b));
    }
}

/// Ones, for sums taken as dot products (in lanes, as [`dots`] adds).
static ONES: [f64; BLOCK] = [1.0; BLOCK];

/// The sum of at most [`BLOCK`] values, in lanes as [`dots`] adds.
#[inline(always)]
fn total(values: &[f64]) -> f64 {
    dot(values, &ONES[..values.len()])
}

/// Reweighting passes at most, for the absolute loss.
const ABSOLUTE_LOSS_PASSES: usize = 12;
/// Smallest residual (in target standard deviations) a weight is computed from.
const IRLS_FLOOR: f64 = 0.01;

/// The problem's features and label seen through their standardisation, without a
/// standardised copy.
struct Standardised<'a> {
    problem: &'a Problem<'a>,
    mean: &'a [f64],
    scale: &'a [f64],
    y_mean: f64,
    y_scale: f64,
}

/// Rows read at a time: a block of standardised features stays in cache while every pair of
/// columns is multiplied.
const BLOCK: usize = 4096;

/// One block of rows, standardised, column-major (`z[j * BLOCK + r]`), with its label, the
/// rows' inverse divisors, and the rows' absolute residuals or weights.
struct Block {
    z: Vec<f64>,
    y: Vec<f64>,
    inverse: Vec<f64>,
    weights: Vec<f64>,
}

impl Block {
    fn new(k: usize) -> Self {
        Block {
            z: vec![0.0; k * BLOCK],
            y: vec![0.0; BLOCK],
            inverse: vec![0.0; BLOCK],
            weights: vec![0.0; BLOCK],
        }
    }

    /// |label − prediction| of the first `len` rows at `w` and `intercept`, into `weights`.
    #[inline(always)]
    fn residuals(&mut self, len: usize, w: &[f64], intercept: f64) {
        let prediction = &mut self.weights[..len];
        prediction.fill(intercept);
        for (j, wj) in w.iter().enumerate() {
            for (p, z) in prediction.iter_mut().zip(&self.z[j * BLOCK..j * BLOCK + len]) {
                *p += z * wj;
            }
        }
        for (p, y) in prediction.iter_mut().zip(&self.y[..len]) {
            *p = (y - *p).abs();
        }
    }
}

/// Rows a pass sums on one core at a time. Fixed, not taken from the number of cores: the chunks'
/// sums are added in the same order on any machine, so a fit gives the same bits everywhere.
const CHUNK: usize = 8 * BLOCK;

/// `0..n` in [`CHUNK`]s (one, empty, when `n` is 0).
fn chunks(n: usize) -> Vec<Range<usize>> {
    let mut chunks: Vec<Range<usize>> = (0..n).step_by(CHUNK).map(|s| s..(s + CHUNK).min(n)).collect();
    if chunks.is_empty() {
        chunks.push(0..0);
    }
    chunks
}

/// What a pass adds up over some rows: (weighted) products, sums, the weights' sum and the
/// absolute residuals' sum.
struct Totals {
    sxx: Vec<f64>,
    sxy: Vec<f64>,
    sx: Vec<f64>,
    sy: f64,
    sw: f64,
    loss: f64,
}

impl Totals {
    fn add(mut self, other: Totals) -> Totals {
        for (a, b) in [
            (&mut self.sxx, &other.sxx),
            (&mut self.sxy, &other.sxy),
            (&mut self.sx, &other.sx),
        ] {
            for (a, b) in a.iter_mut().zip(b) {
                *a += b;
            }
        }
        self.sy += other.sy;
        self.sw += other.sw;
        self.loss += other.loss;
        self
    }
}

/// Weighted, centred sufficient statistics: G = XᵀWX/Σw, c = XᵀWy/Σw (about the weighted
/// means), and the weighted means themselves.
struct Gram {
    gram: Vec<f64>,
    c: Vec<f64>,
    x_mean: Vec<f64>,
    y_mean: f64,
}

impl Standardised<'_> {
    /// One pass over the rows in blocks: each block standardised column by column into a small
    /// buffer, then every pair of columns is one contiguous dot product (which the compiler
    /// vectorises), without a standardised copy of the whole table. With coefficients `at`, the
    /// rows are weighted toward the absolute loss — 1/|residual| at `at` (floored): iteratively
    /// reweighted least squares, the weights computed block by block and never stored. They
    /// need no normalising: the statistics are ratios to their sum. The rows are summed in
    /// [`CHUNK`]s on the cores, the chunks' sums then added in order. Returns the statistics
    /// and the mean absolute residual at `at` (NaN without).
    fn pass(&self, at: Option<(&[f64], f64)>) -> (Gram, f64) {
        let k = self.problem.columns.len();
        let totals = parallel::map(&chunks(self.problem.rows()), parallel::cores(), |rows| {
            self.totals(rows.clone(), at)
        });
        let t = totals.into_iter().reduce(Totals::add).expect("at least one chunk");
        let (sxx, sw) = (&t.sxx, t.sw);
        let x_mean: Vec<f64> = t.sx.iter().map(|v| v / sw).collect();
        let y_mean = t.sy / sw;
        let mut gram = vec![0.0; k * k];
        for a in 0..k {
            for b in 0..=a {
                let v = sxx[a * k + b] / sw - x_mean[a] * x_mean[b];
                gram[a * k + b] = v;
                gram[b * k + a] = v;
            }
        }
        let c = (0..k).map(|a| t.sxy[a] / sw - x_mean[a] * y_mean).collect();
        let gram = Gram {
            gram,
            c,
            x_mean,
            y_mean,
        };
        let n = self.problem.rows() as f64;
        (gram, if at.is_some() { t.loss / n } else { f64::NAN })
    }

    /// The sums of [`Self::pass`] over `rows`.
    fn totals(&self, rows: Range<usize>, at: Option<(&[f64], f64)>) -> Totals {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above.
            return unsafe { self.totals_avx2(rows, at) };
        }
        self.totals_portable(rows, at)
    }

    /// [`Self::totals`] compiled for AVX2 (four lanes of f64 a register instead of SSE2's two):
    /// the same operations in the same order, so the same bits; no fused multiply-add.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn totals_avx2(&self, rows: Range<usize>, at: Option<(&[f64], f64)>) -> Totals {
        self.totals_portable(rows, at)
    }

    #[inline(always)]
    fn totals_portable(&self, rows: Range<usize>, at: Option<(&[f64], f64)>) -> Totals {
        let k = self.problem.columns.len();
        let mut sxx = vec![0.0; k * k];
        let mut sxy = vec![0.0; k];
        let mut sx = vec![0.0; k];
        let (mut sy, mut sw, mut loss) = (0.0, 0.0, 0.0);
        let mut block = Block::new(k);
        let mut wz = vec![0.0; BLOCK];
        for start in rows.clone().step_by(BLOCK) {
            let len = BLOCK.min(rows.end - start);
            self.read(start..start + len, &mut block);
            if let Some((w, intercept)) = at {
                block.residuals(len, w, intercept);
                loss += total(&block.weights[..len]);
                for weight in &mut block.weights[..len] {
                    *weight = 1.0 / weight.max(IRLS_FLOOR);
                }
            }
            let (z, yb) = (&block.z, &block.y[..len]);
            let wb: Option<&[f64]> = at.map(|_| &block.weights[..len]);
            // The rows' weights, ones when unweighted: the sums below are dot products with them.
            let weights = wb.unwrap_or(&ONES[..len]);
            sw += total(weights);
            sy += dot(weights, yb);
            let column = |b: usize| &z[b * BLOCK..b * BLOCK + len];
            // Each column's (weighted) sum.
            add_dots(&mut sx, weights, column);
            for a in 0..k {
                let za = column(a);
                let wza = match wb {
                    Some(w) => {
                        for ((o, zi), wi) in wz[..len].iter_mut().zip(za).zip(w) {
                            *o = zi * wi;
                        }
                        &wz[..len]
                    }
                    None => za,
                };
                sxy[a] += dot(wza, yb);
                add_dots(&mut sxx[a * k..=a * k + a], wza, column);
            }
        }
        Totals {
            sxx,
            sxy,
            sx,
            sy,
            sw,
            loss,
        }
    }

    /// The mean absolute residual at coefficients `w` and `intercept`, in one pass (summed as
    /// [`Self::pass`] sums it: the same bits).
    fn loss(&self, w: &[f64], intercept: f64) -> f64 {
        let losses = parallel::map(&chunks(self.problem.rows()), parallel::cores(), |rows| {
            self.chunk_loss(rows.clone(), w, intercept)
        });
        losses.into_iter().reduce(|a, b| a + b).expect("at least one chunk") / self.problem.rows() as f64
    }

    /// The sum of absolute residuals over `rows`.
    fn chunk_loss(&self, rows: Range<usize>, w: &[f64], intercept: f64) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above.
            return unsafe { self.chunk_loss_avx2(rows, w, intercept) };
        }
        self.chunk_loss_portable(rows, w, intercept)
    }

    /// [`Self::chunk_loss`] compiled for AVX2, as [`Self::totals_avx2`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn chunk_loss_avx2(&self, rows: Range<usize>, w: &[f64], intercept: f64) -> f64 {
        self.chunk_loss_portable(rows, w, intercept)
    }

    #[inline(always)]
    fn chunk_loss_portable(&self, rows: Range<usize>, w: &[f64], intercept: f64) -> f64 {
        let mut block = Block::new(w.len());
        let mut loss = 0.0;
        for start in rows.clone().step_by(BLOCK) {
            let len = BLOCK.min(rows.end - start);
            self.read(start..start + len, &mut block);
            block.residuals(len, w, intercept);
            loss += total(&block.weights[..len]);
        }
        loss
    }

    /// Standardises the rows `rows` (at most `BLOCK`) into `block`: each feature column by
    /// column, divided first where the problem divides, and the label. Multiplied by inverses:
    /// a division per value would bound the whole pass.
    #[inline(always)]
    fn read(&self, rows: Range<usize>, block: &mut Block) {
        let len = rows.len();
        let inverse = &mut block.inverse[..len];
        if let Some(d) = &self.problem.divide {
            d.inverses(rows.clone(), inverse);
        }
        let standardise = |out: &mut [f64], values: &[f64], divided: bool, m: f64, sc: f64| {
            let inverse_scale = 1.0 / sc;
            if divided {
                for ((out, x), s) in out.iter_mut().zip(values).zip(&*inverse) {
                    *out = (x * s - m) * inverse_scale;
                }
            } else {
                for (out, x) in out.iter_mut().zip(values) {
                    *out = (x - m) * inverse_scale;
                }
            }
        };
        let divide = self.problem.divide.as_ref();
        for (j, column) in self.problem.columns.iter().enumerate() {
            standardise(
                &mut block.z[j * BLOCK..j * BLOCK + len],
                &column[rows.clone()],
                divide.is_some_and(|d| d.columns[j]),
                self.mean[j],
                self.scale[j],
            );
        }
        standardise(
            &mut block.y[..len],
            &self.problem.label[rows],
            divide.is_some(),
            self.y_mean,
            self.y_scale,
        );
    }
}

/// Cyclic coordinate descent on `½wᵀGw − cᵀw + α·ρ·‖w‖₁ + α(1−ρ)/2·‖w‖²`.
/// Starts from `start` (a warm start between reweighting passes).
fn coordinate_descent(gram: &[f64], c: &[f64], k: usize, params: &ModelConfig, start: &[f64]) -> (Vec<f64>, u32, bool) {
    let l1 = params.penalty * params.l1_ratio;
    let l2 = params.penalty * (1.0 - params.l1_ratio);
    let mut w = start.to_vec();
    // gw = G·w, kept up to date as coefficients move.
    let mut gw: Vec<f64> = (0..k).map(|a| (0..k).map(|b| gram[a * k + b] * w[b]).sum()).collect();
    for iteration in 1..=params.max_iterations {
        let mut max_change: f64 = 0.0;
        let mut max_w: f64 = 0.0;
        for j in 0..k {
            let gjj = gram[j * k + j];
            if gjj <= 0.0 {
                continue;
            }
            let rho = c[j] - (gw[j] - gjj * w[j]);
            let new = soft_threshold(rho, l1) / (gjj + l2);
            let delta = new - w[j];
            if delta != 0.0 {
                for (a, g) in gw.iter_mut().enumerate() {
                    *g += gram[a * k + j] * delta;
                }
                w[j] = new;
            }
            max_change = max_change.max(delta.abs());
            max_w = max_w.max(new.abs());
        }
        if max_w == 0.0 || max_change <= params.tolerance * max_w {
            return (w, iteration, true);
        }
    }
    (w, params.max_iterations, false)
}

fn soft_threshold(x: f64, t: f64) -> f64 {
    x.signum() * (x.abs() - t).max(0.0)
}

/// Adds every value's deviation from `shift` (the value multiplied by its row's `inverse` divisor
/// when given) to `sums`, and its square to `squares` — value i to lane i mod [`LANES`].
#[inline(always)]
fn add_lanes(sums: &mut [f64; LANES], squares: &mut [f64; LANES], values: &[f64], inverse: Option<&[f64]>, shift: f64) {
    let mut add = |l: usize, v: f64| {
        let d = v - shift;
        sums[l] += d;
        squares[l] += d * d;
    };
    let whole = values.len() / LANES * LANES;
    match inverse {
        Some(inverse) => {
            let inverse = &inverse[..values.len()];
            for (x, s) in values[..whole]
                .chunks_exact(LANES)
                .zip(inverse[..whole].chunks_exact(LANES))
            {
                for l in 0..LANES {
                    add(l, x[l] * s[l]);
                }
            }
            for (l, (x, s)) in values[whole..].iter().zip(&inverse[whole..]).enumerate() {
                add(l, x * s);
            }
        }
        None => {
            for x in values[..whole].chunks_exact(LANES) {
                for (l, &v) in x.iter().enumerate() {
                    add(l, v);
                }
            }
            for (l, x) in values[whole..].iter().enumerate() {
                add(l, *x);
            }
        }
    }
}

/// Mean and population standard deviation of each of the problem's columns and of its label,
/// divided row by row where the problem divides (by the divisor's inverse, as the fit reads
/// them): one pass over the rows in blocks, each column's deviations from its first value and
/// their squares summed in [`LANES`] chains (the first value as the origin keeps the squares'
/// sum from cancelling away the variance of a column far from zero).
fn moments(problem: &Problem) -> (Vec<(f64, f64)>, (f64, f64)) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe { moments_avx2(problem) };
    }
    moments_portable(problem)
}

/// [`moments`] compiled for AVX2, as [`Standardised::totals_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn moments_avx2(problem: &Problem) -> (Vec<(f64, f64)>, (f64, f64)) {
    moments_portable(problem)
}

#[inline(always)]
fn moments_portable(problem: &Problem) -> (Vec<(f64, f64)>, (f64, f64)) {
    let (n, k) = (problem.rows(), problem.columns.len());
    // Column j (the label is k) and whether it is divided.
    let column = |j: usize| match j == k {
        true => (problem.label, problem.divide.is_some()),
        false => (
            problem.columns[j],
            problem.divide.as_ref().is_some_and(|d| d.columns[j]),
        ),
    };
    let shifts: Vec<f64> = (0..=k)
        .map(|j| match (column(j), &problem.divide) {
            _ if n == 0 => 0.0,
            ((values, true), Some(d)) => values[0] * (1.0 / d.scale(0)),
            ((values, _), _) => values[0],
        })
        .collect();
    let mut sums = vec![[0.0; LANES]; k + 1];
    let mut squares = vec![[0.0; LANES]; k + 1];
    let mut inverse = vec![0.0; BLOCK];
    for start in (0..n).step_by(BLOCK) {
        let rows = start..BLOCK.min(n - start) + start;
        let inverse = &mut inverse[..rows.len()];
        if let Some(d) = &problem.divide {
            d.inverses(rows.clone(), inverse);
        }
        for (j, (sums, squares)) in sums.iter_mut().zip(&mut squares).enumerate() {
            let (values, divided) = column(j);
            let inverse = divided.then_some(&*inverse);
            add_lanes(sums, squares, &values[rows.clone()], inverse, shifts[j]);
        }
    }
    let mut moments: Vec<(f64, f64)> = (0..=k)
        .map(|j| {
            let deviation = lanes_total(&sums[j]) / n as f64;
            let variance = lanes_total(&squares[j]) / n as f64 - deviation * deviation;
            (shifts[j] + deviation, variance.max(0.0).sqrt())
        })
        .collect();
    let label = moments.pop().expect("the label's moments");
    (moments, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem() -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let a: Vec<f64> = (0..500).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
        let b: Vec<f64> = (0..500).map(|i| (i as f64 * 0.11).cos() * 3.0 + 100.0).collect();
        // A third column nearly collinear with the first, as lags are.
        let d: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, v)| v + (i as f64 * 1.3).sin() * 0.1)
            .collect();
        let y: Vec<f64> = (0..500)
            .map(|i| 2.0 * a[i] - 5.0 * b[i] + 0.5 * d[i] + 7.0 + (i as f64 * 2.1).sin())
            .collect();
        (a, b, d, y)
    }

    #[test]
    fn recovers_a_linear_relation() {
        let (a, b, d, y) = problem();
        let params = ModelConfig {
            penalty: 1e-9,
            loss: Loss::Squared,
            tolerance: 1e-8,
            max_iterations: 1_000_000,
            ..ModelConfig::default()
        };
        let f = fit(&Problem::new(vec![&a, &b, &d], &y), &params, None).unwrap();
        assert!(f.converged);
        let raw: Vec<f64> = (0..3).map(|j| f.coefficients[j] / f.standardisation.scale[j]).collect();
        assert!((raw[0] + raw[2] - 2.5).abs() < 0.05, "{raw:?}");
        assert!((raw[1] + 5.0).abs() < 0.05, "{raw:?}");
    }

    /// A relative problem, divided as the fit reads it, fits what the divided copy fits.
    #[test]
    fn a_divided_problem_fits_as_its_divided_copy() {
        let (a, b, d, y) = problem();
        let by: Vec<f64> = (0..500).map(|i| 20.0 + (i as f64 * 0.05).sin() * 5.0).collect();
        let floor = 1e-6;
        let divided = |v: &[f64]| -> Vec<f64> { v.iter().zip(&by).map(|(x, s)| x / s.abs().max(floor)).collect() };
        let (a2, d2, y2) = (divided(&a), divided(&d), divided(&y));
        let params = ModelConfig::default();
        let copy = fit(&Problem::new(vec![&a2, &b, &d2], &y2), &params, None).unwrap();
        let mut relative = Problem::new(vec![&a, &b, &d], &y);
        relative.divide = Some(Divide {
            by: &by,
            floor,
            columns: vec![true, false, true],
        });
        let read = fit(&relative, &params, None).unwrap();
        for (x, z) in copy
            .coefficients
            .iter()
            .zip(&read.coefficients)
            .chain([(&copy.intercept, &read.intercept)])
        {
            assert!((x - z).abs() <= 1e-9 * x.abs().max(1.0), "{x} vs {z}");
        }
    }

    /// The pass compiled for AVX2 (taken on this machine when it has it) gives the very bits of
    /// the portable one, weighted and not, divided and not, over several blocks and a ragged end.
    #[test]
    fn the_avx2_pass_gives_the_portable_bits() {
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this processor: the pass taken is the portable one, compared with itself");
        }
        let n = 2 * BLOCK + 37;
        let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 10.0 + 50.0).collect();
        let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() * 3.0 + 100.0).collect();
        let c: Vec<f64> = (0..n).map(|i| (i as f64 * 1.7).sin()).collect();
        let d: Vec<f64> = (0..n).map(|i| i as f64 % 13.0).collect();
        let e: Vec<f64> = (0..n).map(|i| (i as f64).sqrt()).collect();
        let y: Vec<f64> = (0..n).map(|i| a[i] * 2.0 - b[i] + c[i] * 5.0 + 3.0).collect();
        for divided in [false, true] {
            let mut problem = Problem::new(vec![&a, &b, &c, &d, &e], &y);
            if divided {
                problem.divide = Some(Divide {
                    by: &a,
                    floor: 1e-6,
                    columns: vec![true, false, true, false, false],
                });
            }
            let (mean, scale) = (vec![1.0, 2.0, 0.5, 6.0, 3.0], vec![2.0, 0.7, 1.5, 3.0, 0.9]);
            let standardised = Standardised {
                problem: &problem,
                mean: &mean,
                scale: &scale,
                y_mean: 4.0,
                y_scale: 7.0,
            };
            let w = [0.3, -0.2, 0.1, 0.05, -0.4];
            for at in [None, Some((&w[..], 0.25))] {
                let rows = 0..n;
                let (fast, portable) = (
                    standardised.totals(rows.clone(), at),
                    standardised.totals_portable(rows, at),
                );
                let bits = |t: &Totals| -> Vec<u64> {
                    t.sxx
                        .iter()
                        .chain(&t.sxy)
                        .chain(&t.sx)
                        .chain([&t.sy, &t.sw, &t.loss])
                        .map(|v| v.to_bits())
                        .collect()
                };
                assert_eq!(
                    bits(&fast),
                    bits(&portable),
                    "divided {divided}, weighted {}",
                    at.is_some()
                );
            }
            assert_eq!(
                standardised.chunk_loss(0..n, &w, 0.25).to_bits(),
                standardised.chunk_loss_portable(0..n, &w, 0.25).to_bits()
            );
        }
    }

    /// The dot products in AVX-512 and AVX2 registers (each compared where this processor has
    /// it) give the very bits of the portable lanes, one product or four, whole eights and
    /// ragged ends.
    #[test]
    fn the_vector_dot_products_give_the_portable_bits() {
        let column =
            |seed: f64, n: usize| -> Vec<f64> { (0..n).map(|i| (i as f64 * seed).sin() * 1e3 + seed).collect() };
        let bits = |v: [f64; 4]| v.map(f64::to_bits);
        let mut compared = Vec::new();
        for n in [0, 1, 3, 4, 7, 8, 9, 64, 4093] {
            let (a, b, c, d, e) = (
                column(0.37, n),
                column(1.1, n),
                column(0.013, n),
                column(2.9, n),
                column(0.7, n),
            );
            let portable = bits(dots_portable(&a, [&b, &c, &d, &e]));
            assert_eq!(bits(dots(&a, [&b, &c, &d, &e])), portable, "{n} rows");
            assert_eq!(dot(&a, &b).to_bits(), dots_portable(&a, [&b])[0].to_bits(), "{n} rows");
            #[cfg(target_arch = "x86_64")]
            for (feature, available) in [
                ("avx2", std::arch::is_x86_feature_detected!("avx2")),
                ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ] {
                if !available {
                    continue;
                }
                // SAFETY: the processor has the feature, checked just above.
                let vector = unsafe {
                    match feature {
                        "avx2" => dots_avx2(&a, [&b, &c, &d, &e]),
                        _ => dots_avx512(&a, [&b, &c, &d, &e]),
                    }
                };
                assert_eq!(bits(vector), portable, "{feature}, {n} rows");
                compared.push(feature);
            }
        }
        if compared.is_empty() {
            eprintln!("neither AVX2 nor AVX-512 on this processor: only the portable lanes were compared");
        }
    }

    /// The moments, divided and not, are the mean and population standard deviation computed
    /// directly.
    #[test]
    fn moments_are_the_mean_and_standard_deviation() {
        let n = BLOCK + 13;
        let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 10.0 + 1e4).collect();
        let by: Vec<f64> = (0..n).map(|i| 20.0 + (i as f64 * 0.05).sin() * 5.0).collect();
        let y: Vec<f64> = (0..n).map(|i| a[i] * 0.5 + (i as f64 * 1.3).cos()).collect();
        let direct = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / n as f64;
            (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64).sqrt())
        };
        let close = |(m, s): (f64, f64), (m2, s2): (f64, f64)| {
            assert!(
                (m - m2).abs() <= 1e-12 * m2.abs() && (s - s2).abs() <= 1e-9 * s2,
                "{m} {s} vs {m2} {s2}"
            );
        };
        let mut problem = Problem::new(vec![&a], &y);
        let (columns, label) = moments(&problem);
        close(columns[0], direct(&a));
        close(label, direct(&y));
        problem.divide = Some(Divide {
            by: &by,
            floor: 1e-6,
            columns: vec![true],
        });
        let divided = |v: &[f64]| -> Vec<f64> { v.iter().zip(&by).map(|(x, s)| x / s).collect() };
        let (columns, label) = moments(&problem);
        close(columns[0], direct(&divided(&a)));
        close(label, direct(&divided(&y)));
    }

    /// A pass over several chunks gives the chunks' sums added in order, whatever the cores'
    /// timing, and the loss alone is the pass's loss to the bit.
    #[test]
    fn a_pass_adds_its_chunks_in_order() {
        let n = 2 * CHUNK + BLOCK + 5;
        let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 10.0 + 50.0).collect();
        let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.011).cos() * 3.0).collect();
        let y: Vec<f64> = (0..n).map(|i| a[i] * 2.0 - b[i] + (i as f64 * 1.3).sin()).collect();
        let problem = Problem::new(vec![&a, &b], &y);
        let standardised = Standardised {
            problem: &problem,
            mean: &[50.0, 0.0],
            scale: &[7.0, 2.0],
            y_mean: 100.0,
            y_scale: 15.0,
        };
        let at = Some((&[0.9, -0.1][..], 0.05));
        let (gram, loss) = standardised.pass(at);
        let chunks = chunks(n);
        assert_eq!(chunks.len(), 3);
        let total = chunks
            .iter()
            .map(|rows| standardised.totals(rows.clone(), at))
            .reduce(Totals::add)
            .unwrap();
        assert_eq!((total.loss / n as f64).to_bits(), loss.to_bits());
        assert_eq!((total.sy / total.sw).to_bits(), gram.y_mean.to_bits());
        let x_mean = total.sx[1] / total.sw;
        assert_eq!(x_mean.to_bits(), gram.x_mean[1].to_bits());
        assert_eq!(
            (total.sxx[3] / total.sw - x_mean * x_mean).to_bits(),
            gram.gram[3].to_bits()
        );
        assert_eq!(standardised.loss(&[0.9, -0.1], 0.05).to_bits(), loss.to_bits());
    }

    #[test]
    fn agrees_with_linfa_elasticnet() {
        use linfa::prelude::*;
        let (a, b, d, y) = problem();
        let params = ModelConfig {
            penalty: 0.05,
            loss: Loss::Squared,
            l1_ratio: 0.5,
            tolerance: 1e-12,
            max_iterations: 100_000,
            ..ModelConfig::default()
        };
        let ours = fit(&Problem::new(vec![&a, &b, &d], &y), &params, None).unwrap();
        // The same standardised problem, solved by linfa.
        let cols = [&a, &b, &d];
        let x = ndarray::Array2::from_shape_fn((500, 3), |(i, j)| {
            (cols[j][i] - ours.standardisation.mean[j]) / ours.standardisation.scale[j]
        });
        let (_, (ym, ys)) = moments(&Problem::new(vec![], &y));
        let yt = ndarray::Array1::from_iter(y.iter().map(|v| (v - ym) / ys));
        let theirs = linfa_elasticnet::ElasticNet::params()
            .penalty(0.05)
            .l1_ratio(0.5)
            .tolerance(1e-12)
            .max_iterations(100_000)
            .fit(&linfa::Dataset::new(x, yt))
            .unwrap();
        for j in 0..3 {
            let t = theirs.hyperplane()[j] * ys;
            assert!(
                (ours.coefficients[j] - t).abs() < 1e-4 * t.abs().max(1.0),
                "coefficient {j}: {} vs linfa {t}",
                ours.coefficients[j]
            );
        }
    }
}
