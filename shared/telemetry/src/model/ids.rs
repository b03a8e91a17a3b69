//! Trace identity: the X-Ray trace header and the ids derived from it.
//!
//! One id finds a request everywhere: X-Ray's Root `1-5759e988-bd862e3fe1be46a994272793`
//! is OTLP's trace id `5759e988bd862e3fe1be46a994272793` and the logs' `trace_id`.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

/// A 128-bit trace id; its first 32 bits are the epoch seconds, as X-Ray requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId(pub u128);

/// A 64-bit span (X-Ray: segment or subsegment) id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanId(pub u64);

impl TraceId {
    /// A new X-Ray-compatible id: epoch seconds, then 96 random bits.
    pub fn generate() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0) as u32;
        let random = (u128::from(fastrand::u32(..)) << 64) | u128::from(fastrand::u64(..));
        Self((u128::from(secs) << 96) | random)
    }

    /// The X-Ray form, `1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY`.
    pub fn xray(&self) -> String {
        let hex = self.hex();
        let mut out = String::with_capacity(35);
        out.push_str("1-");
        out.push_str(&hex[..8]);
        out.push('-');
        out.push_str(&hex[8..]);
        out
    }

    /// Parses the X-Ray form.
    pub fn from_xray(root: &str) -> Option<Self> {
        let rest = root.strip_prefix("1-")?;
        let (secs, random) = rest.split_once('-')?;
        if secs.len() != 8 || random.len() != 24 || !is_hex(secs) || !is_hex(random) {
            return None;
        }
        let secs = u128::from(u32::from_str_radix(secs, 16).ok()?);
        let random = u128::from_str_radix(random, 16).ok()?;
        Some((secs << 96) | random).filter(|id| *id != 0).map(Self)
    }

    /// 32 lowercase hex digits (OTLP and log form), without the formatting machinery:
    /// every invocation writes its ids into log lines before its response.
    pub fn hex(&self) -> HexId<32> {
        HexId::of(self.0)
    }
}

impl fmt::Display for TraceId {
    /// 32 lowercase hex digits (OTLP and log form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// An id's lowercase hex digits, on the stack.
pub struct HexId<const DIGITS: usize>([u8; DIGITS]);

impl<const DIGITS: usize> HexId<DIGITS> {
    fn of(mut id: u128) -> Self {
        let mut digits = [b'0'; DIGITS];
        for digit in digits.iter_mut().rev() {
            *digit = b"0123456789abcdef"[(id & 0xf) as usize];
            id >>= 4;
        }
        Self(digits)
    }
}

impl<const DIGITS: usize> std::ops::Deref for HexId<DIGITS> {
    type Target = str;

    fn deref(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl SpanId {
    /// A new random, non-zero span id.
    pub fn generate() -> Self {
        Self(fastrand::u64(1..))
    }

    /// Parses 16 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        (hex.len() == 16 && is_hex(hex))
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
            .filter(|id| *id != 0)
            .map(Self)
    }
}

impl SpanId {
    /// 16 lowercase hex digits, without the formatting machinery.
    pub fn hex(&self) -> HexId<16> {
        HexId::of(u128::from(self.0))
    }
}

impl fmt::Display for SpanId {
    /// 16 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The parsed `X-Amzn-Trace-Id` / `Lambda-Runtime-Trace-Id` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    /// The trace (`Root`).
    pub trace_id: TraceId,
    /// The caller's segment (`Parent`): Lambda's facade segment inside Lambda.
    pub parent: Option<SpanId>,
    /// The sampling decision; `None` when the header leaves it to us.
    pub sampled: Option<bool>,
}

/// Why a trace header was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceHeaderError {
    /// No `Root=` field, or one that is not `1-<8 hex>-<24 hex>`.
    #[error("trace header has no valid Root")]
    InvalidRoot,
    /// A `Parent=` field that is not 16 hex digits.
    #[error("trace header has an invalid Parent")]
    InvalidParent,
}

impl TraceHeader {
    /// Parses `Root=1-…;Parent=…;Sampled=1` (fields in any order, unknown fields ignored).
    pub fn parse(header: &str) -> Result<Self, TraceHeaderError> {
        let (mut root, mut parent, mut sampled) = (None, None, None);
        for field in header.split(';') {
            match field.trim().split_once('=') {
                Some(("Root", value)) => {
                    root = Some(TraceId::from_xray(value).ok_or(TraceHeaderError::InvalidRoot)?)
                }
                Some(("Parent", value)) => {
                    parent = Some(SpanId::from_hex(value).ok_or(TraceHeaderError::InvalidParent)?)
                }
                Some(("Sampled", "1")) => sampled = Some(true),
                Some(("Sampled", "0")) => sampled = Some(false),
                _ => {}
            }
        }
        Ok(Self {
            trace_id: root.ok_or(TraceHeaderError::InvalidRoot)?,
            parent,
            sampled,
        })
    }

