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
    bce_with_logits_pos_weight(logits, target, &[1.0])
}

/// PyTorch's `BCEWithLogitsLoss(pos_weight=p)` with one weight per column of a row-major
/// `[rows, p.len()]` input: `mean((1 − y)·x + (1 + (p − 1)·y)·softplus(−x))`; gradient
/// `((1 + (p − 1)·y)·σ(x) − p·y)/n`. With p = 1 it is `bce_with_logits`.
pub fn bce_with_logits_pos_weight(
    logits: &[f32],
    target: &[f32],
    pos_weight: &[f32],
) -> (f64, Vec<f32>) {
    let n = logits.len() as f64;
    let mut loss = 0.0;
    let grad = logits
        .iter()
        .zip(target)
        .enumerate()
        .map(|(i, (&x, &y))| {
            let (x, y) = (f64::from(x), f64::from(y));
            let p = f64::from(pos_weight[i % pos_weight.len()]);
            let log_weight = 1.0 + (p - 1.0) * y;
            let softplus_neg = (-x.abs()).exp().ln_1p() + (-x).max(0.0);
            loss += (1.0 - y) * x + log_weight * softplus_neg;
            ((log_weight * sigmoid(x) - p * y) / n) as f32
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
    softmax_cross_entropy_weighted(logits, target, &vec![1.0; classes])
}

/// PyTorch's `CrossEntropyLoss(weight=w)` with class-index targets on `rows×w.len()` logits:
/// the weighted mean `Σ w[tᵣ]·(logsumexp(xᵣ) − xᵣ[tᵣ]) / Σ w[tᵣ]`; gradient
/// `w[tᵣ]·(softmax(xᵣ) − onehot(tᵣ)) / Σ w[tᵣ]`.
///
/// # Panics
/// If a target is not below the class count.
pub fn softmax_cross_entropy_weighted(
    logits: &[f32],
    target: &[u32],
    weights: &[f32],
) -> (f64, Vec<f32>) {
    let classes = weights.len();
    let weight = |t: u32| {
        let t = t as usize;
        assert!(t < classes, "target {t} out of range for {classes} classes");
        f64::from(weights[t])
    };
    let total: f64 = target.iter().map(|&t| weight(t)).sum();
    let mut loss = 0.0;
    let mut grad = vec![0.0f32; logits.len()];
    for (r, &t) in target.iter().enumerate() {
        let row: Vec<f64> = logits[r * classes..(r + 1) * classes]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum_exp: f64 = row.iter().map(|&v| (v - max).exp()).sum();
        let w = weight(t);
        let t = t as usize;
        loss += w * (sum_exp.ln() - (row[t] - max));
        for (j, &v) in row.iter().enumerate() {
            let onehot = if j == t { 1.0 } else { 0.0 };
            grad[r * classes + j] = (w * ((v - max).exp() / sum_exp - onehot) / total) as f32;
        }
    }
    (loss / total, grad)
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}
