//! Clients that keep headquarters waiting, against the real `fairpos hq serve` on a
//! loopback port with short limits: a request head sent slowly or never finished, a
//! connection kept idle between requests (`--request-head-timeout`), a body sent slowly
//! (`--request-timeout`), answers asked for and never read (`--send-timeout`, a "slow
//! read"), and a till's sync socket that reads none of the pongs to its pings; each is
//! disconnected, while a till's sync socket idle between messages, and a client that reads
//! its answers slowly but steadily, are served. A till that pings faster than it reads
//! cannot make headquarters keep the pongs without bound. A sync socket over which nothing
//! is heard (`--sync-idle`) is closed; one whose client answers headquarters' pings is kept.
//! A till opening more sync sockets than its share (`--max-sync-sockets`) has its oldest
//! let go.

#[path = "../common/mod.rs"]
mod common;
mod sync_sockets;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::api::Api;
use common::hq::{Hq, Server};
use common::Till;

/// A sync socket opened by `tokio_tungstenite::connect_async`.
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Whether `socket` still answers a ping (reading on to its pong, 10 s at most).
async fn answers(socket: &mut Socket) -> bool {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ping = Message::Ping(b"still there".to_vec().into());
    if socket.send(ping).await.is_err() {
        return false;
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(until, socket.next()).await {
            Ok(Some(Ok(Message::Pong(p)))) if &p[..] == b"still there" => return true,
            Ok(Some(Ok(_))) => continue,
            _ => return false,
        }
    }
}

/// What a plain TCP client at `at` that sends `bytes` then waits gets: `Some(answer)` once
/// headquarters closes the connection (what it sent before, if anything), `None` when it is
/// still open after 15 s.
fn closed_after(at: SocketAddr, bytes: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(at).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            // A reset is headquarters closing too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&answer).into_owned())
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn a_client_slow_to_send_a_request_or_idle_between_requests_is_disconnected() {
    let hq = Hq::demo();
    let limits = ["--request-head-timeout", "2s", "--request-timeout", "4s"];
    let server = Server::start(hq.data(), &limits);
    // Half a request line, then nothing (a slowloris): closed, with nothing served.
    let answer = closed_after(server.address(), b"GET /api/v1/health HTTP/1.1\r\nHost: h");
    let answer = answer.expect("a request head that never ends is cut off");
    assert!(!answer.contains("200 OK"), "{answer}");
    // Two whole requests on one connection are answered (it is kept alive between them);
    // idle after the second, it is closed.
    let health = b"GET /api/v1/health HTTP/1.1\r\nHost: hq\r\n\r\n";
    let answer = closed_after(server.address(), &[&health[..], &health[..]].concat());
    let answer = answer.expect("an idle kept-alive connection is closed");
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    // A whole head, then a tenth of the body it announces: 408.
    let slow_body = b"POST /api/v1/login HTTP/1.1\r\nHost: hq\r\n\
        Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"password";
    let answer = closed_after(server.address(), slow_body).expect("a slow body is cut off");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A till syncs through, its WebSocket upgraded; a sync socket, idle past the limit,
    // stays open: a ping after 3 s is answered.
    let code = hq.add_device("T01", "S01");
    let till = Till::enrolled(&server.url, &code);
    common::sell_some(&till, "V003", 2);
    till.synced();
    assert_eq!(hq.sales().len(), 2);
    let url = format!(
        "{}/sync?token=T01.{}",
        server.url.replace("http://", "ws://"),
        till.secret()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answered = runtime.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        answers(&mut socket).await
    });
    assert!(answered, "the idle sync socket answers a ping");
    server.stop();
}

/// A connection to `at` whose receive buffer is set to `receive_buffer` bytes (so it does
/// not grow as it is read), and the size the system gave it (doubled, within
/// `net.core.rmem_max`).
fn connect_with_buffer(at: SocketAddr, receive_buffer: usize) -> (TcpStream, usize) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None);
    let socket = socket.unwrap();
    socket.set_recv_buffer_size(receive_buffer).unwrap();
    socket.connect(&at.into()).unwrap();
    let given = socket.recv_buffer_size().unwrap();
    (TcpStream::from(socket), given)
}

/// The login page asked for `n` times at once on `stream`, by a thread of its own; the
/// answers wait for the test to read them.
fn ask_for_pages(stream: &TcpStream, n: usize) {
    let mut writer = stream.try_clone().unwrap();
    let requests = b"GET /login HTTP/1.1\r\nHost: hq\r\n\r\n".repeat(n);
    // Fails once headquarters closes the connection: what was sent by then is enough.
    std::thread::spawn(move || writer.write_all(&requests));
}

