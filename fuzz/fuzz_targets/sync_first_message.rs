//! The first message of a sync connection, as headquarters looks at it before samod does:
//! its kind and document, read from CBOR without decoding the rest. Any bytes give an answer
//! or none, never a panic; what it answers is text the message holds (CBOR keeps text
//! strings as they are).
#![no_main]

use libfuzzer_sys::fuzz_target;

fn holds(data: &[u8], text: &str) -> bool {
    text.is_empty() || data.windows(text.len()).any(|w| w == text.as_bytes())
}

fuzz_target!(|data: &[u8]| {
    if let Some((kind, doc)) = fairpos_sync::net::peek(data) {
        assert!(holds(data, &kind), "kind {kind:?} is not in the message");
        if let Some(doc) = doc {
            assert!(holds(data, &doc), "document {doc:?} is not in the message");
        }
    }
});
