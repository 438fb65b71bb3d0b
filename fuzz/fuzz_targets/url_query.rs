//! The request target: the image file name in the path and the query
//! string, as every image, click and vote request is read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentime::access::{canonical_path, canonical_query};
use opentime::http::{ImageTarget, QueryPairs};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    if let Some(target) = ImageTarget::parse(path) {
        assert!(target.scale == 1 || target.scale == 2);
        assert!(!target.name.is_empty());
    }
    let pairs = QueryPairs::parse(Some(query));
    let _ = pairs.get("t");
    let _ = canonical_path(path);
    let _ = canonical_query(&pairs.0);
});
