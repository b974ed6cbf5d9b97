//! A Parquet export through the file source and the feature extraction. Any input: an error or
//! a dataset, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod common {
    include!("../common.rs");
}

fuzz_target!(|data: &[u8]| common::through_the_file_source(data, "parquet"));
