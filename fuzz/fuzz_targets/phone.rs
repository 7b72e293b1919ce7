#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadsync_fuzz::phone(data));
