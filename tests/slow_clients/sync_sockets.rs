//! A till's sync socket: pings faster than it reads, reading nothing, silent, one too many,
//! and one large message sent slowly.

use super::*;

#[test]
fn a_till_that_pings_reading_few_pongs_cannot_make_headquarters_hold_them_without_bound() {
    let hq = Hq::demo();
    // A send limit the flood cannot reach on a slow machine: this is about memory.
    let server = Server::start(hq.data(), &["--send-timeout", "600s"]);
    let till = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let url = format!("ws://{}/sync?token=T01.{}", server.address(), till.secret());
    let before = resident(server.pid());
    let mut socket = small_socket(server.address(), &url);
    // 4 000 000 pings, 508 MB of pongs to answer, 1 % of them read (headquarters reads on,
    // so every ping is sent).
    let sent = ping_flood_taking_some(&mut socket, 4_000_000);
    assert_eq!(sent, 4_000_000, "{}", stalled(&server, &socket));
    let grown = resident(server.pid()).saturating_sub(before);
    assert!(
        grown < 160 << 20,
        "headquarters grew by {} MiB",
        grown >> 20
    );
    // The socket goes on: pongs come once it is read.
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let pong = loop {
        match socket.read() {
            Ok(tokio_tungstenite::tungstenite::Message::Pong(payload)) => break payload,
            Ok(_) => continue,
            Err(e) => panic!("no pong: {e}"),
        }
    };
    assert_eq!(pong.len(), 125);
    server.stop();
}

#[test]
fn a_till_that_reads_nothing_on_its_sync_socket_is_cut_off_and_logged_once() {
    let limit = ["--send-timeout", "5s", "--metrics-listen", "127.0.0.1:0"];
    let (hq, server, log) = logged_server(&limit);
    let (_till, mut socket) = till_with_socket(&hq, &server, "T01");
    // More pongs to answer than the connection's buffers and the socket's bound hold,
    // none read: once a write has waited 5 s, the socket is closed, and that is logged.
    ping_flood(&mut socket, 1_000_000);
    let needle = "T01: sync connection closed: it took none of what was sent for 5 s";
    let text = common::text_with_line(&log, needle, Duration::from_secs(60));
    // Closed: what it was sent before comes, then the end, with no pause of 3 s.
    let stream = socket.get_mut();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut rest = Vec::new();
    let end = stream.read_to_end(&mut rest);
    let reset = |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionReset;
    assert!(
        end.is_ok() || end.as_ref().is_err_and(reset),
        "still open: {end:?}"
    );
    assert_eq!(cut_off(&server, "send_timeout"), Some(1.0));
    assert_eq!(cut_off(&server, "idle"), Some(0.0));
    server.stop();
    let text_after = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text_after.matches(needle).count(), 1, "{text_after}");
    assert!(text.contains(needle));
    assert!(
        !text_after.contains("sync connection dropped"),
        "{text_after}"
    );
}

#[test]
fn a_sync_socket_over_which_nothing_is_heard_is_closed_and_one_that_answers_pings_is_kept() {
    let idle = ["--sync-idle", "3s", "--metrics-listen", "127.0.0.1:0"];
    let (hq, server, log) = logged_server(&idle);
    let live = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let live_url = format!("ws://{}/sync?token=T01.{}", server.address(), live.secret());
    // T02 opens its socket and is then never heard from again, as a till whose network
    // dropped without a word: it neither reads nor sends.
    let (_gone, mut silent) = till_with_socket(&hq, &server, "T02");
    // T01 reads what comes for 7 s (its WebSocket answers pings on its own), then pings.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (pinged, answered) = runtime.block_on(async {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let (mut socket, _) = tokio_tungstenite::connect_async(live_url.as_str())
            .await
            .unwrap();
        let mut pinged = 0;
        let until = tokio::time::Instant::now() + Duration::from_secs(7);
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, socket.next()).await {
            pinged += usize::from(matches!(message, Message::Ping(_)));
        }
        (pinged, answers(&mut socket).await)
    });
    assert!(pinged >= 3, "headquarters pinged T01 {pinged} times in 7 s");
    assert!(answered, "T01 kept");
    // T02's socket was closed: what it was sent (pings), then the end.
    let stream = silent.get_mut();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let since = std::time::Instant::now();
    let mut chunk = [0; 4096];
    let end = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Ok(()),
            Ok(_) if since.elapsed() < Duration::from_secs(10) => continue,
            Ok(_) => break Err("still sent to after 10 s".to_string()),
            Err(e) => break Err(e.to_string()),
        }
    };
    assert_eq!(end, Ok(()), "T02's socket still open");
    assert_eq!(cut_off(&server, "idle"), Some(1.0), "T02's, and not T01's");
    assert_eq!(cut_off(&server, "replaced"), Some(0.0));
    server.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    let closed = "sync connection closed: nothing heard for 3 s";
    assert_eq!(text.matches(&format!("T02: {closed}")).count(), 1, "{text}");
    assert!(!text.contains(&format!("T01: {closed}")), "{text}");
}

