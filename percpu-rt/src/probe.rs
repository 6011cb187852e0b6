//! Questions the expansion of `#[percpu]` asks the compiler about a static's type, answered by
//! trait resolution rather than by the text of the type: is it a [`Scalar`](crate::Scalar)
//! (which picks the access mode), and is it `Debug` (for the registry's value dumps)? Each is
//! an inherent constant for types with the property and a fallback trait's constant for the
//! others, which the expansion brings into scope. Reached by generated code through `private`.

use crate::registry::DebugFn;

/// `ScalarProbe::<T>::IS_SCALAR` is `true` for `T: Scalar` (inherent constant) and `false`
/// otherwise (the [`NotScalar`] fallback, in scope at the use site): the macro picks the access
/// mode from the compiler's answer, never from the text of the type.
pub struct ScalarProbe<T: ?Sized>(core::marker::PhantomData<T>);

impl<T: ?Sized> core::fmt::Debug for ScalarProbe<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ScalarProbe")
    }
}

impl<T: crate::Scalar> ScalarProbe<T> {
    /// `T` is a scalar.
    pub const IS_SCALAR: bool = true;
}

/// The fallback of [`ScalarProbe`].
pub trait NotScalar {
    /// Not a scalar.
    const IS_SCALAR: bool = false;
}
impl<T: ?Sized> NotScalar for ScalarProbe<T> {}

/// The access mode for a probe's answer: `ModeOf<{ ScalarProbe::<T>::IS_SCALAR }>`.
pub type ModeOf<const SCALAR: bool> = <ModeSelect<SCALAR> as PickMode>::Mode;

/// Turns the probe's answer into a mode type.
#[derive(Debug)]
pub struct ModeSelect<const SCALAR: bool>;

/// The mode type for a probe answer.
pub trait PickMode {
    /// `ByValue` for scalars, `Shared` otherwise.
    type Mode: crate::mode::Mode;
}
impl PickMode for ModeSelect<true> {
    type Mode = crate::mode::ByValue;
}
impl PickMode for ModeSelect<false> {
    type Mode = crate::mode::Shared;
}

/// `DebugProbe::<T>::FORMAT` is a formatter for `T: Debug`, `None` otherwise.
pub struct DebugProbe<T: ?Sized>(core::marker::PhantomData<T>);

impl<T: ?Sized> core::fmt::Debug for DebugProbe<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DebugProbe")
    }
}

impl<T: core::fmt::Debug> DebugProbe<T> {
    /// Formats a `T` behind a type-erased pointer.
    pub const FORMAT: Option<DebugFn> = Some(format_debug::<T>);
}

/// The fallback of [`DebugProbe`].
pub trait NotDebug {
    /// No formatter.
    const FORMAT: Option<DebugFn> = None;
}
impl<T: ?Sized> NotDebug for DebugProbe<T> {}

/// # Safety
/// `p` points to a valid `T` that nobody mutates during the call.
unsafe fn format_debug<T: core::fmt::Debug>(
    p: *const u8,
    f: &mut core::fmt::Formatter<'_>,
) -> core::fmt::Result {
    // SAFETY: forwarded from the caller.
    core::fmt::Debug::fmt(unsafe { &*p.cast::<T>() }, f)
}