/// How many login pages it takes to fill more than twice what a connection's buffers can
/// hold with a receive buffer of `receive_buffer` bytes (so that headquarters' writes must
/// wait for the reader): the most this system gives a socket to send (`tcp_wmem`'s last
/// figure), and the receive buffer.
fn pages_filling(at: SocketAddr, receive_buffer: usize) -> usize {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap();
    let send_max: usize = text.split_whitespace().last().unwrap().parse().unwrap();
    let mut stream = TcpStream::connect(at).unwrap();
    stream
        .write_all(b"GET /login HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = Vec::new();
    stream.read_to_end(&mut page).unwrap();
    assert!(page.starts_with(b"HTTP/1.1 200 OK"));
    2 * (send_max + receive_buffer) / page.len() + 1
}

/// How many answers `stream` is sent, reading `chunk` bytes at a time and waiting `pause`
/// after each read, and whether headquarters then closed the connection (rather than
/// leaving it open with nothing more to read for 5 s).
fn read_answers(mut stream: TcpStream, chunk: usize, pause: Duration) -> (usize, bool) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answers = Vec::new();
    let mut buffer = vec![0; chunk];
    let closed = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => answers.extend_from_slice(&buffer[..n]),
            // A reset is headquarters closing too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
        std::thread::sleep(pause);
    };
    let answers = String::from_utf8_lossy(&answers);
    (answers.matches("HTTP/1.1 200 OK").count(), closed)
}

#[test]
fn a_client_that_never_reads_its_answers_is_disconnected_and_a_slow_reader_is_served() {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let limit = ["--send-timeout", "5s"];
    let server = Server::start_logging(hq.data(), &limit, &[], File::create(&log).unwrap());
    // Login pages asked for and not read, on a connection with a small receive buffer:
    // once a write has waited 5 s, the connection is closed and logged.
    let (stream, buffer) = connect_with_buffer(server.address(), 16 << 10);
    let asked = pages_filling(server.address(), buffer);
    ask_for_pages(&stream, asked);
    let needle = "closed: it took none of its answer for 5 s";
    let text = common::text_with_line(&log, needle, Duration::from_secs(60));
    assert!(text.contains("connection from 127.0.0.1:"), "{text}");
    assert!(text.contains(needle), "{text}");
    assert_eq!(text.matches(needle).count(), 1, "{text}");
    let (read, closed) = read_answers(stream, 1 << 20, Duration::ZERO);
    assert!(
        closed && read < asked,
        "{read} of {asked} answers, closed: {closed}"
    );

    // Pages read a whole receive buffer (2 MiB here) at a time, 2 s between reads: the
    // writes wait, but never 5 s, and every answer comes.
    let (stream, buffer) = connect_with_buffer(server.address(), 1 << 20);
    let asked = pages_filling(server.address(), buffer);
    ask_for_pages(&stream, asked);
    let (read, closed) = read_answers(stream, buffer, Duration::from_secs(2));
    let kept_alive = "every answer, the connection kept alive after the last";
    assert_eq!((read, closed), (asked, false), "{kept_alive}");
    server.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches(needle).count(), 1, "{text}");
}

/// How many sync connections `server` (started with `--metrics-listen`) closed for `why`,
/// as its `/metrics` says.
fn cut_off(server: &Server, why: &str) -> Option<f64> {
    let at = server
        .metrics
        .as_deref()
        .expect("served with --metrics-listen");
    let text = Api::new(at.strip_suffix("/metrics").unwrap())
        .get_accepting("/metrics", "text/plain")
        .2;
    let series = format!("fairpos_hq_sync_connections_cut_off_total{{why=\"{why}\"}}");
    fairpos_hq::metrics::sample(&text, &series)
}