#[test]
fn a_till_opening_more_sync_sockets_than_its_share_has_its_oldest_let_go() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    /// Whether headquarters closes `socket` within `secs` (its pings answered meanwhile).
    async fn closed_within(socket: &mut Socket, secs: u64) -> bool {
        let until = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(until, socket.next()).await {
                Err(_) => return false,
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
    // Idle for as long as the test may take: only the share closes sockets here.
    let share = [
        "--max-sync-sockets",
        "2",
        "--sync-idle",
        "1h",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let (hq, server, log) = logged_server(&share);
    let t01 = Till::enrolled(&server.url, &hq.add_device("T01", "S01"));
    let t02 = Till::enrolled(&server.url, &hq.add_device("T02", "S01"));
    let url = |name: &str, till: &Till| {
        format!(
            "ws://{}/sync?token={name}.{}",
            server.address(),
            till.secret()
        )
    };
    let (t01_url, t02_url) = (url("T01", &t01), url("T02", &t02));
    let metrics = server.metrics.clone().unwrap();
    // Each socket is opened once the one before has its place (taken after the upgrade).
    let open_now = || {
        let metrics = metrics.clone();
        async move {
            let text = scraped(&metrics).await;
            fairpos_hq::metrics::sample(&text, "fairpos_hq_sync_connections_open").unwrap()
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let opened = std::cell::Cell::new(0.0);
        let open = |url: String| {
            opened.set(opened.get() + 1.0);
            let want = opened.get();
            async move {
                let socket = tokio_tungstenite::connect_async(url.as_str())
                    .await
                    .unwrap()
                    .0;
                let until = tokio::time::Instant::now() + Duration::from_secs(10);
                while open_now().await < want && tokio::time::Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                socket
            }
        };
        let mut first = open(t01_url.clone()).await;
        let mut second = open(t01_url.clone()).await;
        let mut other = open(t02_url.clone()).await;
        assert!(!closed_within(&mut first, 1).await, "two are T01's share");
        // A third of T01's: its oldest is let go, the rest answer on.
        opened.set(opened.get() - 1.0);
        let mut third = open(t01_url.clone()).await;
        assert!(closed_within(&mut first, 10).await, "T01's oldest let go");
        assert!(answers(&mut second).await);
        assert!(answers(&mut third).await);
        assert!(answers(&mut other).await, "T02 untouched");
        // One closed by T01 itself frees its place: a new one lets no other go.
        second.close(None).await.unwrap();
        assert!(closed_within(&mut second, 10).await);
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while open_now().await > 2.0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        opened.set(opened.get() - 1.0);
        let mut fourth = open(t01_url.clone()).await;
        assert!(answers(&mut third).await);
        assert!(answers(&mut fourth).await);
        // The till syncs: its own socket takes the oldest's place.
        let (sold, synced) = tokio::task::spawn_blocking(move || {
            common::sell_some(&t01, "V003", 2);
            (2, t01.sync(&[]))
        })
        .await
        .unwrap();
        assert!(synced.status.success(), "{synced:?}");
        assert!(closed_within(&mut third, 10).await, "its oldest let go");
        assert!(answers(&mut fourth).await);
        assert_eq!(hq.sales().len(), sold);
    });
    assert_eq!(cut_off(&server, "replaced"), Some(2.0));
    assert_eq!(cut_off(&server, "idle"), Some(0.0));
    server.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    let line = "T01: sync connection closed: a newer one came, and 2 is the most one peer may \
                hold open (--max-sync-sockets)";
    // Once a minute at most: the second is held back, told when the server stops or later.
    assert_eq!(text.matches(line).count(), 1, "{text}");
    assert!(!text.contains("T02: sync connection closed"), "{text}");
}

#[test]
fn a_till_sending_one_large_message_slowly_is_heard_all_along() {
    let idle = ["--sync-idle", "2s", "--metrics-listen", "127.0.0.1:0"];
    let (hq, server, log) = logged_server(&idle);
    let (_till, mut socket) = till_with_socket(&hq, &server, "T01");
    // One binary frame of 48 KiB (masked with a zero key), 1 KiB every 125 ms: 6 s, three
    // times the limit, with nothing read, so no ping answered, until its last byte.
    let stream = socket.get_mut();
    let kib: u64 = 48;
    let mut head = vec![0x82, 0x80 | 127];
    head.extend((kib << 10).to_be_bytes());
    head.extend([0; 4]);
    stream.write_all(&head).unwrap();
    for _ in 0..kib {
        stream.write_all(&[0xA0; 1024]).unwrap();
        std::thread::sleep(Duration::from_millis(125));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("nothing heard"), "{text}");
    assert_eq!(cut_off(&server, "idle"), Some(0.0));
    server.stop();
}
