//! The X-Ray daemon's UDP socket: one segment document per datagram.

use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::Arrival;

/// Largest datagram read (a UDP payload is at most 65,507 bytes).
const MAX_DATAGRAM: usize = 65_536;
/// How much of a bad datagram a report quotes.
const QUOTE_CHARS: usize = 60;

/// Receives datagrams on `socket` until `arrivals` closes.
pub async fn serve(socket: UdpSocket, arrivals: mpsc::Sender<Arrival>) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let arrival = match socket.recv_from(&mut buffer).await {
            Ok((len, from)) => match parse_datagram(&buffer[..len]) {
                Ok(document) => Arrival::XrayDocument(document),
                Err(reason) => Arrival::XrayMalformed { from, reason },
            },
            // E.g. ICMP port unreachable reported on a later receive: nothing to read.
            Err(_) => continue,
        };
        if arrivals.send(arrival).await.is_err() {
            return;
        }
    }
}

/// Checks a datagram's framing: the header line `{"format": "json", "version": 1}`,
/// a newline, then one JSON object (the segment document).
pub fn parse_datagram(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"))?;
    let Some((header, body)) = text.split_once('\n') else {
        return Err(format!("no header line: {}", quote(text)));
    };
    let header_ok = serde_json::from_str::<Value>(header).is_ok_and(|h| {
        h.get("format").and_then(Value::as_str) == Some("json")
            && h.get("version").and_then(Value::as_i64) == Some(1)
    });
    if !header_ok {
        return Err(format!(
            "header is not {{\"format\": \"json\", \"version\": 1}}: {}",
            quote(header)
        ));
    }
    match serde_json::from_str::<Value>(body) {
        Ok(document) if document.is_object() => Ok(document),
        Ok(_) => Err(format!("document is not a JSON object: {}", quote(body))),
        Err(e) => Err(format!("document is not JSON ({e}): {}", quote(body))),
    }
}

/// The start of `text`, quoted and escaped, for a report.
fn quote(text: &str) -> String {
    let start: String = text.chars().take(QUOTE_CHARS).collect();
    if start.len() < text.len() {
        format!("{start:?}…")
    } else {
        format!("{start:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_checked() {
        let good = parse_datagram(b"{\"format\": \"json\", \"version\": 1}\n{\"id\": \"a\"}").unwrap();
        assert_eq!(good["id"], "a");
        for (bad, reason) in [
            (&b"{\"id\": \"a\"}"[..], "no header line"),
            (b"{\"format\": \"xml\", \"version\": 1}\n{}", "header is not"),
            (
                b"{\"format\": \"json\", \"version\": 1}\n[1]",
                "document is not a JSON object",
            ),
            (
                b"{\"format\": \"json\", \"version\": 1}\n{oops",
                "document is not JSON",
            ),
            (b"\xff\xfe", "not UTF-8"),
        ] {
            let error = parse_datagram(bad).unwrap_err();
            assert!(error.starts_with(reason), "{error}");
        }
    }
}