/// What `/metrics` at `url` says (an HTTP/1.1 GET over a plain TCP connection, for use
/// inside a test's own runtime).
async fn scraped(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let at = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let mut stream = tokio::net::TcpStream::connect(at).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

/// The memory process `pid` holds (its resident set), in bytes.
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// What is known when a flood's send on `socket` stopped: the connection's two ends as the
/// kernel holds them (`ss`: queues, windows, drops) and what each thread of the server was
/// doing, for a failure's message.
fn stalled(
    server: &Server,
    socket: &tokio_tungstenite::tungstenite::WebSocket<TcpStream>,
) -> String {
    let local = socket.get_ref().local_addr().unwrap();
    let filter = format!("( sport = :{0} or dport = :{0} )", local.port());
    // Every state: an end closing or closed shows too.
    let ss = std::process::Command::new("ss")
        .args(["-tanmi", &filter])
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines()
                .map(|l| format!("{}\n", l.trim_end()))
                .collect()
        })
        .unwrap_or_else(|e| format!("ss: {e}"));
    let tasks = format!("/proc/{}/task", server.pid());
    let threads: Vec<String> = std::fs::read_dir(&tasks)
        .into_iter()
        .flatten()
        .flatten()
        .map(|task| {
            let read = |name: &str| std::fs::read_to_string(task.path().join(name));
            let stat = read("stat").unwrap_or_default();
            // After the name's closing parenthesis: the state, …, utime and stime.
            let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split(' ').collect();
            let pick = |i: usize| fields.get(i).copied().unwrap_or("?");
            format!(
                "{} {} cpu {}+{} wchan {}",
                read("comm").unwrap_or_default().trim(),
                pick(0),
                pick(11),
                pick(12),
                read("wchan").unwrap_or_default()
            )
        })
        .collect();
    format!(
        "the flood stalled; the connection:\n{ss}threads:\n{}",
        threads.join("\n")
    )
}

/// A WebSocket on `url` (a sync socket) over a connection whose receive buffer is 16 KiB.
fn small_socket(at: SocketAddr, url: &str) -> tokio_tungstenite::tungstenite::WebSocket<TcpStream> {
    let (stream, _) = connect_with_buffer(at, 16 << 10);
    // A send waits for headquarters to read on; were a flood's send to wait for good (see
    // `ping_flood_taking_some`), the bound is under `--sync-idle` (90 s), so that the
    // failure's message shows both ends of the connection while headquarters' is still
    // open (`stalled`).
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    tokio_tungstenite::tungstenite::client(url, stream)
        .unwrap()
        .0
}

/// Headquarters on the demo fair served with `extra`, its log (stderr) going to a file in
/// its data directory.
fn logged_server(extra: &[&str]) -> (Hq, Server, std::path::PathBuf) {
    let hq = Hq::demo();
    let log = hq.data().join("serve.log");
    let server = Server::start_logging(hq.data(), extra, &[], File::create(&log).unwrap());
    (hq, server, log)
}

/// Till `name` enrolled with `server`, and a sync socket opened with its token over a
/// small receive buffer ([`small_socket`]).
fn till_with_socket(
    hq: &Hq,
    server: &Server,
    name: &str,
) -> (Till, tokio_tungstenite::tungstenite::WebSocket<TcpStream>) {
    let till = Till::enrolled(&server.url, &hq.add_device(name, "S01"));
    let url = format!(
        "ws://{}/sync?token={name}.{}",
        server.address(),
        till.secret()
    );
    let socket = small_socket(server.address(), &url);
    (till, socket)
}

/// Sends up to `n` pings (125 bytes each) on `socket`, reading nothing; how many it sent
/// before a send failed.
fn ping_flood(
    socket: &mut tokio_tungstenite::tungstenite::WebSocket<TcpStream>,
    n: usize,
) -> usize {
    let ping = tokio_tungstenite::tungstenite::Message::Ping(vec![0x55; 125].into());
    (0..n)
        .take_while(|_| socket.send(ping.clone()).is_ok())
        .count()
}

/// Sends up to `n` pings (125 bytes each) on `socket`, and after every 1 000 of them takes up
/// to 10 messages that have come by then, without waiting for more: how many pings it sent
/// before a send failed.
///
/// A client that reads nothing at all can stall its own connection for good. Twice in
/// about seventy full runs of the suite, on two loaded cores, headquarters sent its pongs in
/// many small segments, which cost the client's kernel far more memory than their bytes,
/// and overran the receive buffer of a client that would never free it (`ss`: 34 816 bytes
/// held against 32 768, 22 packets dropped). Linux then drops what comes to that socket,
/// and with it headquarters' acknowledgments: the client never learnt that its pings had
/// been taken, and sent the same segment again eleven times, backing off to two minutes,
/// while headquarters, which had read everything that reached it, heard nothing for
/// `--sync-idle` and closed the socket. Taking a few pongs now and then frees that memory
/// (tungstenite reads what the kernel holds), while headquarters still has almost all its
/// pongs to hold or leave out.
fn ping_flood_taking_some(
    socket: &mut tokio_tungstenite::tungstenite::WebSocket<TcpStream>,
    n: usize,
) -> usize {
    let ping = tokio_tungstenite::tungstenite::Message::Ping(vec![0x55; 125].into());
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let mut sent = 0;
    while sent < n && socket.send(ping.clone()).is_ok() {
        sent += 1;
        if sent % 1_000 == 0 {
            // Stops at the first that has not come within a millisecond.
            for _ in 0..10 {
                if socket.read().is_err() {
                    break;
                }
            }
        }
    }
    sent
}
