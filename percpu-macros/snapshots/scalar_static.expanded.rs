/// Packets received on this CPU.
pub static RX_PACKETS: ::percpu_rt::__private_0_1_0::PerCpu<
    u64,
    __percpu_RX_PACKETS,
    ::percpu_rt::__private_0_1_0::ModeOf<
        { ::percpu_rt::__private_0_1_0::ScalarProbe::<u64>::IS_SCALAR },
    >,
> = unsafe { ::percpu_rt::__private_0_1_0::PerCpu::__new_static(__percpu_RX_PACKETS) };
#[doc(hidden)]
#[allow(non_camel_case_types)]
pub struct __percpu_RX_PACKETS;
#[allow(unused_imports)]
use ::percpu_rt::__private_0_1_0::{NotDebug as _, NotScalar as _};
const _: () = {
    use ::percpu_rt::__private_0_1_0 as __percpu_rt;
    const _: () = __percpu_rt::assert_per_cpu_type::<u64>();
    const __INIT: u64 = 0;
    #[unsafe(link_section = ".percpu")]
    #[allow(non_upper_case_globals)]
    static RX_PACKETS: __percpu_rt::Template<u64> = __percpu_rt::Template::new(__INIT);
    static INITIAL: __percpu_rt::InitialValue<u64> = __percpu_rt::InitialValue::new(
        __INIT,
    );
    unsafe impl __percpu_rt::Slot<u64> for __percpu_RX_PACKETS {
        fn per_cpu_ptr(&self) -> *mut u64 {
            RX_PACKETS.get()
        }
        __percpu_rt::static_ops!(RX_PACKETS; u64);
    }
    unsafe impl __percpu_rt::StaticSlot<u64> for __percpu_RX_PACKETS {
        const DESCRIPTOR: &'static __percpu_rt::Descriptor = &DESCRIPTOR;
    }
    #[used]
    #[unsafe(link_section = ".percpu_registry")]
    static DESCRIPTOR: __percpu_rt::Descriptor = __percpu_rt::Descriptor::new(
        &RX_PACKETS,
        &INITIAL,
        "RX_PACKETS",
        ::core::module_path!(),
        ::core::stringify!(u64),
        __percpu_rt::DebugProbe::<u64>::FORMAT,
        ::core::option::Option::None,
    );
};
