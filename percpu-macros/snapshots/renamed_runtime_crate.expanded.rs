static SCRATCH: ::kernel::percpu::PerCpu<
    [u8; 64],
    __percpu_SCRATCH,
    <::kernel::percpu::__private_0_1_0::ModeSelect<
        {
            #[allow(unused_imports)]
            use ::kernel::percpu::__private_0_1_0::NotScalar as _;
            ::kernel::percpu::__private_0_1_0::ScalarProbe::<[u8; 64]>::IS_SCALAR
        },
    > as ::kernel::percpu::__private_0_1_0::PickMode>::Mode,
> = unsafe { ::kernel::percpu::PerCpu::__new_static(__percpu_SCRATCH) };
#[doc(hidden)]
#[allow(non_camel_case_types)]
struct __percpu_SCRATCH;
const _: () = {
    const _: () = ::kernel::percpu::__private_0_1_0::assert_per_cpu_type::<[u8; 64]>();
    #[unsafe(link_section = ".percpu")]
    #[used]
    #[allow(non_upper_case_globals)]
    static SCRATCH: ::kernel::percpu::__private_0_1_0::Template<[u8; 64]> = ::kernel::percpu::__private_0_1_0::Template::new(
        [0; 64],
    );
    static INITIAL_VALUE: ::kernel::percpu::__private_0_1_0::InitialValue<[u8; 64]> = ::kernel::percpu::__private_0_1_0::InitialValue::new(
        [0; 64],
    );
    unsafe impl ::kernel::percpu::__private_0_1_0::Slot<[u8; 64]> for __percpu_SCRATCH {
        #[inline(always)]
        fn per_cpu_ptr(&self) -> *mut [u8; 64] {
            SCRATCH.get()
        }
    }
    ::kernel::percpu::__private_0_1_0::static_ops!(__percpu_SCRATCH, SCRATCH);
    #[::kernel::percpu::__private_0_1_0::linkme::distributed_slice(
        ::kernel::percpu::__private_0_1_0::PERCPU_REGISTRY
    )]
    #[linkme(crate = ::kernel::percpu::__private_0_1_0::linkme)]
    static DESCRIPTOR: ::kernel::percpu::__private_0_1_0::Descriptor = ::kernel::percpu::__private_0_1_0::Descriptor::new::<
        [u8; 64],
    >(
        "SCRATCH",
        ::core::module_path!(),
        SCRATCH.get().cast::<u8>(),
        INITIAL_VALUE.as_ptr(),
        ::core::stringify!([u8; 64]),
        {
            #[allow(unused_imports)]
            use ::kernel::percpu::__private_0_1_0::NotDebug as _;
            ::kernel::percpu::__private_0_1_0::DebugProbe::<[u8; 64]>::FORMAT
        },
        ::core::option::Option::None,
    );
};
