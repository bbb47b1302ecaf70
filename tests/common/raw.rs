//! HTTP/1.1 by hand on a TCP connection from a chosen loopback address, for the tests of
//! what a server does with each client address's connections.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::within_10_s;

/// A connection to `at` from the loopback address `from` (a client on another host, as the
/// server counts addresses), reads waiting 10 s at most.
pub fn connect_from(from: &str, at: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&at.into()).unwrap();
    let stream = TcpStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// An answer read off a connection: its status line, its head's lines (lower-cased) and
/// body.
pub struct Answer {
    pub status: String,
    pub head: Vec<String>,
    pub body: String,
}

/// Asks `path` on `stream`, keeping the connection alive, and reads the answer (its body
/// by its length).
pub fn ask(stream: &mut TcpStream, path: &str) -> Answer {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: hq\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        head.push(line.trim().to_ascii_lowercase());
    }
    let length: usize = head
        .iter()
        .find_map(|h| h.strip_prefix("content-length: "))
        .map_or(0, |n| n.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Answer {
        status: status.trim().to_string(),
        head,
        body: String::from_utf8(body).unwrap(),
    }
}

/// Whether the server closed `stream` (nothing more to read) within 10 s.
pub fn closed(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).is_ok_and(|_| rest.is_empty())
}

/// A connection from `from` to `at` that was served, kept alive: tried again for a moment
/// while a connection just closed may not have given its place back yet.
pub fn served_from(from: &str, at: SocketAddr) -> TcpStream {
    within_10_s(|| {
        let mut stream = connect_from(from, at);
        let served = ask(&mut stream, "/api/v1/health").status == "HTTP/1.1 200 OK";
        served.then_some(stream)
    })
    .expect("a connection served")
}

/// Posts to `path` at `address` (`host:port`) a head saying a body too big for any server
/// follows, and returns the first 12 bytes answered within 5 s (`HTTP/1.1 413`, at once).
pub fn post_too_big_a_body(address: &str, path: &str) -> [u8; 12] {
    let mut socket = TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 99999999999999\r\n\r\n{{}}"
    );
    socket.write_all(head.as_bytes()).unwrap();
    let mut answer = [0u8; 12];
    socket
        .read_exact(&mut answer)
        .expect("an answer within 5 s");
    answer
}
