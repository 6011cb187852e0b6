static SCRATCH: ::kernel::percpu::__private_0_1_0::PerCpu<
    [u8; 64],
    __percpu_SCRATCH,
    ::kernel::percpu::__private_0_1_0::ModeOf<
        { ::kernel::percpu::__private_0_1_0::ScalarProbe::<[u8; 64]>::IS_SCALAR },
    >,
> = unsafe { ::kernel::percpu::__private_0_1_0::PerCpu::__new_static(__percpu_SCRATCH) };
#[doc(hidden)]
#[allow(non_camel_case_types)]
struct __percpu_SCRATCH;
#[allow(unused_imports)]
use ::kernel::percpu::__private_0_1_0::{NotDebug as _, NotScalar as _};
const _: () = {
    use ::kernel::percpu::__private_0_1_0 as __percpu_rt;
    const _: () = __percpu_rt::assert_per_cpu_type::<[u8; 64]>();
    const __INIT: [u8; 64] = [0; 64];
    #[unsafe(link_section = ".percpu")]
    #[allow(non_upper_case_globals)]
    static SCRATCH: __percpu_rt::Template<[u8; 64]> = __percpu_rt::Template::new(__INIT);
    static INITIAL: __percpu_rt::InitialValue<[u8; 64]> = __percpu_rt::InitialValue::new(
        __INIT,
    );
    unsafe impl __percpu_rt::Slot<[u8; 64]> for __percpu_SCRATCH {
        fn per_cpu_ptr(&self) -> *mut [u8; 64] {
            SCRATCH.get()
        }
        __percpu_rt::static_ops!(SCRATCH; [u8; 64]);
    }
    unsafe impl __percpu_rt::StaticSlot<[u8; 64]> for __percpu_SCRATCH {
        const DESCRIPTOR: &'static __percpu_rt::Descriptor = &DESCRIPTOR;
    }
    #[used]
    #[unsafe(link_section = ".percpu_registry")]
    static DESCRIPTOR: __percpu_rt::Descriptor = __percpu_rt::Descriptor::new(
        &SCRATCH,
        &INITIAL,
        "SCRATCH",
        ::core::module_path!(),
        ::core::stringify!([u8; 64]),
        __percpu_rt::DebugProbe::<[u8; 64]>::FORMAT,
        ::core::option::Option::None,
    );
};
