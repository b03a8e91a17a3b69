//! One hand-over's spans as requests an endpoint takes: X-Ray's OTLP endpoint refuses a
//! request of more than 10,000 spans or 5 MB of protobuf (`otlp::RequestLimits`).
//!
//! Runs of at most the span limit are encoded; one that encodes past the byte limit is
//! halved until each half fits. So the common hand-over (one invocation, a few kB) costs
//! one encoding, as before, and only a large one pays for splitting.

use crate::otlp::RequestLimits;

/// Some spans encoded as one request (the pipeline concatenates chunks into batches).
pub(super) struct Chunk {
    /// The `ExportTraceServiceRequest`.
    pub protobuf: Vec<u8>,
    /// Spans in it.
    pub spans: usize,
}

/// Encodes `spans` as requests within `limits`, in order. `encode` gives the protobuf of
/// some spans and how many of them it left out (too large for the endpoint). Returns the
/// chunks and how many spans cannot go: those left out, and a single span whose request
/// is still past the byte limit.
pub(super) fn encode_within<T>(
    spans: &[T],
    limits: RequestLimits,
    encode: impl Fn(&[T]) -> (Vec<u8>, usize),
) -> (Vec<Chunk>, usize) {
    let (mut chunks, mut dropped) = (Vec::new(), 0);
    for run in spans.chunks(limits.max_spans.max(1)) {
        fit(run, limits.max_bytes, &encode, &mut chunks, &mut dropped);
    }
    (chunks, dropped)
}

fn fit<T>(
    spans: &[T],
    max_bytes: usize,
    encode: &impl Fn(&[T]) -> (Vec<u8>, usize),
    chunks: &mut Vec<Chunk>,
    dropped: &mut usize,
) {
    let (protobuf, left_out) = encode(spans);
    if protobuf.len() <= max_bytes {
        *dropped += left_out;
        if spans.len() > left_out {
            chunks.push(Chunk {
                protobuf,
                spans: spans.len() - left_out,
            });
        }
    } else if spans.len() == 1 {
        *dropped += 1;
    } else {
        let (first, second) = spans.split_at(spans.len() / 2);
        fit(first, max_bytes, encode, chunks, dropped);
        fit(second, max_bytes, encode, chunks, dropped);
    }
}

#[cfg(all(test, feature = "xray-otlp"))]
mod tests {
    use std::{sync::Arc, time::SystemTime};

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use super::*;
    use crate::{
        config::Config,
        model::{
            ids::{SpanId, TraceId},
            FieldValue, SpanRecord, TraceContext,
        },
        otlp::Exporter,
    };

    const XRAY: RequestLimits = RequestLimits {
        max_spans: 10_000,
        max_bytes: 5_000_000,
        max_span_bytes: 200_000,
    };

    fn exporter() -> Exporter {
        let config = Config::from_lookup(|name| {
            (name == "CRUDDUR_XRAY_OTLP_ENDPOINT")
                .then(|| "https://xray.us-east-1.amazonaws.com/v1/traces".into())
        });
        Exporter::for_xray(&config, &crate::answer_gate::AnswerGate::new()).unwrap()
    }

    /// `n` spans of one trace, each with a `blob` field of `blob` bytes.
    fn spans(n: usize, blob: usize) -> Vec<SpanRecord> {
        let trace = Arc::new(TraceContext::new(
            TraceId::generate(),
            true,
            Some(SpanId(0xfacade)),
        ));
        let text = "x".repeat(blob);
        (0..n)
            .map(|i| SpanRecord {
                name: "work",
                trace: trace.clone(),
                span_id: SpanId(i as u64 + 1),
                parent_id: Some(SpanId(0xfacade)),
                is_invocation: false,
                start: SystemTime::now(),
                end: SystemTime::now(),
                fields: vec![("blob", FieldValue::Str(text.clone()))],
                events: vec![],
                error: None,
                remote_parent: None,
                links: Vec::new(),
            })
            .collect()
    }

    fn decoded_spans(chunk: &Chunk) -> usize {
        ExportTraceServiceRequest::decode(chunk.protobuf.as_slice())
            .unwrap()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }

    #[test]
    fn more_than_ten_thousand_spans_go_as_several_requests() {
        let exporter = exporter();
        let spans = spans(25_001, 8);
        let (chunks, dropped) = encode_within(&spans, XRAY, |s| exporter.encode(s));
        assert_eq!(dropped, 0);
        let counts: Vec<usize> = chunks.iter().map(|c| c.spans).collect();
        assert_eq!(counts, [10_000, 10_000, 5_001]);
        for chunk in &chunks {
            assert_eq!(decoded_spans(chunk), chunk.spans);
            assert!(chunk.protobuf.len() <= XRAY.max_bytes);
        }
    }

    #[test]
    fn more_than_five_megabytes_go_as_several_requests_and_oversized_spans_are_dropped() {
        let exporter = exporter();
        // 60 spans of 150 kB: 9 MB, each span under the 200 kB span limit.
        let mut spans = spans(60, 150_000);
        // One span of 300 kB: past the endpoint's span limit, left out and counted.
        spans[30].fields = vec![("blob", FieldValue::Str("y".repeat(300_000)))];
        let (chunks, dropped) = encode_within(&spans, XRAY, |s| exporter.encode(s));
        assert_eq!(dropped, 1);
        assert!(chunks.len() >= 2, "{} chunks", chunks.len());
        assert_eq!(chunks.iter().map(|c| c.spans).sum::<usize>(), 59);
        for chunk in &chunks {
            // The limit is on the uncompressed payload: the protobuf, before gzip.
            assert!(chunk.protobuf.len() <= XRAY.max_bytes, "{}", chunk.protobuf.len());
            assert_eq!(decoded_spans(chunk), chunk.spans);
        }
    }

    #[test]
    fn a_small_hand_over_is_encoded_once() {
        let calls = std::cell::Cell::new(0);
        let (chunks, dropped) = encode_within(&[10usize, 20, 30], XRAY, |sizes| {
            calls.set(calls.get() + 1);
            (vec![0; sizes.iter().sum()], 0)
        });
        assert_eq!((chunks.len(), dropped, calls.get()), (1, 0, 1));
        assert_eq!(chunks[0].spans, 3);
        // A single item past the byte limit cannot go.
        let limits = RequestLimits {
            max_bytes: 25,
            ..XRAY
        };
        let (chunks, dropped) = encode_within(&[10usize, 20, 30], limits, |sizes| {
            (vec![0; sizes.iter().sum()], 0)
        });
        assert_eq!(chunks.iter().map(|c| c.spans).collect::<Vec<_>>(), [1, 1]);
        assert_eq!(dropped, 1);
    }
}
