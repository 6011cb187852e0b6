use percpu_rt::percpu;

#[percpu]
static NOTHING: () = ();

fn main() {}
