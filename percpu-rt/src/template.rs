//! The template section's bounds, from the symbols the linker fragment defines.

unsafe extern "C" {
    // `__percpu_start` and `__percpu_end` under names that say where they come from: a program
    // linked without percpu-build's fragment fails with "undefined symbol:
    // __percpu_start_defined_by_percpu_build_configure" (see `linker::START_ALIAS`).
    static __percpu_start_defined_by_percpu_build_configure: u8;
    static __percpu_end_defined_by_percpu_build_configure: u8;
}

/// `__percpu_start`: the start of the template (page-aligned).
#[inline]
pub fn start() -> *const u8 {
    &raw const __percpu_start_defined_by_percpu_build_configure
}

/// `__percpu_end`.
#[inline]
pub fn end() -> *const u8 {
    &raw const __percpu_end_defined_by_percpu_build_configure
}

/// The static size: bytes of `#[percpu]` data in the template.
#[inline]
pub fn static_size() -> usize {
    end() as usize - start() as usize
}
