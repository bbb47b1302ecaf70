use super::*;

const BALANCER: &str = "10.0.0.2:40000";

fn trusted() -> Trusted {
    Trusted::parse("--proxy-protocol", "10.0.0.2, 10.0.1.0/24,fd00::/8").unwrap()
}

/// The client's address read from `bytes` on a connection from the balancer, and what is
/// left for the server to read after the header.
async fn client(bytes: &[u8]) -> (Result<SocketAddr, String>, Vec<u8>) {
    let mut stream = bytes;
    let found = client_of(&mut stream, BALANCER.parse().unwrap(), &trusted()).await;
    (found, stream.to_vec())
}

fn v2_header(command: u8, addresses: impl Into<v2::Addresses>) -> Vec<u8> {
    // Version 2 (0x20) with the command; the addresses' family over TCP, if any.
    let addresses = addresses.into();
    let protocol = match addresses {
        v2::Addresses::Unspecified => v2::Protocol::Unspecified,
        _ => v2::Protocol::Stream,
    };
    v2::Builder::with_addresses(0x20 | command, protocol, addresses)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_version_1_header_gives_the_client_and_leaves_the_request() {
    let (found, rest) =
        client(b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 7700\r\nGET / HTTP/1.1\r\n").await;
    assert_eq!(found.unwrap(), "203.0.113.7:51234".parse().unwrap());
    assert_eq!(rest, b"GET / HTTP/1.1\r\n");

    let (found, rest) =
        client(b"PROXY TCP6 2001:db8::7 2001:db8::5 51234 7700\r\n\x16\x03\x01").await;
    assert_eq!(found.unwrap(), "[2001:db8::7]:51234".parse().unwrap());
    assert_eq!(
        rest, b"\x16\x03\x01",
        "a TLS handshake after it is left whole"
    );
}

#[tokio::test]
async fn unknown_and_local_headers_give_the_balancer() {
    // The shortest header there is, then the request at once.
    let (found, rest) = client(b"PROXY UNKNOWN\r\nGET /").await;
    assert_eq!(found.unwrap(), BALANCER.parse().unwrap());
    assert_eq!(rest, b"GET /");

    let mut local = v2_header(0x00, v2::Addresses::Unspecified);
    local.extend_from_slice(b"GET /api/v1/ready");
    let (found, rest) = client(&local).await;
    assert_eq!(found.unwrap(), BALANCER.parse().unwrap());
    assert_eq!(rest, b"GET /api/v1/ready");
}

#[tokio::test]
async fn a_version_2_header_gives_the_client_and_leaves_the_request() {
    let four: SocketAddr = "198.51.100.9:6000".parse().unwrap();
    let server: SocketAddr = "10.0.0.5:7700".parse().unwrap();
    let mut bytes = v2_header(0x01, (four, server));
    bytes.extend_from_slice(b"POST /api/v1/login");
    let (found, rest) = client(&bytes).await;
    assert_eq!(found.unwrap(), four);
    assert_eq!(rest, b"POST /api/v1/login");

    let six: SocketAddr = "[2001:db8::9]:6000".parse().unwrap();
    let server6: SocketAddr = "[2001:db8::5]:7700".parse().unwrap();
    // With a type-length-value after the addresses (AWS's load balancers send some).
    let mut bytes = v2::Builder::with_addresses(0x21, v2::Protocol::Stream, (six, server6))
        .write_tlv(v2::Type::NoOp, b"padding")
        .unwrap()
        .build()
        .unwrap();
    bytes.extend_from_slice(b"\x16\x03\x01");
    let (found, rest) = client(&bytes).await;
    assert_eq!(found.unwrap(), six);
    assert_eq!(rest, b"\x16\x03\x01");
}

#[tokio::test]
async fn an_ipv4_client_of_a_balancer_on_ipv6_is_named_as_ipv4() {
    let mapped: SocketAddr = "[::ffff:203.0.113.7]:51234".parse().unwrap();
    let server: SocketAddr = "[::ffff:10.0.0.5]:7700".parse().unwrap();
    let (found, _) = client(&v2_header(0x01, (mapped, server))).await;
    assert_eq!(found.unwrap(), "203.0.113.7:51234".parse().unwrap());
    let (found, _) = client(b"PROXY TCP6 ::ffff:203.0.113.7 ::ffff:10.0.0.5 51234 7700\r\n").await;
    assert_eq!(found.unwrap(), "203.0.113.7:51234".parse().unwrap());
}

#[tokio::test]
async fn connections_without_a_whole_header_are_refused() {
    let endless = [
        &b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 7700 "[..],
        &[b'1'; 100],
    ]
    .concat();
    for (bytes, why) in [
        (
            &b"GET /api/v1/health HTTP/1.1\r\n\r\n"[..],
            "does not begin with a PROXY",
        ),
        (
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh"[..],
            "does not begin with a PROXY",
        ),
        (
            &b"PROXY TCP4 203.0.113.7"[..],
            "ended before its PROXY header did",
        ),
        (
            &b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 notaport\r\n"[..],
            "does not parse",
        ),
        (&endless[..], "no line end in 107 bytes"),
        (
            &b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00"[..],
            "ended before its PROXY header did",
        ),
        (
            &b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x00"[..],
            "(version 2) does not parse",
        ),
        (&b"PROX"[..], "ended before"),
    ] {
        let (found, _) = client(bytes).await;
        let error = found.unwrap_err();
        assert!(error.contains(why), "{bytes:?}: {error}");
        assert!(
            error.starts_with("connection from 10.0.0.2:40000 closed: "),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_header_is_believed_only_from_a_balancer_named() {
    let mut stream = &b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 7700\r\n"[..];
    let error = client_of(&mut stream, "192.0.2.1:5000".parse().unwrap(), &trusted())
        .await
        .unwrap_err();
    assert!(
        error.contains("not a load balancer --proxy-protocol names"),
        "{error}"
    );
    assert_eq!(stream.len(), 44, "nothing is read from it");
}

#[test]
fn the_list_names_addresses_and_networks() {
    let trusted = trusted();
    for yes in ["10.0.0.2", "10.0.1.200", "::ffff:10.0.0.2", "fd00::1"] {
        assert!(trusted.admits(yes.parse().unwrap()), "{yes}");
    }
    for no in ["10.0.0.3", "10.0.2.1", "127.0.0.1", "fe80::1"] {
        assert!(!trusted.admits(no.parse().unwrap()), "{no}");
    }
    assert_eq!(trusted.to_string(), "10.0.0.2/32, 10.0.1.0/24, fd00::/8");
    // Networks of more than one address are said (every address in them is believed).
    assert_eq!(trusted.wide(), ["10.0.1.0/24", "fd00::/8"]);
    // A balancer named by its IPv4-mapped address is its IPv4 address.
    let mapped = Trusted::parse("--proxy-protocol", "::ffff:10.0.0.9").unwrap();
    assert!(mapped.admits("10.0.0.9".parse().unwrap()));
    for bad in ["", "10.0.0", "10.0.0.2,", "balancer.example", "10.0.0.0/33"] {
        let error = Trusted::parse("--proxy-protocol", bad)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is neither an address nor a network"),
            "{bad}: {error}"
        );
    }
}
