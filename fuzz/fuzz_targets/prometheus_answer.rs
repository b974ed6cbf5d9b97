//! One Prometheus query_range answer, parsed as the source's client parses it (a server, a
//! proxy or a man in the middle chooses these bytes). Any input: an error or samples.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mttd::source::prometheus::parse_answer(data);
});
