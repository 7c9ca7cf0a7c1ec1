//! Adapter selection errors. This file holds a single test because it changes the process's
//! environment, which the other tests must not see.

use wgsl_train::{Error, Gpu};

#[test]
fn adapter_choices_that_match_nothing_are_clear_errors_not_panics() {
    // No adapter has this name: the error lists the ones that exist.
    std::env::set_var("WGPU_ADAPTER_NAME", "no adapter is called this");
    let err = Gpu::new().unwrap_err();
    assert!(
        matches!(err, Error::AdapterNotFound { .. } | Error::NoAdapter { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("no adapter is called this"),
        "{err}"
    );
    std::env::remove_var("WGPU_ADAPTER_NAME");

    // One of several identical GPUs by number: the first adapter is number 0, and a number
    // past the last is an error that lists them.
    std::env::set_var("WGSL_TRAIN_ADAPTER", "0");
    let first = Gpu::new().unwrap();
    std::env::set_var("WGPU_ADAPTER_NAME", &first.adapter_info().name);
    assert_eq!(
        Gpu::new().unwrap().adapter_info().name,
        first.adapter_info().name
    );
    std::env::set_var("WGSL_TRAIN_ADAPTER", "99");
    let err = Gpu::new().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { op: "WGSL_TRAIN_ADAPTER", detail }
            if detail.contains("adapter 99") && detail.contains(&first.adapter_info().name)),
        "{err}"
    );
    std::env::set_var("WGSL_TRAIN_ADAPTER", "first");
    assert!(matches!(
        Gpu::new().unwrap_err(),
        Error::InvalidArgument {
            op: "WGSL_TRAIN_ADAPTER",
            ..
        }
    ));
    std::env::remove_var("WGSL_TRAIN_ADAPTER");
    std::env::remove_var("WGPU_ADAPTER_NAME");

    // A backend this crate does not build (GL) is named as such, not reported as a missing
    // driver.
    std::env::set_var("WGPU_BACKEND", "gl");
    let err = Gpu::new().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { op: "WGPU_BACKEND", detail } if detail.contains("\"gl\"")),
        "{err}"
    );
    // Only a backend that is built but has no adapter here (Metal, off Apple machines): no
    // adapter at all, and the message says how to get a software one.
    #[cfg(not(target_vendor = "apple"))]
    {
        std::env::set_var("WGPU_BACKEND", "metal");
        let err = Gpu::new().unwrap_err();
        assert!(matches!(err, Error::NoAdapter { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("apt-get install mesa-vulkan-drivers"),
            "{err}"
        );
    }
    std::env::remove_var("WGPU_BACKEND");
}
