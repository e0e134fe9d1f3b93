//! The simulators' faults in one line. A file of its own so the adapter tests, which do
//! not start a harness, include it alone (`#[path]`).

use bandwidth_sim::Faults;

/// No fault but what `set` turns on.
pub fn faults(set: impl FnOnce(&mut Faults)) -> Faults {
    let mut faults = Faults::default();
    set(&mut faults);
    faults
}
