/// Packets received on this CPU.
pub static RX_PACKETS: ::percpu_rt::PerCpu<
    u64,
    __percpu_RX_PACKETS,
    <::percpu_rt::__private_0_1_0::ModeSelect<
        {
            #[allow(unused_imports)]
            use ::percpu_rt::__private_0_1_0::NotScalar as _;
            ::percpu_rt::__private_0_1_0::ScalarProbe::<u64>::IS_SCALAR
        },
    > as ::percpu_rt::__private_0_1_0::PickMode>::Mode,
> = unsafe { ::percpu_rt::PerCpu::__new_static(__percpu_RX_PACKETS) };
#[doc(hidden)]
#[allow(non_camel_case_types)]
pub struct __percpu_RX_PACKETS;
const _: () = {
    const _: () = ::percpu_rt::__private_0_1_0::assert_per_cpu_type::<u64>();
    #[unsafe(link_section = ".percpu")]
    #[used]
    #[allow(non_upper_case_globals)]
    static RX_PACKETS: ::percpu_rt::__private_0_1_0::Template<u64> = ::percpu_rt::__private_0_1_0::Template::new(
        0,
    );
    static INITIAL_VALUE: ::percpu_rt::__private_0_1_0::InitialValue<u64> = ::percpu_rt::__private_0_1_0::InitialValue::new(
        0,
    );
    unsafe impl ::percpu_rt::__private_0_1_0::Slot<u64> for __percpu_RX_PACKETS {
        #[inline(always)]
        fn per_cpu_ptr(&self) -> *mut u64 {
            RX_PACKETS.get()
        }
    }
    ::percpu_rt::__private_0_1_0::static_ops!(__percpu_RX_PACKETS, RX_PACKETS);
    #[::percpu_rt::__private_0_1_0::linkme::distributed_slice(
        ::percpu_rt::__private_0_1_0::PERCPU_REGISTRY
    )]
    #[linkme(crate = ::percpu_rt::__private_0_1_0::linkme)]
    static DESCRIPTOR: ::percpu_rt::__private_0_1_0::Descriptor = ::percpu_rt::__private_0_1_0::Descriptor::new::<
        u64,
    >(
        "RX_PACKETS",
        ::core::module_path!(),
        RX_PACKETS.get().cast::<u8>(),
        INITIAL_VALUE.as_ptr(),
        ::core::stringify!(u64),
        {
            #[allow(unused_imports)]
            use ::percpu_rt::__private_0_1_0::NotDebug as _;
            ::percpu_rt::__private_0_1_0::DebugProbe::<u64>::FORMAT
        },
        ::core::option::Option::None,
    );
};
