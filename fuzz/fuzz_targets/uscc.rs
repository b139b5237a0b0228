//! The unified social credit code parser: any text. A code it accepts is
//! eighteen characters and parses again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zhengqi_shared::reference::Uscc;

fuzz_target!(|input: &str| {
    if let Ok(code) = Uscc::parse(input) {
        assert_eq!(code.as_str().len(), 18);
        let again = Uscc::parse(code.as_str()).expect("a parsed code parses again");
        assert_eq!(again.as_str(), code.as_str());
        let _ = code.division_code();
    }
});
