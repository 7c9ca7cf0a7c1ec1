// Training decisions on the GPU, so that many epochs run in one submission. After each epoch,
// one invocation reads the epoch's row of results (laid out as epoch_row.wgsl's EpochRow says)
// — the step losses, the validation loss (or, for a validation split in chunks, each chunk's,
// combined into it here), the optimizer's non-finite flag — writes the status and the epoch's
// training loss (the one value the history records), and decides what the host decided after
// every epoch before:
// whether training diverged (then the epoch's start is restored), whether the validation loss
// improved on the best so far (then the weights are copied aside), and whether patience ran
// out. The restore and the copy are dispatches of copy.wgsl that act only when the decision's
// flag says so. A stop freezes the model for the rest of the submission: the optimizer update
// skips while its `frozen` word is set, and the small-model kernel skips an epoch whose row is
// marked SKIP. The crate puts formulas.wgsl (for its non-finite test), epoch_decision.wgsl (the
// rules, shared with the grid kernel) and epoch_row.wgsl first.

// In the status slot of the rows after a stop, until their epoch's decision overwrites it.
const SKIP: f32 = -1.0;

// (Kernels whose conditions read a uniform were recompiled by lavapipe at every submission:
// these settings are a storage buffer.)
struct Settings {
    // The layout of each epoch's row of `results`.
    row: EpochRow,
    batch: u32,
    rows: u32,
    // 0: no early stopping.
    patience: u32,
    has_validation: u32,
    // The rows `results` holds.
    row_count: u32,
    // An epoch whose training loss exceeds `growth` times the lowest before it has diverged.
    growth: f32,
    min_delta: f32,
    // The validation split's chunks, the rows of each but the last, and its rows. With more
    // than one, each chunk's loss is in the row's slots from `row.first_chunk` on.
    validation_chunks: u32,
    validation_chunk_rows: u32,
    validation_rows: u32,
}

// Kept on the device from submission to submission; the host sets `running` and `epoch` at
// the start of each one, and the rest only when a trainer starts or resumes.
struct Control {
    running: u32,
    // Index of the next epoch within the submission.
    epoch: u32,
    epochs_without_improvement: u32,
    // 1 once a validation loss has been seen.
    has_best: u32,
    best: f32,
    // The lowest training loss so far, and the untrained model's (the first step loss of the
    // trainer's first epoch); meaningful once `trained` is 1.
    lowest: f32,
    trained: u32,
    // What copy.wgsl does after this epoch: restore the epoch's start, keep the weights.
    restore: u32,
    keep: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> control: Control;
@group(0) @binding(1) var<storage, read_write> results: array<f32>;
// The optimizer's flags: [0] non-finite update, [1] frozen.
@group(0) @binding(2) var<storage, read_write> optimizer_flags: array<f32>;
@group(0) @binding(3) var<storage, read> settings: Settings;

@compute @workgroup_size(1)
fn decide_epoch() {
    let slots = settings.row;
    let row = control.epoch * slots.stride;
    control.epoch += 1u;
    control.restore = 0u;
    control.keep = 0u;
    let status_at = row + slots.status;
    if control.running == 0u {
        results[status_at] = 0.0;
        return;
    }
    var nonfinite_loss = false;
    for (var s = 0u; s < slots.steps; s++) {
        if any_nonfinite(vec4<f32>(results[row + s])) {
            nonfinite_loss = true;
        }
    }
    let train_loss = weighted_mean(row, slots.steps, settings.batch, settings.rows);
    results[row + slots.train_loss] = train_loss;
    let has_validation = settings.has_validation != 0u;
    if has_validation && settings.validation_chunks > 1u {
        results[row + slots.validation_loss] = weighted_mean(
            row + slots.first_chunk,
            settings.validation_chunks,
            settings.validation_chunk_rows,
            settings.validation_rows,
        );
    }
    let outcome = EpochOutcome(
        nonfinite_loss,
        results[row + slots.nonfinite] != 0.0,
        train_loss,
        results[row],
        has_validation,
        results[row + slots.validation_loss],
    );
    var standing = Standing(
        control.epochs_without_improvement,
        control.has_best,
        control.best,
        control.lowest,
        control.trained,
    );
    let status = decide(&standing, outcome, DecisionRules(settings.growth, settings.min_delta, settings.patience));
    results[status_at] = f32(status);
    if diverged(status) {
        // Back to the epoch's start, and no more epochs in this submission.
        control.restore = 1u;
        stop();
        return;
    }
    control.epochs_without_improvement = standing.epochs_without_improvement;
    control.has_best = standing.has_best;
    control.best = standing.best;
    control.lowest = standing.lowest;
    control.trained = standing.trained;
    if (status & IMPROVED) != 0u {
        control.keep = 1u;
    }
    if (status & OUT_OF_PATIENCE) != 0u {
        stop();
    }
}

// The mean of `count` losses from results[first], each the mean over `per` of `rows` rows (the
// last over what is left): the epoch's training loss from its steps' (the last batch may be
// short), the validation loss from its chunks'.
fn weighted_mean(first: u32, count: u32, per: u32, rows: u32) -> f32 {
    var weighted = 0.0;
    for (var i = 0u; i < count; i++) {
        weighted += results[first + i] * f32(min(per, rows - i * per));
    }
    return weighted / f32(rows);
}

// Freezes the model for the rest of the submission.
fn stop() {
    control.running = 0u;
    optimizer_flags[1] = 1.0;
    for (var r = control.epoch; r < settings.row_count; r++) {
        results[r * settings.row.stride + settings.row.status] = SKIP;
    }
}
