// Where each value lies in one epoch's row of the trainer's results. The host builds it (Rust's
// `EpochRow`, the one declaration of the layout) and passes it in the kernels' settings; the
// crate puts this file before control.wgsl and small_mlp.wgsl, which address the row only
// through it.
struct EpochRow {
    // The step losses, at [0, steps).
    steps: u32,
    validation_loss: u32,
    // Set to 1 when an update left a parameter non-finite.
    nonfinite: u32,
    // The decision's status bits (SKIP before an epoch that must not run).
    status: u32,
    // The epoch's training loss, as the decision computed it.
    train_loss: u32,
    // With a validation split in several chunks, each chunk's loss from here on.
    first_chunk: u32,
    // Slots in use, and the elements between two rows (the binding alignment's multiple).
    len: u32,
    stride: u32,
}
