//! Comparing a kernel's output with the reference against per-element bounds: the one helper
//! the tests and [`crate::selftest`] share.

/// The first element outside its bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mismatch {
    /// Its index.
    pub index: usize,
    /// The value computed.
    pub got: f32,
    /// The reference value.
    pub want: f32,
    /// Its bound on `|got − want|`.
    pub bound: f64,
}

/// How `got` compares with `want`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The largest `|got − want| / bound` (infinite for a NaN, for lengths that differ, or for a
    /// difference where the bound is 0).
    pub worst: f64,
    /// The first element outside its bound, if any.
    pub first_bad: Option<Mismatch>,
}

impl Comparison {
    /// Whether every element is within its bound (and the lengths agree).
    pub fn passed(&self) -> bool {
        self.worst <= 1.0
    }
}

/// Compares `got` with `want` elementwise against `|got − want| ≤ bound(i)`; NaN on either
/// side fails, and a bound of 0 asks for equality.
pub fn compare(got: &[f32], want: &[f32], bound: impl Fn(usize) -> f64) -> Comparison {
    let mut worst: f64 = if got.len() == want.len() {
        0.0
    } else {
        f64::INFINITY
    };
    let mut first_bad = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let b = bound(i);
        let diff = (f64::from(g) - f64::from(w)).abs();
        // Within the bound (a zero bound allows only equality); NaN never is.
        let within = diff <= b;
        let ratio = match (within, diff / b) {
            (true, r) if r.is_nan() => 0.0,
            (true, r) => r,
            (false, r) if r.is_nan() || r <= 1.0 => f64::INFINITY,
            (false, r) => r,
        };
        if !within && first_bad.is_none() {
            first_bad = Some(Mismatch {
                index: i,
                got: g,
                want: w,
                bound: b,
            });
        }
        worst = worst.max(ratio);
    }
    Comparison { worst, first_bad }
}

#[cfg(test)]
mod tests {
    use super::compare;

    #[test]
    fn bounds_nan_and_lengths() {
        assert!(compare(&[1.0, 2.0], &[1.0, 2.5], |_| 0.5).passed());
        let c = compare(&[1.0, 2.0], &[1.0, 2.5], |_| 0.25);
        assert_eq!((c.worst, c.first_bad.map(|m| m.index)), (2.0, Some(1)));
        assert!(
            compare(&[0.0], &[0.0], |_| 0.0).passed(),
            "a zero bound allows equality"
        );
        assert!(!compare(&[1e-30], &[0.0], |_| 0.0).passed());
        assert!(!compare(&[f32::NAN], &[0.0], |_| 1.0).passed());
        assert!(!compare(&[1.0], &[1.0, 2.0], |_| 1.0).passed());
    }
}
