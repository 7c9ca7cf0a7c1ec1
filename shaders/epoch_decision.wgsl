// The end-of-epoch decision, written once for control.wgsl (a trainer's one model) and the grid
// kernel (each model of a grid in its own invocation): what the host decided after every epoch
// before — whether training diverged, whether the validation loss improved on the best so far,
// whether patience ran out. Each caller keeps a model's Standing where it lives and applies the
// status (restore the epoch's start, keep the weights, stop). formulas.wgsl comes before it.

// Status bits of an epoch (as an f32 in the results: small integers are exact).
const RAN: u32 = 1u;
const IMPROVED: u32 = 2u;
const OUT_OF_PATIENCE: u32 = 4u;
const NONFINITE_LOSS: u32 = 8u;
const NONFINITE_PARAMETER: u32 = 16u;
const LOSS_GREW: u32 = 32u;

// What a model carries from epoch to epoch for the decision.
struct Standing {
    epochs_without_improvement: u32,
    // 1 once a validation loss has been seen.
    has_best: u32,
    best: f32,
    // The lowest training loss so far, and the untrained model's (the first step loss of the
    // first epoch); meaningful once `trained` is 1.
    lowest: f32,
    trained: u32,
}

// How an epoch went.
struct EpochOutcome {
    // Some step's loss was NaN or infinite.
    nonfinite_loss: bool,
    // An update left a parameter NaN or infinite.
    nonfinite_parameter: bool,
    train_loss: f32,
    first_step_loss: f32,
    has_validation: bool,
    validation_loss: f32,
}

// The rules every path follows. An epoch whose training loss exceeds `growth` times the lowest
// before it has diverged; an improvement is a validation loss below the best by more than
// `min_delta`; `patience` 0 means no early stopping.
struct DecisionRules {
    growth: f32,
    min_delta: f32,
    patience: u32,
}

// The epoch's status bits, updating `standing`. Diverged (any of the NONFINITE_* or LOSS_GREW
// bits): the caller restores the epoch's start and stops, and `standing` is as it was.
// IMPROVED: the caller keeps the weights. OUT_OF_PATIENCE: the caller stops.
fn decide(standing: ptr<function, Standing>, outcome: EpochOutcome, rules: DecisionRules) -> u32 {
    var status = RAN;
    if outcome.nonfinite_loss {
        status |= NONFINITE_LOSS;
    }
    if status == RAN && outcome.nonfinite_parameter {
        status |= NONFINITE_PARAMETER;
    }
    var lowest = (*standing).lowest;
    if (*standing).trained == 0u {
        lowest = outcome.first_step_loss;
    }
    if status == RAN && outcome.train_loss > rules.growth * lowest {
        status |= LOSS_GREW;
    }
    if status != RAN {
        return status;
    }
    (*standing).lowest = min(lowest, outcome.train_loss);
    (*standing).trained = 1u;
    if outcome.has_validation {
        let loss = outcome.validation_loss;
        if (*standing).has_best == 0u || loss < (*standing).best - rules.min_delta {
            (*standing).has_best = 1u;
            (*standing).best = loss;
            (*standing).epochs_without_improvement = 0u;
            status |= IMPROVED;
        } else {
            (*standing).epochs_without_improvement += 1u;
        }
    }
    if rules.patience != 0u && (*standing).epochs_without_improvement >= rules.patience {
        status |= OUT_OF_PATIENCE;
    }
    return status;
}

// Whether a status means the model diverged (its epoch's start is restored).
fn diverged(status: u32) -> bool {
    return (status & (NONFINITE_LOSS | NONFINITE_PARAMETER | LOSS_GREW)) != 0u;
}
