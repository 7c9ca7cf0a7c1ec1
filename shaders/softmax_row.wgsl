// Softmax cross-entropy of one row of logits, written once for loss.wgsl and small_mlp.wgsl,
// which the crate puts after this file (and formulas.wgsl, with the formulas, before it). Each
// of them says where its rows live by defining
//   fn logit(row: u32, j: u32) -> f32                 logit j of the row
//   fn write_logit_grad(row: u32, j: u32, g: f32)     stores the gradient of that logit
// The max and the sum of exponentials are two passes in column order, so the row's result is
// the same bit for bit in both kernels.

// The row's loss term, with target label `label`; writes its gradient times `scale`.
fn softmax_ce_row(row: u32, cols: u32, label: u32, scale: f32) -> f32 {
    var row_max = logit(row, 0u);
    for (var j = 1u; j < cols; j++) {
        row_max = max(row_max, logit(row, j));
    }
    var sum_exp = 0.0;
    for (var j = 0u; j < cols; j++) {
        sum_exp += exp(logit(row, j) - row_max);
    }
    for (var j = 0u; j < cols; j++) {
        write_logit_grad(row, j, softmax_ce_grad(logit(row, j), row_max, sum_exp, j == label) * scale);
    }
    return softmax_ce_term(row_max, sum_exp, logit(row, min(label, cols - 1u)), label < cols);
}