    /// The header to send downstream, naming `parent` as the caller's segment.
    pub fn downstream(&self, parent: SpanId, sampled: bool) -> String {
        format!(
            "Root={};Parent={parent};Sampled={}",
            self.trace_id.xray(),
            u8::from(sampled)
        )
    }
}

/// W3C `traceparent` for the same trace and span.
pub fn traceparent(trace_id: TraceId, span_id: SpanId, sampled: bool) -> String {
    format!("00-{trace_id}-{span_id}-{:02x}", u8::from(sampled))
}

/// A parsed W3C `traceparent` header: the caller's trace and span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traceparent {
    /// The caller's trace.
    pub trace_id: TraceId,
    /// The caller's span: the parent of ours.
    pub span_id: SpanId,
    /// The caller's `sampled` flag.
    pub sampled: bool,
}

impl Traceparent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>` as W3C Trace Context level 1 defines it:
    /// lowercase hex, no all-zero ids, version `ff` refused; a later version may carry
    /// more fields after the flags, which are ignored.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let mut parts = header.split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let lower_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !lower_hex(version, 2) || version == "ff" || !lower_hex(trace, 32) || !lower_hex(flags, 2) {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
        let span_id = lower_hex(span, 16).then(|| SpanId::from_hex(span)).flatten()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id: TraceId(trace_id),
            span_id,
            sampled: flags & 1 == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_header_maps_to_otlp_ids() {
        let h =
            TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .unwrap();
        assert_eq!(h.trace_id.to_string(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(h.trace_id.xray(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(h.parent.unwrap().to_string(), "53995c3f42cd8ad8");
        assert_eq!(h.sampled, Some(true));
        assert_eq!(
            traceparent(h.trace_id, h.parent.unwrap(), true),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
    }

    #[test]
    fn sampled_zero_and_missing_fields() {
        let h = TraceHeader::parse("Sampled=0;Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a:1").unwrap();
        assert_eq!((h.parent, h.sampled), (None, Some(false)));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "Root=1-xyz",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz",
            "Root=1-00000000-000000000000000000000000",
        ] {
            assert!(TraceHeader::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn traceparent_is_parsed_by_the_w3c_rules() {
        let parsed = Traceparent::parse("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01").unwrap();
        assert_eq!(parsed.trace_id.xray(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(parsed.span_id.to_string(), "53995c3f42cd8ad8");
        assert!(parsed.sampled);
        let future =
            Traceparent::parse("01-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00-extra").unwrap();
        assert!(!future.sampled);
        for bad in [
            "",
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8",
            "00-5759E988BD862E3FE1BE46A994272793-53995c3f42cd8ad8-01",
            "00-00000000000000000000000000000000-53995c3f42cd8ad8-01",
            "00-5759e988bd862e3fe1be46a994272793-0000000000000000-01",
            "ff-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01-extra",
            "00-5759e988bd862e3fe1be46a99427279-53995c3f42cd8ad8-01",
        ] {
            assert_eq!(Traceparent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn generated_ids_start_with_epoch_seconds() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32;
        let id = TraceId::generate();
        let secs = u32::from_str_radix(&id.xray()[2..10], 16).unwrap();
        assert!(secs.abs_diff(now) <= 1);
        assert_eq!(TraceId::from_xray(&id.xray()), Some(id));
    }
}
