//! The template section's bounds, from the symbols the linker fragment defines.

unsafe extern "C" {
    static __percpu_start: u8;
    static __percpu_end: u8;
}

/// `__percpu_start`: the start of the template (page-aligned).
#[inline]
pub fn start() -> *const u8 {
    &raw const __percpu_start
}

/// `__percpu_end`.
#[inline]
pub fn end() -> *const u8 {
    &raw const __percpu_end
}

/// The static size: bytes of `#[percpu]` data in the template.
#[inline]
pub fn static_size() -> usize {
    end() as usize - start() as usize
}
