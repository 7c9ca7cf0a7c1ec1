//! Reference for `shaders/loss.wgsl`: each loss returns its mean and the gradient of the mean
//! with respect to the predictions, computed in f64.

/// `mean((ŷ − y)²)`; gradient `2(ŷ − y)/n`.
pub fn mse(pred: &[f32], target: &[f32]) -> (f64, Vec<f32>) {
    let n = pred.len() as f64;
    let mut loss = 0.0;
    let grad = pred
        .iter()
        .zip(target)
        .map(|(&p, &y)| {
            let d = f64::from(p) - f64::from(y);
            loss += d * d;
            (2.0 * d / n) as f32
        })
        .collect();
    (loss / n, grad)
}

/// PyTorch's `BCEWithLogitsLoss`: `mean(max(x,0) − x·y + log1p(exp(−|x|)))`;
/// gradient `(σ(x) − y)/n`.
pub fn bce_with_logits(logits: &[f32], target: &[f32]) -> (f64, Vec<f32>) {
    let n = logits.len() as f64;
    let mut loss = 0.0;
    let grad = logits
        .iter()
        .zip(target)
        .map(|(&x, &y)| {
            let (x, y) = (f64::from(x), f64::from(y));
            loss += x.max(0.0) - x * y + (-x.abs()).exp().ln_1p();
            ((sigmoid(x) - y) / n) as f32
        })
        .collect();
    (loss / n, grad)
}

/// PyTorch's `BCELoss`: `mean(−(y·max(ln p, −100) + (1−y)·max(ln(1−p), −100)))`;
/// gradient `(p − y) / max(p(1−p), 1e-12) / n`.
pub fn bce(prob: &[f32], target: &[f32]) -> (f64, Vec<f32>) {
    let n = prob.len() as f64;
    let mut loss = 0.0;
    let grad = prob
        .iter()
        .zip(target)
        .map(|(&p, &y)| {
            let (p, y) = (f64::from(p), f64::from(y));
            loss -= y * p.ln().max(-100.0) + (1.0 - y) * (1.0 - p).ln().max(-100.0);
            ((p - y) / (p * (1.0 - p)).max(1e-12) / n) as f32
        })
        .collect();
    (loss / n, grad)
}

/// PyTorch's `CrossEntropyLoss` with class-index targets on `rows×classes` logits:
/// `mean(logsumexp(x) − x_t)`; gradient `(softmax(x) − onehot(t))/rows`.
///
/// # Panics
/// If a target is not below `classes` (the GPU kernel reports NaN instead).
pub fn softmax_cross_entropy(logits: &[f32], target: &[u32], classes: usize) -> (f64, Vec<f32>) {
    let rows = target.len();
    let mut loss = 0.0;
    let mut grad = vec![0.0f32; logits.len()];
    for (r, &t) in target.iter().enumerate() {
        let row: Vec<f64> = logits[r * classes..(r + 1) * classes]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum_exp: f64 = row.iter().map(|&v| (v - max).exp()).sum();
        let t = t as usize;
        assert!(t < classes, "target {t} out of range for {classes} classes");
        loss += sum_exp.ln() - (row[t] - max);
        for (j, &v) in row.iter().enumerate() {
            let onehot = if j == t { 1.0 } else { 0.0 };
            grad[r * classes + j] = (((v - max).exp() / sum_exp - onehot) / rows as f64) as f32;
        }
    }
    (loss / rows as f64, grad)
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}
