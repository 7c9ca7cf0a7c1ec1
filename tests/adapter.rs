//! Adapter selection errors. This file holds a single test because it changes the process's
//! environment, which the other tests must not see.

use wgsl_train::{Error, Gpu};

#[test]
fn a_missing_adapter_is_a_clear_error_not_a_panic() {
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
