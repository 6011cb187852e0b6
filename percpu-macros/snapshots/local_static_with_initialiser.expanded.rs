pub(crate) static RUNQUEUE: ::percpu_rt::PerCpu<
    RunQueue,
    __percpu_RUNQUEUE,
    ::percpu_rt::mode::Local,
> = unsafe { ::percpu_rt::PerCpu::__new_static(__percpu_RUNQUEUE) };
#[doc(hidden)]
#[allow(non_camel_case_types)]
pub(crate) struct __percpu_RUNQUEUE;
const _: () = {
    const _: () = ::percpu_rt::__private_0_1_0::assert_per_cpu_type::<RunQueue>();
    #[unsafe(link_section = ".percpu")]
    #[used]
    #[allow(non_upper_case_globals)]
    static RUNQUEUE: ::percpu_rt::__private_0_1_0::Template<RunQueue> = ::percpu_rt::__private_0_1_0::Template::new(
        RunQueue::EMPTY,
    );
    static INITIAL_VALUE: ::percpu_rt::__private_0_1_0::InitialValue<RunQueue> = ::percpu_rt::__private_0_1_0::InitialValue::new(
        RunQueue::EMPTY,
    );
    unsafe impl ::percpu_rt::__private_0_1_0::Slot<RunQueue> for __percpu_RUNQUEUE {
        #[inline(always)]
        fn per_cpu_ptr(&self) -> *mut RunQueue {
            RUNQUEUE.get()
        }
    }
    ::percpu_rt::__private_0_1_0::static_ops!(__percpu_RUNQUEUE, RUNQUEUE);
    #[::percpu_rt::__private_0_1_0::linkme::distributed_slice(
        ::percpu_rt::__private_0_1_0::PERCPU_REGISTRY
    )]
    #[linkme(crate = ::percpu_rt::__private_0_1_0::linkme)]
    static DESCRIPTOR: ::percpu_rt::__private_0_1_0::Descriptor = ::percpu_rt::__private_0_1_0::Descriptor::new::<
        RunQueue,
    >(
        "RUNQUEUE",
        ::core::module_path!(),
        RUNQUEUE.get().cast::<u8>(),
        INITIAL_VALUE.as_ptr(),
        ::core::stringify!(RunQueue),
        {
            #[allow(unused_imports)]
            use ::percpu_rt::__private_0_1_0::NotDebug as _;
            ::percpu_rt::__private_0_1_0::DebugProbe::<RunQueue>::FORMAT
        },
        ::core::option::Option::Some({
            unsafe fn per_cpu_init(dst: *mut u8, cpu: ::percpu_rt::CpuId) {
                let init: fn(::percpu_rt::CpuId) -> RunQueue = |cpu| RunQueue::new(cpu);
                unsafe { dst.cast::<RunQueue>().write(init(cpu)) }
            }
            per_cpu_init
        }),
    );
};
