//! A headquarters (or whatever stands between it and the till) that floods the till's sync
//! socket with pings and reads none of the pongs: the till holds its sync socket's write
//! buffer of them (65 MiB, `WRITE_BUFFER` in `sync/src/net.rs`), not one pong for each
//! ping, and its pass finishes once the socket is read again: its messages sent while the
//! buffer is full (headquarters answers its first one before the pongs are read) wait for
//! the buffer to be read instead of failing.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};

use super::*;

/// Pings the flood sends: 254 MB of them, nearly four times what the till may hold of
/// pongs.
const PINGS: usize = 2_000_000;

#[test]
fn a_till_flooded_with_pings_whose_pongs_go_unread_grows_by_its_write_buffer_not_a_pong_each() {
    let hq = Hq::demo();
    // Headquarters hears nothing from the till while the flood lasts: it waits for it.
    let server = Server::start(hq.data(), &["--sync-idle", "600s"]);
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    sell_some(&till, "V003", 3);
    let pid = Arc::new(AtomicU32::new(0));
    let (flooded_tx, flooded) = mpsc::channel();
    let relay = flooding_relay(server.address(), Arc::clone(&pid), flooded_tx);

    let hq_url = format!("http://{relay}");
    let mut sync = till
        .command()
        .args(["sync", "--timeout", "300", "--hq", &hq_url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pid.store(sync.id(), Ordering::SeqCst);
    // The till's peak memory, as last read while it ran (the peak only grows).
    let mut peak = 0;
    let status = loop {
        if let Some(status) = sync.try_wait().unwrap() {
            break status;
        }
        peak = peak_kib(sync.id()).unwrap_or(peak);
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    sync.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let (sent, before) = flooded
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("no flood, no sync socket through the relay: {stderr}"));
    assert_eq!(sent, PINGS, "the till stopped reading pings: {stderr}");
    assert!(status.success(), "the pass failed: {stderr}");
    assert_eq!(hq.sales().len(), 3);

    // Its write buffer (65 MiB) and what else the flood costs it, where keeping every pong
    // grew it by 246 MiB.
    assert!(
        before > 0 && peak >= before,
        "{before} KiB, then {peak} KiB"
    );
    let grown = (peak - before) << 10;
    assert!(grown < 160 << 20, "the till grew by {} MiB", grown >> 20);
    server.stop();
}

/// The peak of a process's memory (`VmHWM`), in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A TCP relay in front of headquarters. Once headquarters has accepted the first sync
/// socket's upgrade, it sends the till [`PINGS`] pings, reading nothing from it, then
/// relays both ways as it does every other connection. It tells `flooded` how many pings
/// it sent and the till's peak memory (the process `till`) when the flood began.
fn flooding_relay(
    hq: SocketAddr,
    till: Arc<AtomicU32>,
    flooded: mpsc::Sender<(usize, u64)>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut flood = Some(flooded);
        for client in listener.incoming() {
            let (Ok(mut client), Ok(mut server)) = (client, TcpStream::connect(hq)) else {
                continue;
            };
            let Some(asked) = head(&mut client) else {
                continue;
            };
            if server.write_all(&asked).is_err() {
                continue;
            }
            let upgrade = asked.starts_with(b"GET /sync");
            let flooded = if upgrade { flood.take() } else { None };
            let till = Arc::clone(&till);
            std::thread::spawn(move || {
                if let Some(flooded) = flooded {
                    let Some(answer) = head(&mut server) else {
                        return;
                    };
                    if client.write_all(&answer).is_err() {
                        return;
                    }
                    if answer.starts_with(b"HTTP/1.1 101") {
                        let before = peak_kib(till.load(Ordering::SeqCst)).unwrap_or(0);
                        let _ = flooded.send((send_pings(&mut client), before));
                        return relay_first_message_first(client, server);
                    }
                }
                relay_both_ways(client, server);
            });
        }
    });
    at
}

/// A request's or answer's head, read byte by byte so that nothing after it is taken.
fn head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        head.push(byte[0]);
    }
    Some(head)
}

/// Sends [`PINGS`] pings of 125 bytes (a server's frames, unmasked); how many it sent before
/// a write failed, or waited 30 s (the till no longer reading).
fn send_pings(client: &mut TcpStream) -> usize {
    client
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    const AT_ONCE: usize = 10_000;
    let frame = [[0x89, 125].as_slice(), &[0x55; 125]].concat();
    let batch = frame.repeat(AT_ONCE);
    let mut sent = 0;
    while sent < PINGS && client.write_all(&batch).is_ok() {
        sent += AT_ONCE;
    }
    sent
}

/// After the flood: what the till sent up to its first message (samod's join) is relayed to
/// headquarters, and headquarters' answers to the till, while the till's pongs stay unread
/// for two more seconds. So the till goes on with its sync while its write buffer is full of
/// pongs: its messages must wait for the buffer to be read, not fail. Then both ways.
fn relay_first_message_first(mut client: TcpStream, mut server: TcpStream) {
    let back = relay_back(&server, &client);
    // Frame by frame (pongs may come first) up to the first binary one.
    while let Some((opcode, frame)) = frame_of(&mut client) {
        if server.write_all(&frame).is_err() {
            break;
        }
        if opcode == 0x2 {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let _ = std::io::copy(&mut client, &mut server);
    let _ = server.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// One WebSocket frame a client sent (RFC 6455, 5.2: masked), whole, with its opcode.
fn frame_of(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut frame = vec![0u8; 2];
    stream.read_exact(&mut frame).ok()?;
    let (opcode, masked, short) = (frame[0] & 0x0f, frame[1] & 0x80 != 0, frame[1] & 0x7f);
    let extended = match short {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mut length_bytes = vec![0u8; extended];
    stream.read_exact(&mut length_bytes).ok()?;
    let length = match extended {
        0 => u64::from(short),
        _ => length_bytes
            .iter()
            .fold(0u64, |n, b| n << 8 | u64::from(*b)),
    };
    frame.extend(length_bytes);
    let rest = usize::try_from(length).ok()? + if masked { 4 } else { 0 };
    let mut body = vec![0u8; rest];
    stream.read_exact(&mut body).ok()?;
    frame.extend(body);
    Some((opcode, frame))
}

/// Relays what `server` sends to `client`, on a thread of its own, until it closes.
fn relay_back(server: &TcpStream, client: &TcpStream) -> std::thread::JoinHandle<()> {
    let (mut from_server, mut to_client) =
        (server.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    })
}

/// Relays `client` and `server` both ways until each side has closed.
fn relay_both_ways(mut client: TcpStream, mut server: TcpStream) {
    let back = relay_back(&server, &client);
    let _ = std::io::copy(&mut client, &mut server);
    let _ = server.shutdown(Shutdown::Write);
    let _ = back.join();
}
