use percpu_rt::{IrqGuard, PreemptGuard};

fn needs_send<T: Send>(_: T) {}
fn needs_sync<T: Sync>(_: &T) {}

fn main() {
    needs_send(PreemptGuard::new());
    needs_sync(&PreemptGuard::new());
    needs_send(IrqGuard::new());
    needs_sync(&IrqGuard::new());
}
